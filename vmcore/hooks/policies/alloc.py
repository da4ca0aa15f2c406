"""Family ``alloc``: allocations the fault handler makes (page tables, migration pages).

Upstream has two fault paths.  ``svm_range_restore_pages`` (an SVM range,
drivers/gpu/drm/amd/amdkfd/kfd_svm.c) maps through ``svm_range_map_to_gpu`` with
``immediate = false``, so its page tables are created without ``no_wait_gpu``, and
``svm_range_vram_node_new`` zeroes ``bp``: both allocate as TTM always does, evicting
and waiting.  ``amdgpu_vm_handle_fault`` (any other address,
drivers/gpu/drm/amd/amdgpu/amdgpu_vm.c) writes one page with ``immediate = true``, and
``amdgpu_vm_pt_create`` sets ``bp.no_wait_gpu = immediate``
(drivers/gpu/drm/amd/amdgpu/amdgpu_vm_pt.c): TTM evicts only idle BOs for those page
tables (``ttm_bo_wait_ctx`` returns -EBUSY for busy ones, drivers/gpu/drm/ttm/ttm_bo.c).
In both, a page table is never a victim while its reservation is busy
(``amdgpu_vm_evictable``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore.hooks.decisions import AllocMode, AllocRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class Ttm(Policy):
    family = "alloc"
    name = "ttm"
    doc = (
        "As upstream: the SVM fault path allocates as TTM does (evicts evictable candidates in the evict "
        "family's order and waits for their fences; a busy PD/PT is not a candidate); the page tables of "
        "amdgpu_vm_handle_fault use no_wait_gpu."
    )

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.TTM if request.svm else AllocMode.NO_WAIT


class NoWait(Policy):
    family = "alloc"
    name = "no-wait"
    doc = "Evict only idle BOs; a page table that still does not fit fails the fault for a later retry; a migration that does not fit leaves the granule where it is and maps it there (the 2019 proposal)."

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.NO_WAIT


class EvictLru(Policy):
    family = "alloc"
    name = "evict-lru"
    doc = "Evict in the evict family's order, busy page tables included, and wait for the victims' fences, user fences included: the fault-path deadlock of the 2019 thread."

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.WAIT


class EmergencyPool(Policy):
    family = "alloc"
    name = "emergency-pool"
    params: ClassVar[dict[str, Any]] = {"size": 256 * 1024}
    doc = "Page tables come from a VRAM reserve of `size` bytes set aside per GPU (Felix's proposal); everything else as no-wait."

    @hookimpl
    def vmcore_pt_reserve(self, gpu: str, vram_size: int) -> int:
        return int(self.args["size"])

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.RESERVE if request.purpose == "pt" else AllocMode.NO_WAIT


class FailRetry(Policy):
    family = "alloc"
    name = "fail-retry"
    doc = "Never evict from the fault handler: an allocation that does not fit fails and the fault is retried later."

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.FAIL


POLICIES = [Ttm, NoWait, EvictLru, EmergencyPool, FailRetry]
