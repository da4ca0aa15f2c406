"""SVM ranges and migration: registration, the fault-side restore, MMU-notifier
invalidation, migration (in the fault handler, by hint, by the worker, by TTM
eviction), CPU faults and munmap.

Models ``kfd_svm.c`` (``svm_range_restore_pages``: migrate the faulting granule where
the ``migration`` policy says, map it on the faulting GPU; ``svm_range_evict``: with
retry faults off or GPU_ALWAYS_MAPPED the process's queues stop while data moves and
the restore worker remaps them) and ``kfd_migrate.c`` (allocate, invalidate every GPU
mapping through the MMU notifier, copy through the page queue, free the old pages).
"""

from __future__ import annotations

import collections
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from vmcore.core.pagetable import Pte
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.svm_bo import SvmBo, detach, free_place, new_bo, release
from vmcore.engine.gpu.svm_migrate import account, invalidate, vram_to_ram
from vmcore.engine.gpu.svm_split import granule_scope, max_range_bytes, overlapping, pieces, unmap_from_cpu
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.gpu.vm_pt import SILENT_FLAGS, PageTables
from vmcore.engine.model import PAGE, SVM_FAULT, VRAM, Gpu, Granule, Placement, Process, SvmRange, Vm
from vmcore.engine.sim import Proc, Signal, Sleep, WaitSignal
from vmcore.errors import ScenarioError
from vmcore.hooks.decisions import HintRequest, MigrationRequest, PrefetchRequest, UpdatePath

Gen = Generator[Any, Any, Any]

CPU_FAULT_NS = 2_000
"""A CPU page fault on a page in VRAM (``svm_migrate_to_ram``), before the migration."""
_R, _W, _X = int(Pte.READABLE), int(Pte.WRITEABLE), int(Pte.EXECUTABLE)
_SYSTEM_SNOOPED = int(Pte.SYSTEM | Pte.SNOOPED)
"""PTE bits as ints for ``range_flags`` (see ``model.VRAM`` on enum member reads)."""


@dataclass(frozen=True, slots=True)
class Unhandled:
    """The fault cannot be restored: the handler reports it (a no-retry fault)."""

    reason: str


def range_flags(r: SvmRange, place: Placement) -> int:
    """PTE flags of a range mapping where its data is."""
    flags = _R
    if not r.readonly:
        flags |= _W
    if r.exec:
        flags |= _X
    if place.domain is not VRAM:
        flags |= _SYSTEM_SNOOPED
    return flags


