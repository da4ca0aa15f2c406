"""TTM: allocation modes, the LRU of eviction candidates, and the eviction loop.

Models ``ttm_bo_alloc_resource`` / ``ttm_bo_evict_alloc`` (drivers/gpu/drm/ttm/ttm_bo.c):
an allocation that does not fit evicts victims in the ``evict`` family's order and,
unless it may not wait (``no_wait_gpu``), waits for their fences.  Each GPU's VRAM has
an LRU of the objects that may be evicted from it (``ttm_resource_manager.lru``): user
BOs that are not pinned, leaf page tables, a movable root PD, the VRAM BOs of SVM ranges
(``svm_bo.SvmBo``: a range is evicted whole).  A use moves
an object to the tail (``ttm_bo_move_to_lru_tail``) and the default ``lru`` order walks
from the head with a cursor (``ttm_lru_walk_for_evict``), so an eviction neither
rebuilds nor sorts anything.  A victim is moved by the room that owns it, through the op
registered for its type (``evict_funcs``), as TTM calls the driver back through
``ttm_device_funcs``.

Invariants: an object is on the LRU of GPU g exactly when it is an evictable kind and
its memory is in g's VRAM (``placed`` is called after every change of placement); LRU
keys are unique and grow with every use; within one allocation an object is tried at
most once, and an allocation that made no progress in a whole walk fails.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Iterator
from typing import Any

from sortedcontainers import SortedDict

from vmcore.core.pagetable import Level
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.memory import pool_alloc
from vmcore.engine.gpu.svm_bo import SvmBo
from vmcore.engine.model import SVM_FAULT, Bo, Domain, Gpu, Placement, Vm
from vmcore.hooks.decisions import AllocMode, AllocRequest, EvictCandidate, RootPdMode

Gen = Generator[Any, Any, Any]
EvictFunc = Callable[[Any, int, str], Gen]
"""An eviction op: (victim, fault_path, why) -> generator returning success."""
Victim = Bo | SvmBo

_BUSY_OK, _SKIP_BUSY_PT, _SKIP_BUSY = 0, 1, 2
"""What a walk does with busy candidates: evict and wait for them all (``AllocMode.WAIT``),
pass over busy page tables only (``TTM``), pass over every busy one (``NO_WAIT``)."""
_ORDER_BITS = 32
_PASSED_ALL = 1 << 127
"""``passed[vm]`` once a walk went past every page table of the VM."""


class Lru:
    """The eviction candidates in one GPU's VRAM, least recently used first.

    Keyed by ``lru << 32 | order``: the use counter, then registration order for the
    objects never used (root PDs).  The leaf page tables of a VM share its root PD's
    reservation, so they are kept apart, one sorted group per VM, and a walk that may
    not wait passes over a busy VM's page tables in one step (``amdgpu_vm_evictable``
    refuses them all alike) instead of one by one."""

    __slots__ = ("groups", "main")

    def __init__(self) -> None:
        self.main: SortedDict[int, Victim] = SortedDict()
        """Everything but leaf page tables."""
        self.groups: dict[Vm, SortedDict[int, Victim]] = {}
        """The leaf page tables of each VM."""

    @staticmethod
    def key(obj: Victim) -> int:
        return obj.lru << _ORDER_BITS | obj.order

    def _dict(self, obj: Victim, make: bool) -> SortedDict[int, Victim] | None:
        if isinstance(obj, Bo) and obj.pt_of is not None and obj.pt_handle:
            d = self.groups.get(obj.pt_of)
            if d is None and make:
                d = self.groups[obj.pt_of] = SortedDict()
            return d
        return self.main

    def add(self, obj: Victim) -> None:
        d = self._dict(obj, True)
        assert d is not None
        d[self.key(obj)] = obj
        obj.lru_home = self

    def remove(self, obj: Victim) -> None:
        d = self._dict(obj, False)
        assert d is not None
        del d[self.key(obj)]
        obj.lru_home = None
        if not d and d is not self.main:
            assert isinstance(obj, Bo) and obj.pt_of is not None
            del self.groups[obj.pt_of]

    def __iter__(self) -> Iterator[Victim]:
        """Every candidate, least recently used first."""
        parts = [self.main.items(), *(g.items() for g in self.groups.values())]
        return (obj for _, obj in heapq.merge(*parts))

    def objects(self) -> list[Victim]:
        """Every candidate, in no particular order (cheaper than iterating in LRU order)."""
        out = list(self.main.values())
        for g in self.groups.values():
            out += g.values()
        return out

    def __len__(self) -> int:
        return len(self.main) + sum(len(g) for g in self.groups.values())


def _evictable_kind(obj: Victim) -> bool:
    """Could TTM ever evict it (leaving placement aside)?"""
    if isinstance(obj, SvmBo):
        return True
    if obj.pinned:
        return False
    if obj.pt_of is None:
        return True
    if obj.pt_handle == 0:
        return obj.pt_of.root_mode is RootPdMode.MOVABLE  # decided once, when the VM was made
    return obj.pt_level == int(Level.PTB)  # directories move with their children


class Ttm:
    """The device's TTM: the use counter, the LRUs, allocation with eviction, victim dispatch."""

    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self._lru = 0
        self._order = 0
        self.evict_funcs: dict[type, EvictFunc] = {}
        """Victim type -> the op that moves it out of VRAM (wired by the device)."""

    def add_gpu(self, gpu: Gpu) -> None:
        gpu.lru = Lru()

    # -- the LRU ---------------------------------------------------------------------
    def register(self, obj: Victim) -> None:
        """A new BO, page table or SVM BO: its place among everything TTM knows."""
        self._order += 1
        obj.order = self._order

    def touch(self, obj: Victim) -> None:
        """``ttm_bo_move_to_lru_tail``: ``obj`` was just used."""
        home = obj.lru_home
        if home is not None:
            home.remove(obj)
        self._lru += 1
        obj.lru = self._lru
        obj.uses += 1
        if home is not None:
            home.add(obj)

    def placed(self, obj: Victim) -> None:
        """``obj``'s memory changed (allocated, moved, freed): put it on the LRU of the
        VRAM it is in now, if it is an evictable kind, and off any other."""
        place = obj.place
        want = None
        if (
            place is not None
            and place.domain is Domain.VRAM
            and place.blocks
            and place.gpu is not None
            and place.pool is not place.gpu.pt_reserve
            and _evictable_kind(obj)
        ):
            want = place.gpu.lru
        if obj.lru_home is not want:
            if obj.lru_home is not None:
                obj.lru_home.remove(obj)
            if want is not None:
                if isinstance(obj, SvmBo):
                    obj.arrived = self.dev.sim.now
                want.add(obj)

    # -- allocation ------------------------------------------------------------------
    def alloc(
        self,
        gpu: Gpu,
        domain: Domain,
        size: int,
        *,
        contiguous: bool,
        fault_path: int,
        purpose: str,
        process: str,
        exclude: tuple[object, ...] = (),
    ) -> Gen:
        """Allocate, evicting as the mode allows; returns a Placement or None."""
        dev = self.dev
        mode = AllocMode.TTM
        if fault_path:
            mode = dev.policies.alloc_mode(
                AllocRequest(gpu.name, purpose, size, process, fault_path == SVM_FAULT)
            )
        if (
            domain is Domain.VRAM
            and mode is AllocMode.RESERVE
            and purpose == "pt"
            and gpu.pt_reserve is not None
        ):
            blocks = pool_alloc(gpu.pt_reserve, gpu.pt_reserve_base, size, True)
            if blocks is not None:
                return Placement(Domain.VRAM, gpu, blocks, gpu.pt_reserve)
            mode = AllocMode.NO_WAIT
        if mode is AllocMode.RESERVE:
            mode = AllocMode.NO_WAIT
        place = dev.memory.try_alloc(gpu, domain, size, contiguous)
        if place is not None or domain is not Domain.VRAM or mode is AllocMode.FAIL:
            return place
        why = f"allocation of {size} bytes for {purpose}"
        walk = self._walk_ordered if dev.policies.custom_evict_order else self._walk_lru
        busy = (
            _BUSY_OK if mode is AllocMode.WAIT else _SKIP_BUSY if mode is AllocMode.NO_WAIT else _SKIP_BUSY_PT
        )
        if not fault_path and mode is AllocMode.TTM:
            # amdgpu_ttm_bo_eviction_valuable: in the process's own context (an ioctl, not the
            # fault handler's kworker) its KFD BOs, page tables and SVM BOs, which carry its
            # eviction fence, are not candidates (amdkfd_fence_check_mm(f, current->mm))
            own = dev.processes.get(process)
            if own is not None and own.kfd and not own.killed:
                exclude = (*exclude, own)
        tried: set[int] = set()
        passed: dict[Vm, int] = {}
        while True:
            progressed = False
            for obj in walk(gpu, exclude, tried, passed, busy):
                ok = yield from self.evict(obj, fault_path=fault_path, why=why)
                progressed = True
                place = dev.memory.try_alloc(gpu, domain, size, contiguous)
                if place is not None:
                    return place
                if ok:
                    break  # the set of candidates changed: walk again from the head
            if not progressed:
                return None

    @staticmethod
    def _candidate(obj: Victim, gpu: Gpu, exclude: tuple[object, ...], busy_pts: bool) -> tuple[bool, bool]:
        """(may it be evicted for this allocation, is it busy); ``busy_pts``: busy page
        tables are candidates too (the 2019 hazard, ``AllocMode.WAIT``)."""
        place = obj.place
        if place is None or place.domain is not Domain.VRAM or place.gpu is not gpu or obj in exclude:
            return False, False
        if isinstance(obj, SvmBo):
            if exclude and any(r in exclude or r.process in exclude for r in obj.ranges):
                return False, False
            return not obj.moving, False
        if exclude and (obj.owner in exclude or (obj.pt_of is not None and obj.pt_of.process in exclude)):
            return False, False
        busy = not obj.resv.idle()
        if obj.pt_of is not None and busy and (obj.pt_handle == 0 or not busy_pts):
            return False, False  # amdgpu_vm_evictable: never a busy PD/PT (a busy root PD not even then)
        return True, busy

    def _walk_lru(
        self, gpu: Gpu, exclude: tuple[object, ...], tried: set[int], passed: dict[Vm, int], busy: int
    ) -> Iterator[Victim]:
        """The default order: the LRU from its head, with a cursor that survives the
        evictions made meanwhile (``ttm_lru_walk_for_evict``); yields what to evict.

        Each candidate reached is tried once per allocation (``tried``); one that is
        busy is passed over when the allocation may not wait.  A VM's page tables are
        all busy or all idle: a busy VM is passed over whole (unless busy page tables are
        candidates), and ``passed[vm]`` records how far the walk has gone past it (its page
        tables up to there count as tried, as they would one by one); so is the VM of a
        process in ``exclude``."""
        lru = gpu.lru
        assert lru is not None
        skip_busy = busy == _SKIP_BUSY
        busy_pts = busy == _BUSY_OK
        cursor = -1
        while True:  # one merge from the cursor until a yield (the LRU may change then)
            skipped: list[Vm] = []
            streams: list[tuple[Iterator[int], SortedDict[int, Victim], bool]] = [
                (iter(lru.main.irange(cursor, None, (False, True))), lru.main, False)
            ]
            for vm, d in lru.groups.items():
                if (not busy_pts and not vm.resv.idle()) or (exclude and vm.process in exclude):
                    skipped.append(vm)
                    continue
                start = max(cursor, passed.get(vm, -1))
                streams.append((iter(d.irange(start, None, (False, True))), d, True))
            heads = [next(it, None) for it, _, _ in streams]
            found: Victim | None = None
            key = -1
            while True:
                i = -1
                for j, h in enumerate(heads):
                    if h is not None and (i < 0 or h < key):
                        i, key = j, h
                if i < 0:
                    break
                it, d, grouped = streams[i]
                heads[i] = next(it, None)
                obj = d[key]
                if id(obj) in tried:
                    continue
                if not grouped:
                    ok, is_busy = self._candidate(obj, gpu, exclude, busy_pts)
                    if not ok:
                        continue
                    tried.add(id(obj))
                    if is_busy and skip_busy:
                        continue
                else:
                    tried.add(id(obj))  # an idle VM's page table, or one the allocation may wait for
                found = obj
                break
            if found is None:
                for vm in skipped:
                    passed[vm] = _PASSED_ALL
                return
            for vm in skipped:
                passed[vm] = max(passed.get(vm, -1), key)
            cursor = key
            yield found

    def _walk_ordered(
        self, gpu: Gpu, exclude: tuple[object, ...], tried: set[int], passed: dict[Vm, int], busy: int
    ) -> Iterator[Victim]:
        """The active evict policy orders every candidate (one question per walk)."""
        lru = gpu.lru
        assert lru is not None
        skip_busy = busy == _SKIP_BUSY
        busy_pts = busy == _BUSY_OK
        every = lru.objects()
        bos = sorted((o for o in every if isinstance(o, Bo)), key=lambda o: o.order)
        svm_bos = sorted(
            (o for o in every if isinstance(o, SvmBo)), key=lambda b: (b.process.pasid, b.order)
        )
        ordered: list[Victim] = [*bos, *svm_bos]
        cands: list[EvictCandidate] = []
        by_name: dict[str, tuple[Victim, bool]] = {}
        for obj in ordered:
            if id(obj) in tried:
                continue
            ok, is_busy = self._candidate(obj, gpu, exclude, busy_pts)
            if not ok:
                continue
            if isinstance(obj, SvmBo):
                name = obj.name
                uses = sum(r.uses for r in obj.ranges)
                cands.append(EvictCandidate(name, "range", obj.size, obj.lru, uses, obj.arrived, False))
            else:
                kind = "bo" if obj.pt_of is None else "root_pd" if obj.pt_handle == 0 else "pt"
                name = obj.name
                cands.append(EvictCandidate(name, kind, obj.size, obj.lru, obj.uses, obj.created, is_busy))
            by_name[name] = (obj, is_busy)
        if not cands:
            return
        for cand in self.dev.policies.evict_order(cands):
            got = by_name.get(cand.name)
            if got is None or id(got[0]) in tried:
                continue
            tried.add(id(got[0]))
            if got[1] and skip_busy:
                continue
            yield got[0]

    def evict(self, obj: object, *, fault_path: int, why: str) -> Gen:
        """Move ``obj`` out of VRAM through the op of its kind; returns success."""
        return (yield from self.evict_funcs[type(obj)](obj, fault_path, why))
