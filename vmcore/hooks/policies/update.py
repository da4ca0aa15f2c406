"""Family ``update``: the path page-table updates take.

Upstream ``amdgpu_vm_sdma_commit`` pushes the fault path's updates to ``vm->immediate``
and everything else to ``vm->delayed`` (drivers/gpu/drm/amd/amdgpu/amdgpu_vm_sdma.c).
"""

from __future__ import annotations

from vmcore.hooks.decisions import UpdatePath, UpdateRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class SplitEntities(Policy):
    family = "update"
    name = "split-entities"
    doc = "Fault path on the VM's immediate entity, all else on its delayed entity (upstream)."

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath:
        return UpdatePath.IMMEDIATE if request.fault_path else UpdatePath.DELAYED


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
