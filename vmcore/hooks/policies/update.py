"""Family ``update``: the path page-table updates take.

Upstream ``amdgpu_vm_sdma_commit`` pushes updates made with ``immediate = true`` to
``vm->immediate`` and everything else to ``vm->delayed``
(drivers/gpu/drm/amd/amdgpu/amdgpu_vm_sdma.c).  Only ``amdgpu_vm_handle_fault``'s
single-page writes (an address that is not an SVM range) are immediate; KFD's SVM fault
path maps through ``svm_range_map_to_gpu`` with ``immediate = false``
(drivers/gpu/drm/amd/amdkfd/kfd_svm.c), and MMU-notifier invalidations are unlocked
updates on the delayed entity.
"""

from __future__ import annotations

from vmcore.hooks.decisions import UpdatePath, UpdateRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class SplitEntities(Policy):
    family = "update"
    name = "split-entities"
    doc = (
        "amdgpu_vm_handle_fault's updates on the VM's immediate entity; the SVM fault path's mapping, "
        "MMU-notifier invalidations and all else on its delayed entity (upstream)."
    )

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.IMMEDIATE if request.fault_path and not request.svm else UpdatePath.DELAYED


class ImmediateEntity(Policy):
    family = "update"
    name = "immediate-entity"
    doc = "Every update on the immediate entity."

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.IMMEDIATE


class DelayedEntity(Policy):
    family = "update"
    name = "delayed-entity"
    doc = (
        "Every update on the delayed entity: the fault path queues behind updates that wait for user fences."
    )

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.DELAYED


class Direct(Policy):
    family = "update"
    name = "direct"
    doc = "The fault handler writes its updates straight into the page queue, synchronised only with other direct submissions."

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.DIRECT if request.fault_path else UpdatePath.DELAYED


class Cpu(Policy):
    family = "update"
    name = "cpu"
    doc = "The CPU writes PTEs after waiting for the page tables' kernel fences; no ring."

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.CPU


POLICIES = [SplitEntities, ImmediateEntity, DelayedEntity, Direct, Cpu]
