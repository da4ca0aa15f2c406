"""Migration of SVM data: the MMU-notifier invalidation, the accounting of a move, and
``svm_migrate_vram_to_ram`` over a whole range.

Models ``svm_migrate_vram_to_ram`` (drivers/gpu/drm/amd/amdkfd/kfd_migrate.c), which TTM
eviction (``svm_range_evict_svm_bo_worker``) and a VRAM-to-VRAM move
(``svm_migrate_vram_to_vram``) run over ``prange->start .. prange->last``: every page of
the range in that VRAM moves to system memory in one migration, one invalidation of the
GPU mappings and one copy, not one per granule.  Single granules move with
``Svm.migrate``; both count what they move here.

Invariants: a granule being migrated is never touched by another migration (``migrating``);
the counters ``migrations`` and ``bytes_moved`` count granules and bytes whatever the path.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.svm_bo import release
from vmcore.engine.gpu.vm_pt import PageTables
from vmcore.engine.model import PAGE, VRAM, Domain, Gpu, Granule, Placement, Process, SvmRange
from vmcore.engine.sim import WaitFence

if TYPE_CHECKING:
    from vmcore.engine.gpu.svm import Svm

Gen = Generator[Any, Any, Any]


def invalidate(pts: PageTables, proc: Process, va: int, npages: int, value: int) -> Gen:
    """The MMU notifier: write ``value`` (invalid, or silent retry) over [va, va + npages
    pages) in every live VM of the process through the update path, then wait for all
    those updates."""
    live = [vm for vm in proc.vms.values() if vm.alive]
    if len(live) == 1:  # the usual case: one update, waited for where it is submitted
        vm = live[0]
        pk = pts.fill_packets(vm, va, npages, value)
        yield from pts.update(vm, pk, fault_path=False, kind="invalidate", wait=(va, npages))
        return
    fences = []
    for vm in live:
        f = yield from pts.update(vm, pts.fill_packets(vm, va, npages, value), fault_path=False, kind="invalidate")
        if f is not None:
            fences.append(f)
    for f in fences:
        yield WaitFence(f)


def account(dev: Device, proc: Process, moved: list[Granule], size: int, new: Placement, target: str, cause: str) -> None:
    """Count ``moved`` (``size`` bytes, now in ``new``) as migrations, and as thrashing
    where a granule came into the same VRAM a second time; log it."""
    counters = dev.mon.counters
    mine = proc.counters
    counters["migrations"] += len(moved)
    counters["bytes_moved"] += size
    mine["migrations"] += len(moved)
    mine["bytes_moved"] += size
    if dev.mon.timeline is not None:
        dev.mon.timeline.record(dev.sim.now, 2, counters["migrations"])
    if new.gpu is not None and new.domain is VRAM:
        name = new.gpu.name
        for g in moved:
            visits = g.vram_visits
            if visits is None:
                visits = g.vram_visits = {}
            n = visits[name] = visits.get(name, 0) + 1
            # into the same VRAM again: it thrashed (each granule counted once)
            if n == 2 and not any(v >= 2 for k, v in visits.items() if k != name):
                counters["thrashed"] += 1
                mine["thrashed"] += 1
    if dev.mon.logging:
        for va, end in _spans(moved):
            dev.log(dev.current_name(), "migrated", f"{proc.name} {va:#x} +{end - va:#x} to {target} ({cause})")


def _spans(granules: list[Granule]) -> list[tuple[int, int]]:
    """The granules (in address order) as [va, end) spans of adjacent ones."""
    out: list[tuple[int, int]] = []
    for g in granules:
        if out and out[-1][1] == g.va:
            out[-1] = (out[-1][0], g.va + g.size)
        else:
            out.append((g.va, g.va + g.size))
    return out


def _va(g: Granule) -> int:
    return g.va


def vram_to_ram(svm: Svm, r: SvmRange, gpu: Gpu | None, fault_path: int, cause: str) -> Gen:
    """``svm_migrate_vram_to_ram``: every granule of ``r`` in ``gpu``'s VRAM to system
    memory at once; those being migrated already are left to their migration.  Returns
    success (False when the process is dying or the range was unmapped: its data is freed
    where it is)."""
    dev = svm.dev
    proc = r.process
    # the granules in VRAM are those in the range's BO (svm_bo's invariant), in address order
    bo = r.svm_bo
    if bo is None or bo.gpu is not gpu:
        moving = []
    else:
        moving = sorted((h for h in bo.views if h.range is r and not h.migrating), key=_va)
    if not moving:
        return True
    if proc.killed or r.unmapped:
        return False
    assert bo is not None and gpu is not None and gpu.pq is not None, r
    for h in moving:
        h.migrating = True
    bo.moving += 1
    dev.ref_process(proc)
    try:
        size = sum(h.size for h in moving)
        new = dev.memory.sysmem.alloc(size)
        stop = not proc.retry_faults or proc.prefill
        if stop:
            dev.quiesce(proc)
        spans = _spans(moving)
        for va, end in spans:
            yield from invalidate(svm.pts, proc, va, (end - va) // PAGE, 0)
        src = Placement(VRAM, gpu, [b for h in moving for b in h.place.blocks], None)
        yield from gpu.pq.copy(src, new, size, lambda: f"{proc.name} {r.start:#x} to system")
        why = f"migration of {proc.name} {r.start:#x} ({cause})"
        scope = [(vm, va, (end - va) // PAGE) for vm in proc.vms.values() for va, end in spans]
        # the stale-PTE check: no PTE of what moved may still point into the BO
        dev.memory.free(Placement(VRAM, gpu, list(bo.place.blocks), None), why, scope)
        base = new.blocks[0][1]
        for h in moving:
            h.place.blocks = []
            h.place = Placement(Domain.SYSTEM, None, [(0, base, h.size)], None)
            base += h.size
        release(dev, svm.ttm, bo, moving)
        account(dev, proc, moving, size, new, "system", cause)
        if stop:
            yield from svm.remap_and_resume(proc, r, moving)
        return True
    finally:
        for h in moving:
            h.migrating = False
        bo.moving -= 1
        release(dev, svm.ttm, bo)
        dev.unref_process(proc)


__all__ = ["account", "invalidate", "vram_to_ram"]
