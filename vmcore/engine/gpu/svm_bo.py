"""An SVM range's VRAM: one buffer object per range, evicted whole.

Models ``svm_range_vram_node_new`` / ``svm_range_vram_node_free`` / ``svm_range_bo_release``
(drivers/gpu/drm/amd/amdkfd/kfd_svm.c): the first migration of a range into a GPU's VRAM
allocates a BO the size of the whole range (``prange->npages``), later granules of the
range land in it (``svm_range_validate_svm_bo``), and the pieces of a range split later
keep sharing it.  TTM sees the BO, not the granules: its LRU holds the BO and an eviction
moves every range on it back to system memory (``svm_range_evict_svm_bo_worker``).

Invariants: a range's granules in VRAM are all in its ``svm_bo``, on that BO's GPU, and
their placements are views into the BO (``pool`` None: freeing a view gives nothing back
to the buddy pool); ``views`` holds exactly those granules and ``moving`` counts the
migrations that hold the BO; the BO's memory is freed exactly when both are empty.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmcore.engine.model import VRAM, Gpu, Placement

if TYPE_CHECKING:
    from vmcore.engine.gpu.device import Device
    from vmcore.engine.gpu.ttm import Lru, Ttm
    from vmcore.engine.model import Granule, Process, SvmRange, Vm


@dataclass(eq=False)
class SvmBo:
    """``struct svm_range_bo``: the VRAM of one range (and of the pieces cut from it)."""

    process: Process
    gpu: Gpu
    va: int
    """The VA its first byte backs: the range's start when it was allocated."""
    size: int
    place: Placement
    ranges: list[SvmRange] = field(default_factory=list)
    views: dict[Granule, None] = field(default_factory=dict, repr=False)
    """The granules whose data is in the BO (an ordered set): what an eviction moves."""
    moving: int = 0
    lru: int = 0
    uses: int = 0
    order: int = 0
    lru_home: Lru | None = None
    arrived: int = 0
    """When it was allocated (simulated ns): what ``fifo`` orders SVM BOs by."""

    @property
    def name(self) -> str:
        """Its name as an eviction candidate: ``process:va``."""
        return f"{self.process.name}:{self.va:#x}"

    starts: list[int] = field(default_factory=list)
    """The BO offset where each block of ``place`` starts (its blocks never change)."""

    def __post_init__(self) -> None:
        at = 0
        for _, _, n in self.place.blocks:
            self.starts.append(at)
            at += n

    def view(self, va: int, size: int) -> Placement:
        """The part of the BO that backs [va, va + size)."""
        off = va - self.va
        blocks = self.place.blocks
        i = bisect.bisect_right(self.starts, off) - 1
        assert i >= 0 and off + size <= self.size, (self, va, size)
        out = []
        off -= self.starts[i]
        while size > 0:
            _, base, n = blocks[i]
            take = min(n - off, size)
            out.append((0, base + off, take))
            size -= take
            off = 0
            i += 1
        return Placement(VRAM, self.gpu, out, None)


def is_view(place: Placement) -> bool:
    """Is ``place`` a granule's part of its range's VRAM BO?"""
    return place.domain is VRAM and place.pool is None


def new_bo(ttm: Ttm, r: SvmRange, place: Placement) -> SvmBo:
    """``svm_range_vram_node_new`` after its allocation: ``r``'s BO in ``place``, at the
    tail of its GPU's LRU (TTM puts a new resource there)."""
    assert place.gpu is not None
    bo = SvmBo(r.process, place.gpu, r.start, r.size, place, [r])
    r.svm_bo = bo
    ttm.register(bo)
    ttm.touch(bo)
    ttm.placed(bo)
    return bo


def detach(dev: Device, ttm: Ttm, r: SvmRange) -> None:
    """``r`` (none of whose data is in its BO any more) stops sharing the BO."""
    bo = r.svm_bo
    if bo is None:
        return
    r.svm_bo = None
    bo.ranges.remove(r)
    release(dev, ttm, bo)


def release(dev: Device, ttm: Ttm, bo: SvmBo, left: Iterable[Granule] = ()) -> None:
    """The granules ``left`` left the BO (or a migration let go of it, none left): free
    its memory once nothing is in it or on its way (``svm_range_bo_release``)."""
    views = bo.views
    for g in left:
        assert g in views, (bo, g)
        del views[g]
    if views or bo.moving or not bo.place.blocks:
        return
    dev.memory.free(bo.place, "svm range BO release")
    ttm.placed(bo)
    for r in bo.ranges:
        r.svm_bo = None
    bo.ranges = []


def free_place(dev: Device, ttm: Ttm, g: Granule, place: Placement, why: str, scope: list[tuple[Vm, int, int]]) -> None:
    """``g``'s data leaves ``place``: free it after the stale-PTE check over ``scope``; a
    view of the range's VRAM BO gives its part back to the BO."""
    dev.memory.free(place, why, scope)
    if is_view(place):
        bo = g.range.svm_bo
        assert bo is not None, g
        release(dev, ttm, bo, (g,))


__all__ = ["SvmBo", "detach", "free_place", "is_view", "new_bo", "release"]
