"""Family ``prefetch``: what else a retry fault migrates with its granule.

Upstream KFD migrates the faulting granule alone (``svm_range_restore_pages`` takes one
``granularity``-aligned piece); the prefetchers here are the ones unified-memory studies
compare: GPGPU-Sim's UVMSmart ships a sequential-local and a tree-based (neighbourhood)
prefetcher, and gpu_ext (eBPF policies in the NVIDIA UVM driver) adds stride detection.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore.hooks.decisions import PrefetchRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy

BLOCK_MAX = 2 << 20
"""The largest block the neighbourhood prefetcher considers (UVMSmart's large page)."""


class PrefetchNone(Policy):
    family = "prefetch"
    name = "none"
    doc = "The faulting granule alone (upstream ``svm_range_restore_pages``)."

    @hookimpl
    def vmcore_prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        return []


class Sequential(Policy):
    family = "prefetch"
    name = "sequential"
    params: ClassVar[dict[str, Any]] = {"size": 64 * 1024}
    doc = "The next ``size`` bytes after the faulting granule, inside the range (UVMSmart's sequential-local)."

    @hookimpl
    def vmcore_prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        return [(request.granule_start + request.granule_size, int(self.args["size"]))]


class Neighbourhood(Policy):
    family = "prefetch"
    name = "neighbourhood"
    doc = (
        "UVMSmart's tree prefetcher: once more than half of an aligned power-of-two block of up "
        "to 2MiB around the fault is on the target, the rest of that block follows (the largest such block)."
    )

    @hookimpl
    def vmcore_prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        lo, hi = request.range_start, request.range_start + request.range_size
        best: list[tuple[int, int]] = []
        block = request.granule_size * 2
        while block <= BLOCK_MAX:
            start = max(lo, request.address // block * block)
            end = min(hi, request.address // block * block + block)
            if end - start <= request.granule_size:
                block *= 2
                continue
            if 2 * request.resident(start, end - start) > end - start:
                best = [(start, end - start)]
            block *= 2
        return best


class Stride(Policy):
    family = "prefetch"
    name = "stride"
    doc = "After three faults of a range at a constant stride, the next stride's granule too (gpu_ext's stride prefetcher)."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: dict[tuple[str, int], list[int]] = {}

    @hookimpl
    def vmcore_run_started(self, scenario: str) -> None:
        self.history = {}

    @hookimpl
    def vmcore_prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        seen = self.history.setdefault((request.process, request.range_start), [])
        seen.append(request.granule_start)
        del seen[:-3]
        if len(seen) == 3 and seen[2] - seen[1] == seen[1] - seen[0] != 0:
            nxt = seen[2] + (seen[2] - seen[1])
            return [(nxt, request.granule_size)]
        return []


POLICIES = [PrefetchNone, Sequential, Neighbourhood, Stride]
