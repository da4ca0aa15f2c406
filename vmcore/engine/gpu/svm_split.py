"""Cutting SVM ranges as KFD does: ``svm_range_split`` and the maximum range size.

Models ``svm_range_split`` / ``svm_range_split_head`` / ``svm_range_split_tail`` and
``svm_range_set_max_pages`` (drivers/gpu/drm/amd/amdkfd/kfd_svm.c): a registered range
is cut into pieces of at most ``max_svm_range_pages``, aligned to that size, and
``munmap`` or a prefetch of part of a range cuts it at the given boundaries.  The pieces
keep the range's attributes, its data where it is and its GPU mappings: a granule cut in
two becomes two granules over the memory of the original (:meth:`Memory.split`), and the
pieces of a split range share its VRAM BO (``svm_bo``), as ``svm_range_split`` has them
share ``prange->svm_bo``.

Invariants: the granules of a range tile it in address order; a cut never falls inside
a page; a granule being migrated is never cut (callers wait for it).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.svm_bo import detach, free_place, is_view
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.model import PAGE, Gpu, Granule, Process, SvmRange, Vm
from vmcore.engine.sim import Sleep
from vmcore.errors import ScenarioError

Gen = Generator[Any, Any, Any]

MIN_RANGE = 2 << 20
MAX_RANGE = 1 << 30


def max_range_bytes(gpus: list[Gpu]) -> int:
    """``svm_range_set_max_pages``: 1/32 of the smallest VRAM of all GPUs, rounded down to
    a power of two and clamped to 2 MiB .. 1 GiB."""
    if not gpus:
        return MAX_RANGE
    want = min(g.vram_size for g in gpus) // 32
    size = MIN_RANGE
    while size * 2 <= want and size < MAX_RANGE:
        size *= 2
    return size


def pieces(start: int, size: int, max_bytes: int) -> list[tuple[int, int]]:
    """[start, start + size) cut at multiples of ``max_bytes``: (start, size) per piece."""
    out = []
    va, end = start, start + size
    while va < end:
        nxt = min((va // max_bytes + 1) * max_bytes, end)
        out.append((va, nxt - va))
        va = nxt
    return out


def split_granule(dev: Device, ttm: Ttm, g: Granule, at: int) -> Granule:
    """Cut ``g`` at ``at`` (a page boundary inside it): ``g`` keeps the head, the new
    granule (returned, placed after it in its range) takes the tail of ``g``'s memory
    and shares its history."""
    assert g.va < at < g.va + g.size and at % PAGE == 0 and not g.migrating
    r = g.range
    head, tail = dev.memory.split(g.place, at - g.va)
    t = Granule(r, g.index + 1, at, g.va + g.size - at, tail)
    g.size = at - g.va
    g.place = head
    t.vram_visits = dict(g.vram_visits) if g.vram_visits else None
    if is_view(tail):
        assert r.svm_bo is not None
        r.svm_bo.views[t] = None
    i = r.granules.index(g)
    r.granules.insert(i + 1, t)
    for k in range(i + 1, len(r.granules)):
        r.granules[k].index = k
    return t


def split_range(dev: Device, ttm: Ttm, r: SvmRange, at: int) -> SvmRange:
    """``svm_range_split``: ``r`` keeps [start, at), the new range (returned, after it in
    the process's list) takes [at, end) with the same attributes; a granule that spans
    ``at`` is cut first."""
    assert r.start < at < r.end and at % PAGE == 0
    g = r.granule_at(at)
    if g.va != at:
        split_granule(dev, ttm, g, at)
    tail = SvmRange(
        r.process,
        at,
        r.end - at,
        preferred=r.preferred,
        access=list(r.access),
        in_place=list(r.in_place),
        no_access=list(r.no_access),
        granularity=r.granularity,
        readonly=r.readonly,
        exec=r.exec,
    )
    tail.uses, tail.svm_bo = r.uses, r.svm_bo
    if r.svm_bo is not None:
        r.svm_bo.ranges.append(tail)
    tail.granules = [x for x in r.granules if x.va >= at]
    r.granules = [x for x in r.granules if x.va < at]
    for k, x in enumerate(tail.granules):
        x.range, x.index = tail, k
    r.size = at - r.start
    procs = r.process.ranges
    procs.insert(procs.index(r) + 1, tail)
    return tail


def cut(dev: Device, ttm: Ttm, r: SvmRange, lo: int, hi: int) -> SvmRange:
    """Cut ``r`` at ``lo`` and ``hi`` where they fall inside it; returns the range that
    covers [max(lo, start), min(hi, end))."""
    if r.start < lo < r.end:
        r = split_range(dev, ttm, r, lo)
    if r.start < hi < r.end:
        split_range(dev, ttm, r, hi)
    return r


def settle_edges(proc: Process, va: int, end: int) -> Gen:
    """Wait until no granule that a cut at ``va`` or ``end`` falls inside is migrating."""
    for edge in (va, end):
        r = proc.range_at(edge)
        if r is not None and r.start < edge:
            g = r.granule_at(edge)
            while g.migrating and not proc.killed:
                yield Sleep(1_000)


def overlapping(dev: Device, ttm: Ttm, proc: Process, va: int, end: int, what: str) -> Gen:
    """The ranges of ``proc`` over [va, end), cut at ``va`` and ``end``; an address with no
    range is an error naming ``what``.  Waits first for migrations of the granules a cut
    would fall in; none when the process was killed meanwhile."""
    a = va
    while a < end:
        r = proc.range_at(a)
        if r is None:
            raise ScenarioError(f"{what} {a:#x}: no svm range of {proc.name} there")
        a = r.end
    yield from settle_edges(proc, va, end)
    if proc.killed:
        return []  # its teardown frees the ranges as they are
    return [cut(dev, ttm, r, va, end) for r in list(proc.ranges) if r.start < end and va < r.end]


def granule_scope(g: Granule) -> list[tuple[Vm, int, int]]:
    """Where a granule may be mapped: every VM of its process, for the stale-PTE check."""
    return [(vm, g.va, g.npages) for vm in g.range.process.vms.values()]


Invalidate = Callable[[Process, Granule, int], Gen]
"""Write a value over a granule's PTEs in every VM of the process and wait (the MMU notifier)."""


def unmap_from_cpu(dev: Device, ttm: Ttm, proc: Process, va: int, end: int, invalidate: Invalidate) -> Gen:
    """``svm_range_unmap_from_cpu``: the ranges are cut at ``va`` and ``end``, whatever their
    granularity (``svm_range_unmap_split``); what lies inside leaves the process's ranges
    at once (a GPU access to it finds no range from then on, and nothing migrates it any
    more), is unmapped from every GPU and is freed once no migration holds it; the rest
    keeps its data, attributes and mappings.  A kill while the cuts wait for a migration
    leaves everything to the teardown."""
    yield from settle_edges(proc, va, end)
    if proc.killed:
        return
    # every cut first, with nothing in between: a later one cannot meet a granule that
    # started to migrate while an earlier piece was being unmapped
    inside = [cut(dev, ttm, r, va, end) for r in list(proc.ranges) if r.start < end and va < r.end]
    for r in inside:
        proc.ranges.remove(r)
        r.unmapped = True
    for r in inside:
        for g in r.granules:
            while g.migrating:
                yield Sleep(1_000)
            yield from invalidate(proc, g, 0)
            free_place(dev, ttm, g, g.place, f"munmap of {proc.name} {g.va:#x}", granule_scope(g))
        detach(dev, ttm, r)  # it no longer shares the VRAM BO of the pieces that stay
    dev.log("app", "munmap", f"{proc.name} {va:#x} +{end - va:#x}")


__all__ = [
    "cut",
    "granule_scope",
    "max_range_bytes",
    "overlapping",
    "pieces",
    "settle_edges",
    "split_granule",
    "split_range",
    "unmap_from_cpu",
]