class Svm:
    """SVM ranges, their migrations and the migration worker."""

    def __init__(self, dev: Device, ttm: Ttm, pts: PageTables) -> None:
        self.dev = dev
        self.ttm = ttm
        self.pts = pts
        self.worker_queue: collections.deque[tuple[Granule, str, bool]] = collections.deque()
        self.worker_signal = Signal("migration work")

    def start(self) -> None:
        self.dev.sim.spawn("migration worker", self._migration_worker())

    # -- registration ----------------------------------------------------------------
    def create_svm(self, proc: Process, start: int, size: int, loc: str, attrs: dict[str, Any]) -> Gen:
        """``svm_range_add``: register [start, start + size) as ranges of at most
        ``max_svm_range_pages`` each (``svm_split.max_range_bytes``), with ``attrs``."""
        for other in proc.ranges:
            if start < other.end and other.start < start + size:
                raise ScenarioError(f"svm range {start:#x} +{size:#x} overlaps the range at {other.start:#x}")
        domain, gpu = self.dev.where(loc)
        made = []
        for pstart, psize in pieces(start, size, max_range_bytes(list(self.dev.gpus.values()))):
            r = SvmRange(proc, pstart, psize)
            for k, v in attrs.items():
                setattr(r, k, list(v) if isinstance(v, list) else v)
            # svm_range_apply_attrs: bit operations on the defaults (with retry faults on,
            # every GPU starts in access); access adds, in_place and no_access take out
            named = set(attrs.get("access", ()))
            r.access = [
                g.name
                for g in proc.gpus
                if (proc.retry_faults or g.name in named) and g.name not in (*r.in_place, *r.no_access)
            ]
            gran = r.granularity
            bo = None
            if domain is VRAM:
                assert gpu is not None
                place = yield from self.ttm.alloc(
                    gpu, domain, psize, contiguous=False, fault_path=False, purpose="range", process=proc.name
                )
                if place is None:
                    raise ScenarioError(f"svm range {start:#x} does not fit in {loc}")
                bo = new_bo(self.ttm, r, place)
            va = pstart
            while va < pstart + psize:
                end = min((va // gran + 1) * gran, pstart + psize)
                n = end - va
                place = self.dev.memory.sysmem.alloc(n) if bo is None else bo.view(va, n)
                g = Granule(r, len(r.granules), va, n, place)
                r.granules.append(g)
                if bo is not None:
                    bo.views[g] = None
                va = end
            proc.ranges.append(r)
            made.append(r)
        self.dev.log("app", "svm", f"{proc.name} {start:#x} +{size:#x} in {loc}")
        if not proc.retry_faults or proc.prefill:
            for r in made:
                yield from self.map_on_access(proc, r)

    def map_on_access(self, proc: Process, r: SvmRange, granules: list[Granule] | None = None) -> Gen:
        """XNACK off / GPU_ALWAYS_MAPPED: map the range on its access GPUs (the restore worker)."""
        for gname in [*r.access, *r.in_place]:
            vm = proc.vms.get(gname)
            if vm is None or not vm.alive:
                continue
            for g in granules or r.granules:
                if not self.dev.reachable(vm.gpu, g.place):
                    continue
                ok = yield from self.pts.map_range(
                    vm, g.va, g.npages, g.place, range_flags(r, g.place), fault_path=False
                )
                if not ok:
                    raise ScenarioError(f"could not map {g.va:#x} on {gname}")

    def remap_and_resume(self, proc: Process, r: SvmRange, granules: list[Granule]) -> Gen:
        """After a migration that stopped the queues (XNACK off, or a prefill): map what
        moved on the access GPUs, then resume the queues (``svm_range_restore_work``)."""
        yield from self.map_on_access(proc, r, granules)
        self.dev.resume_queues(proc)

    # -- the fault side ----------------------------------------------------------------
    def restore_pages(self, vm: Vm, r: SvmRange, va: int, write: bool) -> Gen:
        """``svm_range_restore_pages``: migrate the granule where the migration policy
        says and map it on the faulting GPU.  Returns the fault's outcome, or
        :class:`Unhandled` when the fault cannot be restored."""
        dev = self.dev
        proc = vm.process
        if vm.gpu.name in r.no_access:
            return Unhandled("the GPU has no access to the range")
        if write and r.readonly:
            return Unhandled("write to a read-only range")
        g = r.granule_at(va)
        if g.migrating:
            return "busy"
        req = MigrationRequest(
            vm.gpu.name,
            proc.name,
            va,
            g.va,
            g.size,
            g.place.where(),
            r.preferred,
            *r.request_sets(),
            vm.retry_faults,
        )
        dec = dev.policies.migration(req)
        if dec.target != g.place.where():
            if dec.in_fault_handler:
                moved = yield from self.migrate(
                    g,
                    dec.target,
                    fault_path=SVM_FAULT,
                    silent=dec.silent_retry,
                    cause=f"fault on {vm.gpu.name}",
                )
                if moved and dev.policies.prefetching:
                    yield from self._prefetch(vm, r, g, va, dec.target, dec.silent_retry)
            else:
                self.worker_queue.append((g, dec.target, dec.silent_retry))
                dev.sim.fire(self.worker_signal)
        if not dev.reachable(vm.gpu, g.place):
            ok = yield from self.migrate(
                g, "system", fault_path=SVM_FAULT, silent=dec.silent_retry, cause=f"fault on {vm.gpu.name}"
            )
            if not ok:
                return "failed"
        ok = yield from self.pts.map_range(
            vm, g.va, g.npages, g.place, range_flags(r, g.place), fault_path=SVM_FAULT
        )
        return "mapped" if ok else "failed"

    def _prefetch(self, vm: Vm, r: SvmRange, g: Granule, va: int, target: str, silent: bool) -> Gen:
        """The ``prefetch`` family: the granules of ``r`` that the active policy names
        follow the faulting granule ``g`` to ``target`` and are mapped on ``vm``'s GPU;
        what the fault brought in is kept out of the evictions they make."""
        dev = self.dev

        def resident(a: int, size: int) -> int:
            a, end = max(a, r.start), min(a + size, r.start + r.size)
            n = 0
            while a < end:
                h = r.granule_at(a)
                if h.place.where() == target:
                    n += min(end, h.va + h.size) - a
                a = h.va + h.size
            return n

        req = PrefetchRequest(
            vm.gpu.name, vm.process.name, va, g.va, g.size, r.start, r.size, target, resident
        )
        kept: list[Granule] = [g]
        for a, size in dev.policies.prefetch(req):
            a, end = max(a, r.start), min(a + size, r.start + r.size)
            while a < end:
                h = r.granule_at(a)
                a = h.va + h.size
                if h is g or h.migrating or h.place.where() == target:
                    continue
                ok = yield from self.migrate(
                    h, target, fault_path=SVM_FAULT, silent=silent, cause="prefetch", keep=tuple(kept)
                )
                if not ok:
                    return  # no room: the rest would not fit either
                kept.append(h)
                dev.mon.count("prefetched", 1, vm.process)
                if dev.reachable(vm.gpu, h.place):
                    yield from self.pts.map_range(
                        vm, h.va, h.npages, h.place, range_flags(r, h.place), fault_path=SVM_FAULT
                    )

    # -- migration ---------------------------------------------------------------------
    def migrate(
        self,
        g: Granule,
        target: str,
        *,
        fault_path: int,
        silent: bool,
        cause: str,
        keep: tuple[Granule, ...] = (),
    ) -> Gen:
        """Move a granule: allocate, MMU-notifier invalidation, copy, free; returns success.

        Into VRAM, the granule lands in its range's BO, allocated for the whole range at
        its first migration there (``svm_bo``).  From one GPU's VRAM to another's, the whole
        range goes to system memory first and the granule then comes in from there
        (``svm_migrate_vram_to_vram``)."""
        if g.migrating or g.place.where() == target:
            return g.place.where() == target
        dev = self.dev
        proc = g.range.process
        if proc.killed or g.range.unmapped:
            return False  # a dying process's data, or unmapped data, is freed where it is
        domain, gpu = dev.where(target)
        r = g.range
        if domain is VRAM and r.svm_bo is not None and r.svm_bo.gpu is not gpu:
            ok = yield from self.range_to_system(r, r.svm_bo.gpu, fault_path, cause)
            if not ok or g.migrating or g.place.domain is VRAM or proc.killed:
                return False
            if r.svm_bo is not None and r.svm_bo.gpu is not gpu:
                if any(h.place.domain is VRAM for h in r.granules):
                    return False  # another migration still holds part of it there
                detach(dev, self.ttm, r)
        # the migration holds the granule and its process: a munmap, a cut or a teardown waits
        g.migrating = True
        dev.ref_process(proc)
        held: SvmBo | None = None
        try:
            if domain is VRAM:
                assert gpu is not None
                held = yield from self._range_bo(g, gpu, fault_path, cause, keep)
                if held is False:
                    return False
                if held is not None:
                    held.moving += 1
                new = None if held is None else held.view(g.va, g.size)
                if new is None:
                    dev.mon.count("alloc_failures", 1, proc)
                    dev.log(
                        dev.current_name(),
                        "migration failed",
                        f"{proc.name} {g.va:#x}: no room in {target}",
                    )
                    return False
            else:
                new = dev.memory.sysmem.alloc(g.size)
            stop = not proc.retry_faults or proc.prefill
            if stop:
                dev.quiesce(proc)
            # MMU notifier: invalidate every GPU mapping of the granule
            yield from self.invalidate_granule(proc, g, SILENT_FLAGS if silent else 0)
            src_gpu = new.gpu if new.domain is VRAM and new.gpu is not None else g.place.gpu or proc.gpus[0]
            assert src_gpu.pq is not None
            old = g.place
            name = lambda: f"{proc.name} {g.va:#x} to {target}"  # noqa: E731
            why = f"migration of {proc.name} {g.va:#x} ({cause})"
            direct = fault_path and domain is VRAM and dev.policies.may_update_direct
            if direct and self._direct(proc, fault_path):
                # update = direct: the handler's PTE write does not wait for its own copy (Felix:
                # "Migration would not [work], unless you have special cases"); old pages go after it
                fence = src_gpu.pq.copy_unwaited(g.place, new, g.size, name)
                fence.callbacks.append(lambda _f: dev.memory.free(old, why))  # old is system memory
            else:
                yield from src_gpu.pq.copy(g.place, new, g.size, name)
                free_place(dev, self.ttm, g, old, why, granule_scope(g))
            g.place = new
            if held is not None:
                held.views[g] = None
            if silent:
                yield from self.invalidate_granule(proc, g, 0)
            account(dev, proc, [g], g.size, new, target, cause)
            if stop:
                yield from self.remap_and_resume(proc, g.range, [g])
            return True
        finally:
            g.migrating = False
            if held is not None:
                held.moving -= 1
                release(dev, self.ttm, held)
            dev.unref_process(proc)

    def _range_bo(self, g: Granule, gpu: Gpu, fault_path: int, cause: str, keep: tuple[Granule, ...]) -> Gen:
        """The BO of ``g``'s range in ``gpu``'s VRAM, allocated for the whole range if it
        has none (``svm_range_vram_node_new``).  Returns the BO, None when there is no
        room, or False when the migration is to stop: the process died, the range was
        unmapped, or another migration put the range's BO on another GPU meanwhile."""
        r = g.range
        if r.svm_bo is not None:
            return r.svm_bo
        proc = r.process
        got = yield from self.ttm.alloc(
            gpu,
            VRAM,
            r.size,
            contiguous=False,
            fault_path=fault_path,
            purpose="migration",
            process=proc.name,
            exclude=(r, *(h.range for h in keep)),
        )
        if got is None:
            return None
        if not (proc.killed or r.unmapped or r.svm_bo is not None):
            return new_bo(self.ttm, r, got)
        # killed, unmapped, or another migration of the range made its BO meanwhile
        self.dev.memory.free(got, f"migration of {proc.name} {g.va:#x} ({cause}), not needed")
        if proc.killed or r.unmapped or r.svm_bo is None or r.svm_bo.gpu is not gpu:
            return False
        return r.svm_bo

    def _direct(self, proc: Process, fault_path: int) -> bool:
        """Does the fault handler's mapping take the ``direct`` path (asked as the mapping is)?"""
        gpu = proc.gpus[0].name
        path = self.dev.policies.update_path_of(gpu, proc.name, True, "map", fault_path == SVM_FAULT)
        return path is UpdatePath.DIRECT

    def range_to_system(self, r: SvmRange, gpu: Gpu | None, fault_path: int, cause: str) -> Gen:
        """Every granule of ``r`` in ``gpu``'s VRAM back to system memory in one migration
        (``svm_bo.vram_to_ram``); returns success."""
        return (yield from vram_to_ram(self, r, gpu, fault_path, cause))

    def evict_svm_bo(self, bo: SvmBo, fault_path: int, why: str) -> Gen:
        """``svm_range_evict_svm_bo_worker``: TTM evicts a range's VRAM BO, and every range
        on it goes back to system memory."""
        ok = True
        for r in list(bo.ranges):
            ok = (yield from self.range_to_system(r, bo.gpu, fault_path, "eviction")) and ok
        if ok:
            self.dev.mon.count("evictions", 1, bo.process)
        return ok

    def invalidate_granule(self, proc: Process, g: Granule, value: int) -> Gen:
        """The MMU notifier over one granule (``svm_migrate.invalidate``)."""
        return (yield from invalidate(self.pts, proc, g.va, g.npages, value))

    def _migration_worker(self) -> Proc:
        while True:
            if not self.worker_queue:
                yield WaitSignal(self.worker_signal)
                continue
            g, target, silent = self.worker_queue.popleft()
            if g.range.process.killed:
                continue
            yield from self.migrate(g, target, fault_path=False, silent=silent, cause="migration worker")

    # -- application-thread statements -------------------------------------------------
    def cpu_access(self, proc: Process, va: int, size: int, write: bool, value: int = 1) -> Gen:
        dev = self.dev
        end = va + size
        done: set[int] = set()
        a = va
        while a < end:
            r = proc.range_at(a)
            if r is None:
                raise ScenarioError(f"cpu access at {a:#x}: no svm range of {proc.name} there")
            g = r.granule_at(a)
            if id(g) not in done:
                done.add(id(g))
                if g.place.domain is VRAM:
                    dev.mon.count("cpu_faults", 1, proc)
                    yield Sleep(CPU_FAULT_NS)
                    yield from self.migrate(g, "system", fault_path=False, silent=False, cause="cpu fault")
            if write:
                lo, hi = max(a, g.va), min(end, g.va + g.size)
                for addr, n in g.place.runs(lo - g.va, hi - lo):
                    dev.memory.store.fill(addr, n // PAGE, value)
            a = g.va + g.size
        dev.log("app", "cpu", f"{proc.name} {'writes' if write else 'reads'} {va:#x} +{size:#x}")

    def prefetch_target(self, proc: Process, r: SvmRange, target: str) -> str:
        """svm_range_best_prefetch_location: VRAM only if the GPUs that map the range in
        place (and, with retry faults off, those that access it) share the target's hive."""
        domain, gpu = self.dev.where(target)
        if domain is not VRAM or gpu is None:
            return target
        users = set(r.in_place) if proc.retry_faults else set(r.access) | set(r.in_place)
        gpus = self.dev.gpus
        if any(gpus[u].hive != gpu.hive for u in users if u in gpus):
            return "system"
        return target

    def migrate_hint(self, proc: Process, va: int, size: int, target: str) -> Gen:
        """A prefetch (``KFD_IOCTL_SVM_ATTR_PREFETCH_LOC``): move exactly [va, va + size),
        cutting the ranges at its ends, to ``svm_range_best_prefetch_location``; with retry
        faults on, also map it at once on the target GPU when that GPU is in the range's
        ``access`` set (``svm_range_validate_and_map`` after the migration)."""
        dev = self.dev
        dev.where(target)
        silent = dev.policies.hint_silent_retry(HintRequest(proc.name, va, size, target))
        ranges = yield from overlapping(dev, self.ttm, proc, va, va + size, "migrate")
        for r in ranges:
            where = self.prefetch_target(proc, r, target)
            domain, gpu = dev.where(where)
            for g in list(r.granules):
                yield from self.migrate(g, where, fault_path=False, silent=silent, cause="prefetch hint")
            if (
                domain is VRAM
                and gpu is not None
                and proc.retry_faults
                and not proc.prefill
                and gpu.name in r.access
                and not proc.killed
            ):
                vm = proc.vms.get(gpu.name)
                if vm is not None and vm.alive:
                    for g in r.granules:
                        if g.place.where() == where:
                            yield from self.pts.map_range(
                                vm, g.va, g.npages, g.place, range_flags(r, g.place), fault_path=False
                            )

    def munmap(self, proc: Process, va: int, size: int) -> Gen:
        """``svm_range_unmap_from_cpu`` (``svm_split.unmap_from_cpu``)."""
        yield from unmap_from_cpu(self.dev, self.ttm, proc, va, va + size, self.invalidate_granule)

    def values_at(self, proc: Process, va: int, size: int, value: int) -> tuple[bool, str]:
        """Does every page of [va, va + size) hold ``value`` where the process's data is now?"""
        store = self.dev.memory.store
        a = va
        end = va + size
        while a < end:
            r = proc.range_at(a)
            if r is not None:
                g = r.granule_at(a)
                place, base, span = g.place, g.va, g.size
            else:
                hit = next(
                    ((bo, b) for bo in proc.bos for b in bo.mappings.values() if b <= a < b + bo.size), None
                )
                if hit is None or hit[0].place is None:
                    return False, f"{a:#x} of {proc.name} is in no svm range or mapped BO"
                place, base, span = hit[0].place, hit[1], hit[0].size
            hi = min(end, base + span)
            off = a - base
            for addr, n in place.runs(off, hi - a):
                idx, seen = store.check(addr, n // PAGE, value)
                if idx < n // PAGE:
                    return (
                        False,
                        f"{a + (addr - place.address_of(off)) + idx * PAGE:#x} of {proc.name} reads {seen}",
                    )
            a = hi
        return True, f"{va:#x} +{size:#x} of {proc.name} reads {value}"
