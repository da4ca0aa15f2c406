"""Family ``alloc``: allocations the fault handler makes (page tables, migration pages).

Upstream: ``amdgpu_vm_pt_create`` sets ``bp.no_wait_gpu = immediate``
(drivers/gpu/drm/amd/amdgpu/amdgpu_vm_pt.c), so in the fault path TTM evicts only idle
BOs (``ttm_bo_wait_ctx`` returns -EBUSY for busy ones, drivers/gpu/drm/ttm/ttm_bo.c).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore.hooks.decisions import AllocMode, AllocRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class NoWait(Policy):
    family = "alloc"
    name = "no-wait"
    doc = "Evict only idle BOs; a page table that still does not fit fails the fault for a later retry; a migration that does not fit leaves the granule where it is and maps it there (upstream)."

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.NO_WAIT


class EvictLru(Policy):
    family = "alloc"
    name = "evict-lru"
    doc = "Evict in the evict family's order and wait for the victims' fences, user fences included: the fault-path deadlock of the 2019 thread."

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


POLICIES = [NoWait, EvictLru, EmergencyPool, FailRetry]
