"""TTM: allocation modes, eviction candidates and the eviction loop.

Models ``ttm_bo_alloc_resource`` / ``ttm_bo_evict_alloc`` (drivers/gpu/drm/ttm/ttm_bo.c):
an allocation that does not fit evicts victims in the ``evict`` family's order (LRU by
default, ``ttm_lru_walk_for_evict``) and, unless the allocation may not wait
(``no_wait_gpu``), waits for their fences.  A victim is moved by the room that owns it,
through the op registered for its kind (``evict_funcs``), as TTM calls the driver back
through ``ttm_device_funcs``.

Invariants: an object is tried at most once per allocation; an allocation that made no
progress in a whole pass over the candidates fails.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from vmcore.core.pagetable import Level
from vmcore.decisions import AllocMode, AllocRequest, EvictCandidate, RootPdMode
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.memory import pool_alloc
from vmcore.engine.model import Bo, Domain, Gpu, Granule, Placement, Process

Gen = Generator[Any, Any, Any]
EvictFunc = Callable[[Any, bool, str], Gen]
"""An eviction op: (victim, fault_path, why) -> generator returning success."""


class Ttm:
    """The device's TTM: the LRU counter, allocation with eviction, and victim dispatch."""

    def __init__(self, dev: Device, bos: dict[str, Bo], processes: dict[str, Process]) -> None:
        self.dev = dev
        self.bos = bos
        self.processes = processes
        self._lru = 0
        self.evict_funcs: dict[type, EvictFunc] = {}
        """Victim type -> the op that moves it out of VRAM (wired by the device)."""

    def touch(self, obj: Bo | Granule) -> None:
        """``ttm_bo_move_to_lru_tail``: ``obj`` was just used."""
        self._lru += 1
        obj.lru = self._lru
        obj.uses += 1

    def alloc(
        self,
        gpu: Gpu,
        domain: Domain,
        size: int,
        *,
        contiguous: bool,
        fault_path: bool,
        purpose: str,
        process: str,
        exclude: tuple[object, ...] = (),
    ) -> Gen:
        """Allocate, evicting as the mode allows; returns a Placement or None."""
        dev = self.dev
        mode = AllocMode.WAIT
        if fault_path:
            mode = dev.policies.alloc_mode(AllocRequest(gpu.name, purpose, size, process))
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
        tried: set[int] = set()
        while True:
            cands = self._evict_candidates(gpu, exclude, tried)
            if not cands:
                return None
            snap = [c for c, _ in cands]
            order = dev.policies.evict_order(snap)
            by_name = {c.name: obj for c, obj in cands}
            progressed = False
            for cand in order:
                obj = by_name.get(cand.name)
                if obj is None or id(obj) in tried:
                    continue
                tried.add(id(obj))
                if mode is AllocMode.NO_WAIT and cand.busy:
                    continue
                ok = yield from self.evict(
                    obj, fault_path=fault_path, why=f"allocation of {size} bytes for {purpose}"
                )
                progressed = True
                place = dev.memory.try_alloc(gpu, domain, size, contiguous)
                if place is not None:
                    return place
                if ok:
                    break  # the set of candidates changed: ask again
            if not progressed:
                return None

    def _evict_candidates(
        self, gpu: Gpu, exclude: tuple[object, ...], tried: set[int]
    ) -> list[tuple[EvictCandidate, object]]:
        out: list[tuple[EvictCandidate, object]] = []
        for bo in self.bos.values():
            if bo.place is None or bo.place.domain is not Domain.VRAM or bo.place.gpu is not gpu:
                continue
            if bo.pinned or bo in exclude or id(bo) in tried or bo.place.pool is gpu.pt_reserve:
                continue
            kind = "bo"
            if bo.pt_of is not None:
                kind = "root_pd" if bo.pt_handle == 0 else "pt"
                if kind == "root_pd":
                    mode = bo.pt_of.root_mode  # decided once, when the VM was created
                    if mode is not RootPdMode.MOVABLE or not bo.resv.idle():
                        continue
                elif bo.pt_level != int(Level.PTB):
                    continue  # directories move with their children; leaf tables are the victims
            out.append(
                (EvictCandidate(bo.name, kind, bo.size, bo.lru, bo.uses, bo.created, not bo.resv.idle()), bo)
            )
        for proc in self.processes.values():
            for r in proc.ranges:
                for g in r.granules:
                    if (
                        g.place.domain is Domain.VRAM
                        and g.place.gpu is gpu
                        and not g.migrating
                        and g not in exclude
                        and id(g) not in tried
                    ):
                        name = f"{proc.name}:{g.va:#x}"
                        out.append((EvictCandidate(name, "range", g.size, g.lru, g.uses, 0, False), g))
        return out

    def evict(self, obj: object, *, fault_path: bool, why: str) -> Gen:
        """Move ``obj`` out of VRAM through the op of its kind; returns success."""
        return (yield from self.evict_funcs[type(obj)](obj, fault_path, why))
