"""The simulated GPU memory system: its actors and the mechanics they run.

Actors (each a generator on the :class:`~vmcore.engine.sim.Sim`):

* one *engine* actor per GPU engine runs that engine's user jobs in submission order;
* per GPU, the page queue (the first ``sdma`` engine's kernel ring) has a *scheduler
  thread* (drm_sched: pulls kernel jobs from entities whose dependencies signaled and
  writes their packets into the ring) and an *SDMA executor* that consumes packets and
  changes PTEs only then;
* per GPU, a *fault handler* drains the bounded IH ring, filtered per (page, PASID);
* a *migration worker* moves data outside the fault handler;
* application threads run the scenario's statements (see ``scenario.py``).

Policy decisions go through :class:`~vmcore.plugins.ActivePolicies`, once per decision.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from vmcore.core import FenceKind, NodeKind, PageStore, PageTable, Pool, Ring, RingMode
from vmcore.core.pagetable import ENTRIES_PER_PT, Invalidate, Level, Pte, WalkReason
from vmcore.core.ring import Op
from vmcore.decisions import (
    AllocMode,
    AllocRequest,
    EvictCandidate,
    FaultAction,
    FaultInfo,
    MigrationDecision,
    MigrationRequest,
    PtMove,
    RootPdMode,
    UpdatePath,
    UpdateRequest,
)
from vmcore.engine.memory import SystemMemory, pool_alloc, pool_free, vram_base
from vmcore.engine.model import (
    PAGE,
    Bo,
    Domain,
    Engine,
    EngineKind,
    Entity,
    Gpu,
    Granule,
    Job,
    KernelJob,
    Link,
    Placement,
    Process,
    Resv,
    SvmRange,
    Usage,
    Vm,
)
from vmcore.engine.monitor import FaultRecord, Monitor
from vmcore.engine.sim import Actor, Proc, Signal, Sim, SimFence, Sleep, WaitFence, WaitSignal
from vmcore.errors import RingCorrupt, VmcoreError
from vmcore.plugins import ActivePolicies

Gen = Generator[Any, Any, Any]

# Simulated costs (ns).  Rough orders of magnitude; scenarios compare policies, not clocks.
FAULT_NS = 1_000
"""Fault handler: interrupt, filter and range lookup per fault."""
PTE_PACKET_NS = 100
"""SDMA: one PTEPDE packet (up to 512 PTEs)."""
COPY_BYTES_PER_NS = 16
"""SDMA copy bandwidth (16 GB/s)."""
COPY_SETUP_NS = 500
CPU_FAULT_NS = 2_000
RETRY_DELAY_NS = 5_000
"""A job whose fault could not be resolved faults again after this delay."""
MAX_RETRIES = 64
"""After this many unresolved retries of one page a job stops faulting and stalls."""
IH_RING_ENTRIES = 256
PAGE_QUEUE_DW = 16384
SCHED_WRITER = 1
DIRECT_WRITER = 2
ECANCELED = -125

SILENT_FLAGS = int(Pte.VALID | Pte.SYSTEM | Pte.SNOOPED)
PERM_R = int(Pte.READABLE)
PERM_W = int(Pte.WRITEABLE)
NORETRY_FLAGS = int(Pte.EXECUTABLE | Pte.PDE_PTE | Pte.TF)


class ScenarioError(VmcoreError, ValueError):
    """A scenario asks for something the model cannot set up (a semantic error)."""


@dataclass(eq=False, slots=True)
class Fault:
    """A fault in flight: the IH entry, its wait-for node and the jobs it stalls."""

    record: FaultRecord
    vm: Vm
    va: int
    write: bool
    retry: bool
    reason: str
    node: int
    signal: Signal
    key: tuple[int, int]


@dataclass(eq=False)
class IhRing:
    """A GPU's IH ring (bounded) and its retry-fault filter keyed by (page, PASID)."""

    queue: collections.deque[Fault] = field(default_factory=collections.deque)
    pending: dict[tuple[int, int], Fault] = field(default_factory=dict)
    signal: Signal = field(default_factory=lambda: Signal("ih"))
    space: Signal = field(default_factory=lambda: Signal("ih space"))
    handler: Actor | None = None


@dataclass(eq=False)
class PageQueue:
    """A GPU's SDMA page queue: the core ring, its scheduler thread and executor."""

    gpu: Gpu
    engine: Engine
    ring: Ring
    entities: list[Entity] = field(default_factory=list)
    wake: Signal = field(default_factory=lambda: Signal("sched"))
    doorbell: Signal = field(default_factory=lambda: Signal("doorbell"))
    space: Signal = field(default_factory=lambda: Signal("ring space"))
    lock_free: Signal = field(default_factory=lambda: Signal("ring lock"))
    seq: int = 0
    fences: dict[int, SimFence] = field(default_factory=dict)
    rr: int = 0
    hung: bool = False
    move_entity: Entity | None = None


class System:
    """GPUs, processes and the mechanics of faults, updates, migration and eviction."""

    def __init__(self, sim: Sim, policies: ActivePolicies, monitor: Monitor) -> None:
        self.sim = sim
        self.policies = policies
        self.mon = monitor
        self.gpus: dict[str, Gpu] = {}
        self.links: list[Link] = []
        self.processes: dict[str, Process] = {}
        self.bos: dict[str, Bo] = {}
        self.jobs: dict[str, Job] = {}
        self.store = PageStore()
        self.sysmem = SystemMemory(self.store)
        self.ih: dict[str, IhRing] = {}
        self.pq: dict[str, PageQueue] = {}
        self.pt_at: dict[int, Bo] = {}
        self.next_pasid = 0x8001
        self.worker_queue: collections.deque[tuple[Granule, str, bool]] = collections.deque()
        self.worker_signal = Signal("migration work")
        self.quiesced: dict[str, int] = {}
        self.resume: dict[str, Signal] = {}
        self.dummy_page = self.sysmem.alloc(PAGE)
        self.started = False
        self.teardowns: dict[str, Actor] = {}
        self._lru = 0
        self._updates = 0

    def log(self, actor: str, action: str, detail: str = "") -> None:
        self.mon.event(self.sim.now, actor, action, detail)

    # ================================================================== topology
    def add_gpu(self, name: str, vram: int, gtt: int, engines: list[tuple[str, str, bool, bool]]) -> Gpu:
        if name in self.gpus:
            raise ScenarioError(f"GPU {name!r} is defined twice")
        gpu = Gpu(name, vram, gtt, index=len(self.gpus), hive=name)
        gpu.vram = Pool(vram, f"{name}.vram")
        gpu.gtt = Pool(gtt, f"{name}.gtt")
        self.store.add_region(vram_base(gpu), vram // PAGE)
        for ename, kind, retry, locked in engines:
            gpu.engines[ename] = Engine(ename, EngineKind(kind), gpu, retry=retry, locked=locked)
        if not any(e.kind is EngineKind.SDMA for e in gpu.engines.values()):
            gpu.engines[f"{name}.sdma"] = Engine(f"{name}.sdma", EngineKind.SDMA, gpu)
        self.gpus[name] = gpu
        return gpu

    def add_link(self, a: str, b: str, kind: str, bandwidth: int, latency: int) -> None:
        for g in (a, b):
            if g not in self.gpus:
                raise ScenarioError(f"link names unknown GPU {g!r}")
        self.links.append(Link(a, b, kind, bandwidth, latency))

    def engine(self, name: str) -> Engine:
        for g in self.gpus.values():
            if name in g.engines:
                return g.engines[name]
        raise ScenarioError(f"unknown engine {name!r}")

    def start(self) -> None:
        """Form hives, set PT reserves aside, and start the per-GPU actors."""
        parent = {g: g for g in self.gpus}

        def root(x: str) -> str:
            while parent[x] != x:
                x = parent[x]
            return x

        for link in self.links:
            if link.kind == "xgmi":
                parent[root(link.a)] = root(link.b)
        for name, gpu in self.gpus.items():
            gpu.hive = root(name)
        for gpu in self.gpus.values():
            size = self.policies.decide("vmcore_pt_reserve", int, gpu=gpu.name, vram_size=gpu.vram_size)
            if size:
                assert gpu.vram is not None
                size = (size + PAGE - 1) // PAGE * PAGE
                blocks = pool_alloc(gpu.vram, vram_base(gpu), size, contiguous=True)
                if blocks is None:
                    raise ScenarioError(
                        f"the page-table reserve of {size} bytes does not fit in {gpu.name}.vram"
                    )
                gpu.vram.pin(blocks[0][0])
                gpu.pt_reserve = Pool(1 << (size - 1).bit_length(), f"{gpu.name}.pt_reserve")
                gpu.pt_reserve_base = blocks[0][1]
            self._start_gpu(gpu)
        self.sim.spawn("migration worker", self._migration_worker())
        self.started = True

    def _start_gpu(self, gpu: Gpu) -> None:
        sd = gpu.page_queue
        sd.ring = Ring(PAGE_QUEUE_DW, RingMode.LOCKED if sd.locked else RingMode.LOCKLESS)
        pq = PageQueue(gpu, sd, sd.ring)
        pq.move_entity = Entity(f"{gpu.name} ttm", sd)
        pq.entities.append(pq.move_entity)
        self.pq[gpu.name] = pq
        self.sim.spawn(f"{sd.name} scheduler", self._sched_thread(pq))
        self.sim.spawn(f"{sd.name} page queue", self._sdma_exec(pq))
        ih = IhRing()
        self.ih[gpu.name] = ih
        ih.handler = self.sim.spawn(f"fault handler {gpu.name}", self._fault_handler(gpu, ih), kind="handler")
        for eng in gpu.engines.values():
            eng.actor = self.sim.spawn(eng.name, self._engine_loop(eng), kind="engine")

    # ================================================================== memory
    def _touch(self, obj: Bo | Granule) -> None:
        self._lru += 1
        obj.lru = self._lru
        obj.uses += 1

    def _try_alloc(self, gpu: Gpu | None, domain: Domain, size: int, contiguous: bool) -> Placement | None:
        if domain is Domain.SYSTEM:
            return self.sysmem.alloc(size)
        assert gpu is not None
        if domain is Domain.GTT:
            assert gpu.gtt is not None
            blocks = pool_alloc(gpu.gtt, self.sysmem.next, size, contiguous)
            if blocks is None:
                return None
            # GTT pages live in system memory: give them fresh system addresses
            place = self.sysmem.alloc(size, Domain.GTT)
            place.blocks = [
                (h, place.blocks[0][1] + sum(b[2] for b in blocks[:i]), s)
                for i, (h, _, s) in enumerate(blocks)
            ]
            place.pool = gpu.gtt
            place.gpu = gpu
            return place
        assert gpu.vram is not None
        blocks = pool_alloc(gpu.vram, vram_base(gpu), size, contiguous)
        if blocks is None:
            return None
        for _, base, n in blocks:
            self.store.fill(base, n // PAGE, 0)  # new memory reads 0
        return Placement(Domain.VRAM, gpu, blocks, gpu.vram)

    def free_place(
        self, place: Placement, why: str, mapped_at: list[tuple[Vm, int, int]] | None = None
    ) -> None:
        """Give memory back, after checking that no valid PTE where it was mapped
        (``mapped_at``: VM, VA, pages) still points into it."""
        system = place.domain is not Domain.VRAM
        for vm, va, npages in mapped_at or ():
            if not vm.alive:
                continue
            for _, base, size in place.blocks:
                n, first = vm.pt.find_phys_in(va, npages, base, base + size, system)
                if n:
                    self.mon.find(
                        "stale pte",
                        self.sim.now,
                        f"{n} valid PTE(s) of {vm.process.name} on {vm.gpu.name} (first at VA {first:#x}) "
                        f"still point to memory freed by {why}",
                    )
                    break
        if place.pool is not None:
            pool_free(place.pool, place.blocks)
        if place.domain is not Domain.VRAM:
            self.sysmem.free(place)
        place.blocks = []

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
        mode = AllocMode.WAIT
        if fault_path:
            mode = (
                self.policies.decide(
                    "vmcore_alloc_mode", AllocMode, request=AllocRequest(gpu.name, purpose, size, process)
                )
                or AllocMode.NO_WAIT
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
        place = self._try_alloc(gpu, domain, size, contiguous)
        if place is not None or domain is not Domain.VRAM or mode is AllocMode.FAIL:
            return place
        tried: set[int] = set()
        while True:
            cands = self._evict_candidates(gpu, exclude, tried)
            if not cands:
                return None
            snap = [c for c, _ in cands]
            order = self.policies.decide("vmcore_evict_order", list, candidates=snap)
            if order is None:
                order = sorted(snap, key=lambda c: (c.lru, c.created))
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
                place = self._try_alloc(gpu, domain, size, contiguous)
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
        """Evict a BO, a page table or an SVM granule out of VRAM; returns success."""
        if isinstance(obj, Granule):
            ok = yield from self.migrate(obj, "system", fault_path=fault_path, silent=False, cause="eviction")
            if ok:
                self.mon.count("evictions")
            return ok
        assert isinstance(obj, Bo)
        bo = obj
        actor = self._current_name()
        fences = bo.resv.fences(Usage.BOOKKEEP)
        self.log(actor, "evict", f"{bo.name} ({why}); waits for {len(fences)} fence(s)")
        for f in fences:
            yield WaitFence(f)
        if bo.place is None or bo.place.domain is not Domain.VRAM:
            return False
        if bo.pt_of is not None and bo.pt_handle:
            vm = bo.pt_of
            move = (
                self.policies.decide("vmcore_pt_move", PtMove, gpu=vm.gpu.name, process=vm.process.name)
                or PtMove.MIGRATE
            )
            if move is PtMove.REALLOCATE:
                info = vm.pt.info(bo.pt_handle)
                if info.nchildren:
                    return False
                vm.pt.free(bo.pt_handle)
                self._drop_pt(vm, bo)
                self.log(actor, "pt freed", f"{bo.name}: its PTEs will be re-faulted")
                self.mon.count("evictions")
                return True
        old = bo.place
        assert bo.gpu is not None or old.gpu is not None
        gpu = old.gpu
        assert gpu is not None
        dst = self._try_alloc(gpu, Domain.GTT, bo.size, False)
        if dst is None:
            dst = self.sysmem.alloc(bo.size)
        copy = self.submit_copy(gpu, old, dst, bo.size, f"evict {bo.name}")
        bo.resv.add(copy, Usage.KERNEL)
        yield WaitFence(copy)
        bo.place = dst
        if bo.pt_of is not None:
            vm = bo.pt_of
            del self.pt_at[old.address_of(0)]
            self.pt_at[dst.address_of(0)] = bo
            if bo.pt_handle:
                vm.pt.move(bo.pt_handle, dst.address_of(0))
            else:
                vm.pt.move(vm.pt.root, dst.address_of(0))
        for vm, va in list(bo.mappings.items()):
            if vm.alive:
                ok = yield from self.map_range(
                    vm, va, bo.size // PAGE, dst, self._bo_flags(bo), fault_path=fault_path, kind="map"
                )
        self.free_place(old, f"eviction of {bo.name}", self._bo_scope(bo))
        self.mon.count("evictions")
        self.mon.count("bytes_moved", bo.size)
        self.log(actor, "evicted", f"{bo.name} to {dst.where()}")
        return True

    @staticmethod
    def _granule_scope(g: Granule) -> list[tuple[Vm, int, int]]:
        return [(vm, g.va, g.npages) for vm in g.range.process.vms.values()]

    @staticmethod
    def _bo_scope(bo: Bo) -> list[tuple[Vm, int, int]]:
        return [(vm, va, (bo.size + PAGE - 1) // PAGE) for vm, va in bo.mappings.items()]

    def _drop_pt(self, vm: Vm, bo: Bo) -> None:
        assert bo.place is not None
        self.pt_at.pop(bo.place.address_of(0), None)
        vm.pt_bos.pop(bo.pt_handle, None)
        self.bos.pop(bo.name, None)
        self.free_place(bo.place, f"freeing page table {bo.name}")
        bo.place = None

    def _current_name(self) -> str:
        cur = self.sim.current
        return cur.name if cur is not None else "system"

    # ================================================================== page-table updates
    def _bo_flags(self, bo: Bo) -> int:
        flags = int(Pte.READABLE | Pte.WRITEABLE)
        if bo.place is not None and bo.place.domain is not Domain.VRAM:
            flags |= int(Pte.SYSTEM | Pte.SNOOPED)
        return flags

    def _range_flags(self, r: SvmRange, place: Placement) -> int:
        flags = int(Pte.READABLE)
        if not r.readonly:
            flags |= int(Pte.WRITEABLE)
        if r.exec:
            flags |= int(Pte.EXECUTABLE)
        if place.domain is not Domain.VRAM:
            flags |= int(Pte.SYSTEM | Pte.SNOOPED)
        return flags

    def _ptb_chunks(self, vm: Vm, va: int, npages: int, need: bool) -> list[tuple[int, int, int]]:
        """(pe address, first page index in range, count) per PTB; missing PTBs skipped."""
        out = []
        page = 0
        while page < npages:
            a = va + page * PAGE
            first = (a >> 12) & (ENTRIES_PER_PT - 1)
            cnt = min(ENTRIES_PER_PT - first, npages - page)
            h = vm.pt.lookup(Level.PTB, a)
            if h is not None:
                bo = vm.pt_bos.get(h)
                addr = (
                    bo.place.address_of(0) if bo is not None and bo.place is not None else vm.pt.info(h).addr
                )
                out.append((addr + first * 8, page, cnt))
            elif need:
                raise ScenarioError(f"page table missing at {a:#x}")
            page += cnt
        return out

    def map_packets(
        self, vm: Vm, va: int, npages: int, place: Placement, flags: int
    ) -> list[tuple[str, tuple[int, ...]]]:
        pkts: list[tuple[str, tuple[int, ...]]] = []
        for pe, first, cnt in self._ptb_chunks(vm, va, npages, True):
            off = first * PAGE
            for addr, nbytes in place.runs(off, cnt * PAGE):
                n = nbytes // PAGE
                pkts.append(("ptepde", (pe, flags | int(Pte.VALID), addr, PAGE, n)))
                pe += n * 8
        return pkts

    def fill_packets(
        self, vm: Vm, va: int, npages: int, value: int, incr: int = 0
    ) -> list[tuple[str, tuple[int, ...]]]:
        return [
            ("ptepde", (pe, value, 0, incr, cnt)) for pe, _, cnt in self._ptb_chunks(vm, va, npages, False)
        ]

    def update(
        self,
        vm: Vm,
        packets: list[tuple[str, tuple[int, ...]]],
        *,
        fault_path: bool,
        kind: str,
        deps: list[SimFence] | None = None,
    ) -> Gen:
        """Submit a page-table update on the path the update policy picks; returns its fence (or None)."""
        path = self.policies.decide(
            "vmcore_update_path",
            UpdatePath,
            request=UpdateRequest(vm.gpu.name, vm.process.name, fault_path, kind),
        ) or (UpdatePath.IMMEDIATE if fault_path else UpdatePath.DELAYED)
        deps = list(deps or [])
        if not packets:
            return None
        pq = self.pq[vm.gpu.name]
        if path is UpdatePath.CPU:
            for f in vm.resv.fences(Usage.KERNEL):
                yield WaitFence(f)
            for _, args in packets:
                self.apply_ptepde(pq, *args)
            return None
        entity = None
        if path is not UpdatePath.DIRECT:
            if vm.immediate is None or vm.delayed is None:
                raise ScenarioError("VM without entities")
            entity = vm.immediate if path is UpdatePath.IMMEDIATE else vm.delayed
            # page-table updates wait only for kernel fences (moves) on the PT reservation
            deps += vm.resv.fences(Usage.KERNEL)
            if entity.last is not None and not entity.last.signaled:
                deps.append(entity.last)  # FIFO: ordered after the entity's previous job
        self._updates += 1
        fence = self.sim.fence(
            FenceKind.KERNEL, f"{kind} {vm.process.name}@{vm.gpu.name}#{self._updates}", deps=deps
        )
        if entity is None:
            # amdgpu_job_submit_direct: straight into the ring, no scheduler, no dependencies
            node = self.sim.node(NodeKind.JOB, f"direct update {fence.name}")
            self.sim.produced_by(fence, node)
            yield from self.ring_write(pq, DIRECT_WRITER, packets, fence)
            return fence
        vm.resv.add(fence, Usage.BOOKKEEP)
        self.push_kernel_job(pq, entity, KernelJob(fence.name, packets, deps, fence))
        return fence

    def push_kernel_job(self, pq: PageQueue, entity: Entity, job: KernelJob) -> None:
        job.node = self.sim.node(NodeKind.JOB, f"{entity.name}: {job.name}")
        self.sim.produced_by(job.fence, job.node)
        entity.last = job.fence
        for d in job.deps:
            if not d.signaled:
                self.sim.edge(job.node, d.node)
                d.callbacks.append(self._wake_scheduler(pq))
        entity.queue.append(job)
        self.sim.fire(pq.wake)

    def _wake_scheduler(self, pq: PageQueue) -> Callable[[SimFence], None]:
        def wake(_f: SimFence) -> None:
            self.sim.fire(pq.wake)

        return wake

    def submit_copy(
        self,
        gpu: Gpu,
        src: Placement,
        dst: Placement,
        size: int,
        what: str,
        deps: list[SimFence] | None = None,
    ) -> SimFence:
        """A kernel copy on the GPU's page queue through TTM's entity."""
        pq = self.pq[gpu.name]
        fence = self.sim.fence(FenceKind.KERNEL, f"copy {what}", deps=deps)
        pkts: list[tuple[str, tuple[int, ...]]] = []
        done = 0
        while done < size:
            s_runs = src.runs(done, size - done)
            d_runs = dst.runs(done, size - done)
            n = min(s_runs[0][1], d_runs[0][1], 1 << 30)
            pkts.append(("copy", (s_runs[0][0], d_runs[0][0], n)))
            done += n
        assert pq.move_entity is not None
        self.push_kernel_job(pq, pq.move_entity, KernelJob(fence.name, pkts, list(deps or []), fence))
        return fence

    def _packet_dw(self, kind: str) -> int:
        return 10 if kind == "ptepde" else 6

    def ring_write(
        self, pq: PageQueue, writer: int, packets: list[tuple[str, tuple[int, ...]]], fence: SimFence
    ) -> Gen:
        """Write packets and a FENCE into the page queue: reserve, write, commit steps."""
        ring = pq.ring
        locked = pq.engine.locked
        if locked:
            while ring.pointers.lock_owner not in (0, writer):
                yield WaitSignal(pq.lock_free)
            ring.lock(writer)
        pq.seq += 1
        seq = pq.seq
        pq.fences[seq] = fence
        todo = [*packets, ("fence", (seq,))]
        i = 0
        while i < len(todo):
            p = ring.pointers
            free = p.size_dw - p.occupancy
            n = 0
            j = i
            while j < len(todo) and n + (4 if todo[j][0] == "fence" else self._packet_dw(todo[j][0])) <= min(
                free, p.size_dw // 2
            ):
                n += 4 if todo[j][0] == "fence" else self._packet_dw(todo[j][0])
                j += 1
            if j == i:
                yield WaitSignal(pq.space)
                continue
            ring.reserve(writer, n)
            yield Sleep(0)  # reserve, write and commit are separate steps: a lockless ring lets others in
            for kind, args in todo[i:j]:
                if kind == "ptepde":
                    ring.emit_ptepde(writer, *args)
                elif kind == "copy":
                    ring.emit_copy(writer, *args)
                else:
                    ring.emit_fence(writer, 0x1000, args[0])
            yield Sleep(0)
            ring.commit(writer)
            occ = ring.pointers.occupancy
            if occ > self.mon.counters["ring_occupancy_max"]:
                self.mon.counters["ring_occupancy_max"] = occ
            self.sim.fire(pq.doorbell)
            i = j
        if locked:
            ring.unlock(writer)
            self.sim.fire(pq.lock_free)

    def _sched_thread(self, pq: PageQueue) -> Proc:
        """drm_sched: pick a ready entity (round robin), write its head job into the ring."""
        while True:
            job = None
            n = len(pq.entities)
            for k in range(n):
                ent = pq.entities[(pq.rr + k) % n]
                if ent.queue and all(d.signaled for d in ent.queue[0].deps):
                    job = ent.queue.pop(0)
                    pq.rr = (pq.rr + k + 1) % n
                    break
            if job is None:
                yield WaitSignal(pq.wake)
                continue
            for d in job.deps:
                self.sim.unedge(job.node, d.node)
            yield from self.ring_write(pq, SCHED_WRITER, job.packets, job.fence)
            # later jobs of its entity no longer wait behind it in the FIFO
            self.sim.fire(pq.wake)

    def _sdma_exec(self, pq: PageQueue) -> Proc:
        """The SDMA engine: consume packets; PTEs change only here."""
        name = f"{pq.engine.name} page queue"
        while True:
            try:
                p = pq.ring.consume()
            except RingCorrupt as e:
                pq.hung = True
                self.mon.find("ring", self.sim.now, f"{pq.engine.name}: {e}")
                yield WaitSignal(Signal("hung ring"))
                return
            if p is None:
                yield WaitSignal(pq.doorbell)
                continue
            self.sim.fire(pq.space)
            if p.opcode is Op.PTEPDE:
                b = p.body
                args = (b[0] | b[1] << 32, b[2] | b[3] << 32, b[4] | b[5] << 32, b[6] | b[7] << 32, b[8])
                self.apply_ptepde(pq, *args)
                yield Sleep(PTE_PACKET_NS)
            elif p.opcode is Op.COPY:
                b = p.body
                self.store.copy(b[1] | b[2] << 32, b[3] | b[4] << 32, b[0] // PAGE)
                yield Sleep(COPY_SETUP_NS + b[0] // COPY_BYTES_PER_NS)
            elif p.opcode is Op.FENCE:
                f = pq.fences.pop(p.body[2], None)
                if f is not None:
                    self.sim.signal(f)
                    if self.mon.logging:
                        self.log(name, "fence", f.name)

    def apply_ptepde(self, pq: PageQueue, pe: int, flags: int, addr: int, incr: int, count: int) -> None:
        """Write ``count`` PTEs at ``pe`` as the SDMA engine (or the CPU) does."""
        base = pe & ~(PAGE - 1)
        bo = self.pt_at.get(base)
        if bo is None or bo.pt_of is None or not bo.pt_of.alive:
            self.log(pq.engine.name, "pte write lost", f"no page table at {base:#x}")
            return
        vm = bo.pt_of
        h = bo.pt_handle or vm.pt.root
        info = vm.pt.info(h)
        va = info.va_base + ((pe - base) // 8) * PAGE
        value = flags | addr
        if value == 0:
            vm.pt.invalidate(va, count, Invalidate.INVALID)
        elif value == SILENT_FLAGS:
            vm.pt.invalidate(va, count, Invalidate.SILENT_RETRY)
        elif value == NORETRY_FLAGS:
            vm.pt.invalidate(va, count, Invalidate.NORETRY)
        elif incr == PAGE:
            vm.pt.map(va, count, addr, flags & ~int(Pte.VALID))
        else:
            for i in range(count):
                vm.pt.map(va + i * PAGE, 1, addr + i * incr, flags & ~int(Pte.VALID))
        if self.mon.logging:
            what = f"{vm.process.name}@{vm.gpu.name} {va:#x} +{count} pages -> {self._describe_pte(value)}"
            self.log(pq.engine.name, "pte update", what)
        end = va + count * PAGE
        for job, lo, hi in list(vm.watching):
            if lo < end and va < hi and job.wake is not None:
                self.sim.fire(job.wake)

    @staticmethod
    def _describe_pte(value: int) -> str:
        if value == 0:
            return "invalid"
        if value == SILENT_FLAGS:
            return "silent retry"
        if value == NORETRY_FLAGS:
            return "no-retry"
        return f"{value & 0x0000_FFFF_FFFF_F000:#x}"

    def map_range(
        self,
        vm: Vm,
        va: int,
        npages: int,
        place: Placement,
        flags: int,
        *,
        fault_path: bool,
        kind: str = "map",
        deps: list[SimFence] | None = None,
    ) -> Gen:
        """Allocate missing page tables, write the PTEs, wait for the update; returns success."""
        ok = yield from self.ensure_pts(vm, va, npages, fault_path=fault_path)
        if not ok:
            return False
        fence = yield from self.update(
            vm, self.map_packets(vm, va, npages, place, flags), fault_path=fault_path, kind=kind, deps=deps
        )
        if fence is not None:
            yield WaitFence(fence)
        return True

    def ensure_pts(self, vm: Vm, va: int, npages: int, *, fault_path: bool) -> Gen:
        for level, base in vm.pt.missing(va, npages):
            if vm.pt.lookup(level, base) is not None:
                continue
            place = yield from self.alloc(
                vm.gpu,
                Domain.VRAM,
                PAGE,
                contiguous=True,
                fault_path=fault_path,
                purpose="pt",
                process=vm.process.name,
            )
            if place is None:
                self.mon.count("alloc_failures")
                self.log(
                    self._current_name(),
                    "pt alloc failed",
                    f"{vm.process.name}@{vm.gpu.name} level {level.name} at {base:#x}",
                )
                return False
            if (
                not vm.alive
                or vm.pt.lookup(level, base) is not None
                or (level > Level.PDB1 and vm.pt.lookup(Level(level - 1), base) is None)
            ):
                self.free_place(place, "a page table allocated twice")
                if not vm.alive:
                    return False
                continue
            addr = place.address_of(0)
            h = vm.pt.alloc(level, base, addr)
            bo = Bo(
                f"{vm.process.name}.pt{vm.gpu.name}.{level.name}@{base:#x}",
                PAGE,
                vm.process,
                Domain.VRAM,
                vm.gpu,
                place=place,
                resv=vm.resv,
                created=self.sim.now,
            )
            bo.pt_of, bo.pt_handle, bo.pt_level = vm, h, int(level)
            self._touch(bo)
            vm.pt_bos[h] = bo
            self.pt_at[addr] = bo
            self.bos[bo.name] = bo
            self.mon.count("pt_allocations")
        return True

    # ================================================================== processes, ranges, BOs
    def create_process(self, name: str, gpus: list[str], retry_faults: bool, prefill: bool) -> Gen:
        if name in self.processes:
            raise ScenarioError(f"process {name!r} is defined twice")
        gl = []
        for g in gpus:
            if g not in self.gpus:
                raise ScenarioError(f"process {name} on unknown GPU {g!r}")
            gl.append(self.gpus[g])
        proc = Process(name, self.next_pasid, gl, retry_faults, prefill)
        self.next_pasid += 1
        self.processes[name] = proc
        self.resume[name] = Signal(f"{name} queues")
        for gpu in gl:
            mode = (
                self.policies.decide("vmcore_root_pd", RootPdMode, gpu=gpu.name, process=name)
                or RootPdMode.MOVABLE
            )
            place = yield from self.alloc(
                gpu, Domain.VRAM, PAGE, contiguous=True, fault_path=False, purpose="pt", process=name
            )
            if place is None:
                raise ScenarioError(f"no VRAM on {gpu.name} for the root PD of {name}")
            resv = Resv(f"{name}@{gpu.name} page tables")
            root = Bo(
                f"{name}.root_pd@{gpu.name}",
                PAGE,
                proc,
                Domain.VRAM,
                gpu,
                place=place,
                resv=resv,
                created=self.sim.now,
            )
            vm = Vm(
                proc,
                gpu,
                proc.pasid,
                PageTable(root_addr=place.address_of(0)),
                resv,
                root,
                retry_faults,
                prefill,
            )
            root.pt_of = vm
            vm.root_mode = mode
            if mode is RootPdMode.PINNED:
                assert place.pool is not None
                place.pool.pin(place.blocks[0][0])
                root.pinned = True
            elif mode is RootPdMode.FENCED:
                keep = self.sim.fence(FenceKind.KERNEL, f"root PD keep-alive {name}@{gpu.name}")
                # BOOKKEEP: it keeps the root PD busy (never idle, so never evicted) without
                # making page-table updates, which wait for KERNEL fences, wait for it
                resv.add(keep, Usage.BOOKKEEP)
                vm.root_fence = keep
            pq = self.pq[gpu.name]
            vm.immediate = Entity(f"{name}@{gpu.name} immediate", pq.engine)
            vm.delayed = Entity(f"{name}@{gpu.name} delayed", pq.engine)
            pq.entities += [vm.immediate, vm.delayed]
            self.pt_at[place.address_of(0)] = root
            self.bos[root.name] = root
            proc.vms[gpu.name] = vm
            self.log(
                "app",
                "process",
                f"{name} on {gpu.name}: pasid {proc.pasid:#x}, root PD at {place.address_of(0):#x} ({mode})",
            )
        return proc

    def where(self, loc: str) -> tuple[Domain, Gpu | None]:
        if loc == "system":
            return Domain.SYSTEM, None
        g, _, dom = loc.partition(".")
        if g not in self.gpus or dom not in ("vram", "gtt"):
            raise ScenarioError(f"unknown location {loc!r}")
        return Domain(dom), self.gpus[g]

    def create_svm(self, proc: Process, start: int, size: int, loc: str, attrs: dict[str, Any]) -> Gen:
        r = SvmRange(proc, start, size)
        for k, v in attrs.items():
            setattr(r, k, v)
        if "access" not in attrs:
            r.access = [
                g.name
                for g in proc.gpus
                if proc.retry_faults and g.name not in r.in_place and g.name not in r.no_access
            ]
        for other in proc.ranges:
            if start < other.end and other.start < start + size:
                raise ScenarioError(f"svm range {start:#x} +{size:#x} overlaps the range at {other.start:#x}")
        domain, gpu = self.where(loc)
        gran = r.granularity
        va = start
        while va < start + size:
            end = min((va // gran + 1) * gran, start + size)
            n = end - va
            if domain is Domain.VRAM:
                assert gpu is not None
                place = yield from self.alloc(
                    gpu, domain, n, contiguous=False, fault_path=False, purpose="range", process=proc.name
                )
                if place is None:
                    raise ScenarioError(f"svm range {start:#x} does not fit in {loc}")
            else:
                place = self.sysmem.alloc(n)
            g = Granule(r, len(r.granules), va, n, place)
            self._touch(g)
            r.granules.append(g)
            va = end
        proc.ranges.append(r)
        self.log("app", "svm", f"{proc.name} {start:#x} +{size:#x} in {loc}")
        if not proc.retry_faults or proc.prefill:
            yield from self._map_on_access(proc, r)

    def _map_on_access(self, proc: Process, r: SvmRange, granules: list[Granule] | None = None) -> Gen:
        """XNACK off / GPU_ALWAYS_MAPPED: map the range on its access GPUs (the restore worker)."""
        for gname in [*r.access, *r.in_place]:
            vm = proc.vms.get(gname)
            if vm is None or not vm.alive:
                continue
            for g in granules or r.granules:
                if not self._reachable(vm.gpu, g.place):
                    continue
                ok = yield from self.map_range(
                    vm, g.va, g.npages, g.place, self._range_flags(r, g.place), fault_path=False
                )
                if not ok:
                    raise ScenarioError(f"could not map {g.va:#x} on {gname}")

    def _reachable(self, gpu: Gpu, place: Placement) -> bool:
        return place.domain is not Domain.VRAM or (place.gpu is not None and place.gpu.hive == gpu.hive)

    def create_bo(
        self, name: str, loc: str, size: int, owner: Process, pinned: bool, contiguous: bool
    ) -> Gen:
        if name in self.bos:
            raise ScenarioError(f"BO {name!r} is defined twice")
        domain, gpu = self.where(loc)
        if domain is Domain.VRAM:
            assert gpu is not None
            if size > gpu.vram_size:
                raise ScenarioError(f"BO {name} ({size} bytes) is larger than {loc} ({gpu.vram_size} bytes)")
            place = yield from self.alloc(
                gpu, domain, size, contiguous=contiguous, fault_path=False, purpose="bo", process=owner.name
            )
        else:
            place = self._try_alloc(gpu or owner.gpus[0], domain, size, contiguous)
        if place is None:
            # the application's allocation fails (-ENOMEM); the BO exists without memory
            self.mon.count("alloc_failures")
            self.mon.find(
                "allocation failed", self.sim.now, f"BO {name} ({size} bytes) does not fit in {loc}"
            )
        bo = Bo(
            name,
            size,
            owner,
            domain,
            gpu,
            pinned=pinned,
            contiguous=contiguous,
            place=place,
            resv=Resv(name),
            created=self.sim.now,
        )
        if pinned and place is not None and place.pool is not None:
            for h, _, _ in place.blocks:
                place.pool.pin(h)
        self._touch(bo)
        self.bos[name] = bo
        owner.bos.append(bo)
        self.log(
            "app", "bo", f"{name} {size} bytes in {place.where() if place else 'nowhere: allocation failed'}"
        )
        return bo

    def map_bo(self, bo: Bo, proc: Process, va: int) -> Gen:
        if bo.place is None:
            raise ScenarioError(f"map {bo.name}: the BO has no memory (its allocation failed)")
        for vm in proc.vms.values():
            if not self._reachable(vm.gpu, bo.place):
                continue
            deps = bo.resv.fences(Usage.KERNEL)
            ok = yield from self.map_range(
                vm,
                va,
                (bo.size + PAGE - 1) // PAGE,
                bo.place,
                self._bo_flags(bo),
                fault_path=False,
                deps=deps,
            )
            if ok:
                bo.mappings[vm] = va
        self.log("app", "map", f"{bo.name} into {proc.name} at {va:#x}")

    def unmap_bo(self, bo: Bo, proc: Process) -> Gen:
        fences = []
        for vm, va in list(bo.mappings.items()):
            if vm.process is not proc:
                continue
            # AMDGPU_SYNC_EQ_OWNER: an unmap waits for the VM's own user work
            deps = [
                j.fence
                for j in proc.jobs
                if j.fence is not None and not j.fence.signaled and j.engine.gpu is vm.gpu
            ]
            f = yield from self.update(
                vm,
                self.fill_packets(vm, va, (bo.size + PAGE - 1) // PAGE, 0),
                fault_path=False,
                kind="unmap",
                deps=deps,
            )
            del bo.mappings[vm]
            if f is not None:
                fences.append(f)
        for f in fences:
            yield WaitFence(f)
        self.log("app", "unmap", f"{bo.name} from {proc.name}")

    # ================================================================== jobs
    def submit_job(self, job: Job) -> None:
        proc = job.process
        gpu = job.engine.gpu
        if gpu.name not in proc.vms:
            raise ScenarioError(
                f"job {job.name}: process {proc.name} has no VM on {gpu.name} (engine {job.engine.name})"
            )
        if proc.killed:
            self.log("app", "job refused", f"{job.name}: {proc.name} was killed")
            return
        deps: list[SimFence] = []
        for a in job.after:
            if a.fence is not None:
                deps.append(a.fence)
        for bo, write in job.uses:
            if bo.place is None:
                raise ScenarioError(
                    f"job {job.name} uses {bo.name}, which has no memory (its allocation failed)"
                )
            deps += bo.resv.fences(Usage.READ if write else Usage.WRITE)
        for e in job.engine.queue:
            if e.fence is not None:
                deps.append(e.fence)
        job.fence = self.sim.fence(FenceKind.USER, f"{job.name}", producer=gpu.index, deps=deps)
        job.deps = deps
        assert job.engine.actor is not None
        self.sim.produced_by(job.fence, job.engine.actor.node)
        for bo, write in job.uses:
            bo.resv.add(job.fence, Usage.WRITE if write else Usage.READ)
            self._touch(bo)
        vm = proc.vms[gpu.name]
        on_pt = self.policies.decide(
            "vmcore_cs_fence_on_page_tables", bool, gpu=gpu.name, process=proc.name, job=job.name
        )
        if on_pt is None or on_pt:
            vm.resv.add(job.fence, Usage.WRITE)
            self.mon.find(
                "user fence on page tables",
                self.sim.now,
                f"job {job.name}'s user fence was added to the page-table reservation of {proc.name} on {gpu.name}",
            )
        proc.jobs.append(job)
        self.jobs[job.name] = job
        job.engine.queue.append(job)
        job.wake = Signal(f"{job.name} wake")
        assert job.engine.actor is not None
        self.sim.fire(self._engine_signal(job.engine))
        self.log("app", "submit", f"{job.name} on {job.engine.name}")

    def _engine_signal(self, eng: Engine) -> Signal:
        if eng.signal is None:
            eng.signal = Signal(f"{eng.name} queue")
        return eng.signal

    def _engine_loop(self, eng: Engine) -> Proc:
        sig = self._engine_signal(eng)
        assert eng.actor is not None
        while True:
            if not eng.queue:
                self.sim.node_names[eng.actor.node] = eng.name
                yield WaitSignal(sig)
                continue
            job = eng.queue[0]
            self.sim.node_names[eng.actor.node] = f"{eng.name} running {job.name}"
            for f in job.deps:
                yield WaitFence(f)
            if not job.process.killed:
                yield from self._restore_root_pd(job.process.vms[eng.gpu.name])
            if not job.process.killed:
                job.started = self.sim.now
                self.log(eng.name, "start", job.name)
                yield from self._run_job(eng, job)
            if eng.queue and eng.queue[0] is job:
                eng.queue.pop(0)
            self._finish_job(job)

    def _restore_root_pd(self, vm: Vm) -> Gen:
        """An evicted root PD comes back to VRAM before the VM's next job (the validation a
        CS does upstream: amdgpu_vm_validate)."""
        root = vm.root
        if not vm.alive or root.place is None or root.place.domain is Domain.VRAM:
            return
        old = root.place  # another thread may restore it while this one allocates
        new = yield from self.alloc(
            vm.gpu,
            Domain.VRAM,
            PAGE,
            contiguous=True,
            fault_path=False,
            purpose="pt",
            process=vm.process.name,
        )
        if new is None or root.place is not old or not vm.alive:
            if new is not None:
                self.free_place(new, "a root PD restored twice")
            return
        copy = self.submit_copy(vm.gpu, old, new, PAGE, f"restore root PD of {vm.process.name}@{vm.gpu.name}")
        root.resv.add(copy, Usage.KERNEL)
        yield WaitFence(copy)
        root.place = new
        self.pt_at.pop(old.address_of(0), None)
        self.pt_at[new.address_of(0)] = root
        vm.pt.move(vm.pt.root, new.address_of(0))
        self.free_place(old, f"restoring the root PD of {vm.process.name}")
        self.log(
            self._current_name(),
            "root PD restored",
            f"{vm.process.name}@{vm.gpu.name} at {new.address_of(0):#x}",
        )

    def _finish_job(self, job: Job) -> None:
        if job.finished is not None:
            return
        job.finished = self.sim.now
        assert job.fence is not None
        if job.process.killed:
            job.error = job.error or "killed"
            self.sim.signal(job.fence, ECANCELED)
            self.log(job.engine.name, "aborted", f"{job.name}: {job.error}")
        else:
            self.sim.signal(job.fence)
            self.log(job.engine.name, "done", job.name)

    def _run_job(self, eng: Engine, job: Job) -> Gen:
        """Access the job's pages in address order, spread evenly over ``takes``.

        Pages that translate are accessed as time passes; a PTE update touching the pages
        still ahead wakes the job so it walks them again.  A page that does not translate
        stalls the job: a retry or no-retry fault, or a silent retry without a fault.
        """
        proc = job.process
        vm = proc.vms[eng.gpu.name]
        total = sum(max(1, a.size // PAGE) for a in job.accesses) or 1
        start = self.sim.now
        stalled_for = 0
        pos = 0
        for acc in job.accesses:
            npages = max(1, acc.size // PAGE)
            perms = int(Pte.READABLE | Pte.WRITEABLE) if acc.write else int(Pte.READABLE)
            i = 0
            retries = 0
            retry_page = -1
            while i < npages:
                while self.quiesced.get(proc.name):
                    t0 = self.sim.now
                    yield WaitSignal(self.resume[proc.name])
                    stalled_for += self.sim.now - t0
                if proc.killed:
                    return
                idx, walk = vm.pt.scan(acc.va + i * PAGE, npages - i, perms)
                if idx > 0 and acc.write:
                    # the pages of this window are written through the PTEs as they are now
                    if acc.src is not None:
                        self.store.gpu_copy(vm.pt, acc.src + i * PAGE, acc.va + i * PAGE, idx)
                    else:
                        self.store.gpu_write(vm.pt, acc.va + i * PAGE, idx, acc.value)
                if idx > 0:
                    t_end = start + stalled_for + ((pos + i + idx) * job.takes) // total
                    if t_end > self.sim.now:
                        watch = (job, acc.va + i * PAGE, acc.va + (i + idx) * PAGE)
                        vm.watching.append(watch)
                        why = yield WaitSignal(job.wake or Signal("never"), None, t_end)
                        vm.watching.remove(watch)
                        if why == "signal":
                            done = ((self.sim.now - start - stalled_for) * total) // job.takes - pos
                            i = max(i, min(i + idx, done))
                            continue
                    i += idx
                    continue
                va = acc.va + i * PAGE
                if va != retry_page:  # retries count per page: a new page starts afresh
                    retry_page, retries = va, 0
                self._touch_range(proc, va)
                t0 = self.sim.now
                watch = (job, va, va + PAGE)
                if walk.reason is WalkReason.SILENT_RETRY or retries >= MAX_RETRIES:
                    if walk.reason is WalkReason.SILENT_RETRY:
                        self.log(eng.name, "silent retry", f"{job.name} at {va:#x}")
                    vm.watching.append(watch)
                    yield WaitSignal(job.wake or Signal("never"))
                    vm.watching.remove(watch)
                else:
                    retry = (
                        eng.retry
                        and vm.retry_faults
                        and walk.reason in (WalkReason.INVALID, WalkReason.NO_TABLE)
                    )
                    if retries:
                        self.mon.count("retries")
                    fault = self.post_fault(
                        vm, va, acc.write, retry, walk.reason.name.lower().replace("_", " ")
                    )
                    if fault is None:
                        yield Sleep(RETRY_DELAY_NS)
                    else:
                        node = self.fault_node(fault)
                        yield WaitSignal(fault.signal, node or None)
                        if proc.killed:
                            return
                        if fault.record.outcome != "mapped":
                            yield Sleep(RETRY_DELAY_NS)
                    retries += 1
                stalled_for += self.sim.now - t0
            pos += npages
        end = start + stalled_for + job.takes
        if end > self.sim.now:
            yield Sleep(end - self.sim.now)

    def _touch_range(self, proc: Process, va: int) -> None:
        r = proc.range_at(va)
        if r is not None:
            self._touch(r.granule_at(va))

    # ================================================================== faults
    def post_fault(self, vm: Vm, va: int, write: bool, retry: bool, reason: str) -> Fault | None:
        """Put a fault in the GPU's IH ring unless the filter already holds it; None when the ring is full."""
        ih = self.ih[vm.gpu.name]
        key = (va >> 12, vm.pasid)
        existing = ih.pending.get(key)
        if existing is not None:
            return existing
        if len(ih.queue) >= IH_RING_ENTRIES:
            self.mon.count("ih_overflows")
            return None
        rec = FaultRecord(vm.gpu.name, vm.process.name, va, write, retry, self.sim.now)
        self.mon.faults.append(rec)
        self.mon.counters["faults"] += 1
        f = Fault(rec, vm, va, write, retry, reason, 0, Signal("fault"), key)
        ih.pending[key] = f
        ih.queue.append(f)
        self.sim.fire(ih.signal)
        if self.mon.logging:
            kind = "retry" if retry else "no-retry"
            self.log(
                vm.gpu.name,
                "fault",
                f"{kind} {'write' if write else 'read'} at {va:#x} by {vm.process.name} ({reason})",
            )
        return f

    def fault_node(self, f: Fault) -> int:
        """The fault's wait-for-graph node (made when a job first waits for it): fault -> handler."""
        if not f.node and f.record.resolved is None:
            kind = "retry" if f.retry else "no-retry"
            f.node = self.sim.node(
                NodeKind.FAULT, f"{kind} fault {f.va:#x} of {f.vm.process.name} on {f.vm.gpu.name}"
            )
            handler = self.ih[f.vm.gpu.name].handler
            assert handler is not None
            self.sim.edge(f.node, handler.node)
        return f.node

    def resolve(self, f: Fault, outcome: str) -> None:
        ih = self.ih[f.vm.gpu.name]
        ih.pending.pop(f.key, None)
        f.record.outcome = outcome
        f.record.resolved = self.sim.now
        self.sim.fire(f.signal)
        if f.node:
            self.sim.drop_node(f.node)
            f.node = 0
        if self.mon.logging:
            self.log(
                f"fault handler {f.vm.gpu.name}", "resolved", f"{f.va:#x} of {f.vm.process.name}: {outcome}"
            )

    def _fault_handler(self, gpu: Gpu, ih: IhRing) -> Proc:
        while True:
            if not ih.queue:
                yield WaitSignal(ih.signal)
                continue
            f = ih.queue.popleft()
            if len(ih.queue) == IH_RING_ENTRIES // 2:
                self.sim.fire(ih.space)  # writers blocked on a full ring resume once half of it drained
            yield Sleep(FAULT_NS)
            if self._already_mapped(f):
                self.resolve(f, "mapped")  # another fault on this page or range already fixed it
                extra = self._fast_forward(ih)
                if extra:
                    yield Sleep(extra * FAULT_NS)
                continue
            outcome = yield from self._handle_fault(f)
            self.resolve(f, outcome)

    def _already_mapped(self, f: Fault) -> bool:
        vm = f.vm
        return f.retry and vm.alive and not vm.process.killed and vm.pt.translates(f.va, self._perm(f.write))

    def _fast_forward(self, ih: IhRing) -> int:
        """Resolve the queued faults that are already mapped, back to back, without a
        simulation step each, as long as nothing else can happen meanwhile: no other
        actor runs before the last of them is done, no job waits for them, and the event
        log is off (its entries would come out of time order).  Returns how many; each
        one's resolution time is exactly what one step per fault would have given."""
        if self.mon.logging:
            return 0
        n = 0
        now = self.sim.now
        while ih.queue:
            g = ih.queue[0]
            if g.node or not self.sim.quiet_until(now + (n + 1) * FAULT_NS) or not self._already_mapped(g):
                break
            if len(ih.queue) - 1 == IH_RING_ENTRIES // 2 and ih.space.waiters:
                break  # popping it would wake a writer now: let the normal path do it
            ih.queue.popleft()
            n += 1
            ih.pending.pop(g.key, None)
            g.record.outcome = "mapped"
            g.record.resolved = now + n * FAULT_NS
        return n

    @staticmethod
    def _perm(write: bool) -> int:
        return PERM_W if write else PERM_R

    def _handle_fault(self, f: Fault) -> Gen:
        vm, proc = f.vm, f.vm.process
        if proc.killed or not vm.alive:
            return "dropped"
        if not f.retry:
            return (yield from self._unhandled(f, f"no-retry fault ({f.reason})"))
        r = proc.range_at(f.va)
        if r is None:
            hit = self._bo_at(vm, f.va)
            if hit is None:
                return (yield from self._unhandled(f, "no range or mapping at the address"))
            bo, bva = hit
            assert bo.place is not None
            ok = yield from self.map_range(
                vm, bva, (bo.size + PAGE - 1) // PAGE, bo.place, self._bo_flags(bo), fault_path=True
            )
            return "mapped" if ok else "failed"
        if vm.gpu.name in r.no_access:
            return (yield from self._unhandled(f, "the GPU has no access to the range"))
        if f.write and r.readonly:
            return (yield from self._unhandled(f, "write to a read-only range"))
        g = r.granule_at(f.va)
        if g.migrating:
            return "busy"
        req = MigrationRequest(
            vm.gpu.name,
            proc.name,
            f.va,
            g.va,
            g.size,
            g.place.where(),
            r.preferred,
            tuple(r.access),
            tuple(r.in_place),
            tuple((x.name, x.hive) for x in proc.gpus),
            vm.retry_faults,
        )
        dec = self.policies.decide("vmcore_migration", MigrationDecision, request=req) or MigrationDecision(
            f"{vm.gpu.name}.vram" if vm.gpu.name in r.access else g.place.where()
        )
        if dec.target != g.place.where():
            if dec.in_fault_handler:
                yield from self.migrate(
                    g, dec.target, fault_path=True, silent=dec.silent_retry, cause=f"fault on {vm.gpu.name}"
                )
            else:
                self.worker_queue.append((g, dec.target, dec.silent_retry))
                self.sim.fire(self.worker_signal)
        if not self._reachable(vm.gpu, g.place):
            ok = yield from self.migrate(
                g, "system", fault_path=True, silent=dec.silent_retry, cause=f"fault on {vm.gpu.name}"
            )
            if not ok:
                return "failed"
        ok = yield from self.map_range(
            vm, g.va, g.npages, g.place, self._range_flags(r, g.place), fault_path=True
        )
        return "mapped" if ok else "failed"

    def _bo_at(self, vm: Vm, va: int) -> tuple[Bo, int] | None:
        for bo in vm.process.bos:
            base = bo.mappings.get(vm)
            if base is not None and base <= va < base + bo.size:
                return bo, base
        return None

    def _unhandled(self, f: Fault, reason: str) -> Gen:
        vm = f.vm
        action = (
            self.policies.decide(
                "vmcore_fault_action",
                FaultAction,
                fault=FaultInfo(vm.gpu.name, vm.process.name, f.va, f.write, reason),
            )
            or FaultAction.KILL
        )
        self.log(
            f"fault handler {vm.gpu.name}",
            "unhandled",
            f"{f.va:#x} of {vm.process.name}: {reason} -> {action}",
        )
        if action is FaultAction.KILL:
            self.kill(vm.process, f"no-retry fault at {f.va:#x} on {vm.gpu.name}: {reason}")
            return "killed"
        ok = yield from self.ensure_pts(vm, f.va, 1, fault_path=True)
        if not ok:
            return "failed"
        if action is FaultAction.SILENCE:
            pk = self.fill_packets(vm, f.va, 1, SILENT_FLAGS)
            fence = yield from self.update(vm, pk, fault_path=True, kind="map")
            if fence is not None:
                yield WaitFence(fence)
            return "silenced"
        pk = self.map_packets(
            vm, f.va, 1, self.dummy_page, int(Pte.READABLE | Pte.WRITEABLE | Pte.SYSTEM | Pte.SNOOPED)
        )
        fence = yield from self.update(vm, pk, fault_path=True, kind="map")
        if fence is not None:
            yield WaitFence(fence)
        return "dummy page"

    # ================================================================== migration
    def migrate(self, g: Granule, target: str, *, fault_path: bool, silent: bool, cause: str) -> Gen:
        """Move a granule: allocate, MMU-notifier invalidation, copy, free; returns success."""
        if g.migrating or g.place.where() == target:
            return g.place.where() == target
        proc = g.range.process
        g.migrating = True
        try:
            domain, gpu = self.where(target)
            if domain is Domain.VRAM:
                assert gpu is not None
                new = yield from self.alloc(
                    gpu,
                    Domain.VRAM,
                    g.size,
                    contiguous=False,
                    fault_path=fault_path,
                    purpose="migration",
                    process=proc.name,
                    exclude=(g,),
                )
                if new is None:
                    self.mon.count("alloc_failures")
                    self.log(
                        self._current_name(),
                        "migration failed",
                        f"{proc.name} {g.va:#x}: no room in {target}",
                    )
                    return False
            else:
                new = self.sysmem.alloc(g.size)
            stop = not proc.retry_faults or proc.prefill
            if stop:
                self.quiesced[proc.name] = self.quiesced.get(proc.name, 0) + 1
            # MMU notifier: invalidate every GPU mapping of the granule
            yield from self._invalidate_granule(proc, g, SILENT_FLAGS if silent else 0)
            if new.domain is Domain.VRAM and new.gpu is not None:
                src_gpu = new.gpu
            else:
                src_gpu = g.place.gpu or proc.gpus[0]
            copy = self.submit_copy(src_gpu, g.place, new, g.size, f"{proc.name} {g.va:#x} to {target}")
            yield WaitFence(copy)
            old = g.place
            g.place = new
            self.free_place(old, f"migration of {proc.name} {g.va:#x} ({cause})", self._granule_scope(g))
            if silent:
                yield from self._invalidate_granule(proc, g, 0)
            self.mon.count("migrations")
            self.mon.count("bytes_moved", g.size)
            self.log(
                self._current_name(), "migrated", f"{proc.name} {g.va:#x} +{g.size:#x} to {target} ({cause})"
            )
            if stop:
                yield from self._map_on_access(proc, g.range, [g])
                self.quiesced[proc.name] -= 1
                if not self.quiesced[proc.name]:
                    self.sim.fire(self.resume[proc.name])
            return True
        finally:
            g.migrating = False

    def _migration_worker(self) -> Proc:
        while True:
            if not self.worker_queue:
                yield WaitSignal(self.worker_signal)
                continue
            g, target, silent = self.worker_queue.popleft()
            if g.range.process.killed:
                continue
            yield from self.migrate(g, target, fault_path=False, silent=silent, cause="migration worker")

    # ================================================================== app-thread statements
    def cpu_access(self, proc: Process, va: int, size: int, write: bool, value: int = 1) -> Gen:
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
                if g.place.domain is Domain.VRAM:
                    self.mon.count("cpu_faults")
                    yield Sleep(CPU_FAULT_NS)
                    yield from self.migrate(g, "system", fault_path=False, silent=False, cause="cpu fault")
            if write:
                lo, hi = max(a, g.va), min(end, g.va + g.size)
                for addr, n in g.place.runs(lo - g.va, hi - lo):
                    self.store.fill(addr, n // PAGE, value)
            a = g.va + g.size
        self.log("app", "cpu", f"{proc.name} {'writes' if write else 'reads'} {va:#x} +{size:#x}")

    def prefetch_target(self, proc: Process, r: SvmRange, target: str) -> str:
        """svm_range_best_prefetch_location: VRAM only if the GPUs that map the range in
        place (and, with retry faults off, those that access it) share the target's hive."""
        domain, gpu = self.where(target)
        if domain is not Domain.VRAM or gpu is None:
            return target
        users = set(r.in_place) if proc.retry_faults else set(r.access) | set(r.in_place)
        if any(self.gpus[u].hive != gpu.hive for u in users if u in self.gpus):
            return "system"
        return target

    def migrate_hint(self, proc: Process, va: int, size: int, target: str) -> Gen:
        self.where(target)
        silent = bool(self.policies.policies["migration"].args.get("silent_retry", False))
        end = va + size
        a = va
        while a < end:
            r = proc.range_at(a)
            if r is None:
                raise ScenarioError(f"migrate {a:#x}: no svm range of {proc.name} there")
            g = r.granule_at(a)
            where = self.prefetch_target(proc, r, target)
            yield from self.migrate(g, where, fault_path=False, silent=silent, cause="prefetch hint")
            a = g.va + g.size

    def _invalidate_granule(self, proc: Process, g: Granule, value: int) -> Gen:
        """Write ``value`` (invalid, or silent retry) over the granule's PTEs in every live
        VM of the process through the update path, then wait for all those updates."""
        fences = []
        for vm in proc.vms.values():
            if vm.alive:
                f = yield from self.update(
                    vm, self.fill_packets(vm, g.va, g.npages, value), fault_path=False, kind="invalidate"
                )
                if f is not None:
                    fences.append(f)
        for f in fences:
            yield WaitFence(f)

    def munmap(self, proc: Process, va: int, size: int) -> Gen:
        end = va + size
        for r in list(proc.ranges):
            keep = []
            for g in r.granules:
                if g.va < end and va < g.va + g.size:
                    yield from self._invalidate_granule(proc, g, 0)
                    self.free_place(g.place, f"munmap of {proc.name} {g.va:#x}", self._granule_scope(g))
                else:
                    keep.append(g)
            if len(keep) == len(r.granules):
                continue
            r.granules = keep
            if not keep:
                proc.ranges.remove(r)
            else:  # what is left may have a hole: range_at checks for a granule
                r.start = keep[0].va
                r.size = keep[-1].va + keep[-1].size - r.start
        self.log("app", "munmap", f"{proc.name} {va:#x} +{size:#x}")

    def evict_page_tables(self, proc: Process, gpu: str | None, va: int | None) -> Gen:
        for vm in list(proc.vms.values()):
            if (gpu is not None and vm.gpu.name != gpu) or not vm.alive:
                continue  # a torn-down VM has no page tables left to evict
            handles = (
                vm.pt.pts_in_range(va & ~(PAGE - 1), 1) if va is not None else vm.pt.pts_in_range(0, 1 << 36)
            )
            for h in handles:
                bo = vm.pt_bos.get(h)
                if bo is not None and bo.place is not None and bo.place.domain is Domain.VRAM:
                    yield from self.evict(bo, fault_path=False, why="evict page tables")
        self.log("app", "evict page tables", f"{proc.name}")

    def replay_faults(self, proc: Process, trace: list[tuple[str, int, bool]]) -> Gen:
        """Post recorded retry faults (gpu, address, write) into the IH rings, as fast as they drain."""
        for gname, va, write in trace:
            vm = proc.vms[gname]
            while self.post_fault(vm, va & ~(PAGE - 1), write, True, "replayed") is None:
                self.mon.counters["ih_overflows"] -= 1  # back-pressure here, not a lost fault
                ih = self.ih[gname]
                if len(ih.queue) > IH_RING_ENTRIES // 2:
                    yield WaitSignal(ih.space)

    def values_at(self, proc: Process, va: int, size: int, value: int) -> tuple[bool, str]:
        """Does every page of [va, va + size) hold ``value`` where the process's data is now?"""
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
                idx, seen = self.store.check(addr, n // PAGE, value)
                if idx < n // PAGE:
                    return (
                        False,
                        f"{a + (addr - place.address_of(off)) + idx * PAGE:#x} of {proc.name} reads {seen}",
                    )
            a = hi
        return True, f"{va:#x} +{size:#x} of {proc.name} reads {value}"

    # ================================================================== kill and teardown
    def kill(self, proc: Process, reason: str) -> None:
        """Destroy P's queues: jobs end with an error fence, pending faults are dropped."""
        if proc.killed:
            return
        proc.killed = True
        proc.killed_at = self.sim.now
        proc.kill_reason = reason
        self.log("kfd", "kill", f"{proc.name}: {reason}")
        for ih in self.ih.values():
            for f in list(ih.queue):
                if f.vm.process is proc:
                    ih.queue.remove(f)
                    self.resolve(f, "dropped")
        for job in proc.jobs:
            if job.wake is not None:
                self.sim.fire(job.wake)
            if (
                job.started is None
                and job.finished is None
                and job in job.engine.queue
                and job.engine.queue[0] is not job
            ):
                job.engine.queue.remove(job)
                job.error = "killed before it ran"
                self._finish_job(job)
        for vm in proc.vms.values():
            for job, _, _ in list(vm.watching):
                if job.wake is not None:
                    self.sim.fire(job.wake)
        self.sim.fire(self.resume[proc.name])
        self.quiesced.pop(proc.name, None)
        self.teardowns[proc.name] = self.sim.spawn(f"teardown {proc.name}", self._teardown(proc))

    def _teardown(self, proc: Process) -> Proc:
        """Wait for the VMs' last fences, then free page tables and memory (PTEs first)."""
        for job in proc.jobs:
            if job.fence is not None and not job.fence.signaled:
                yield WaitFence(job.fence)
        for vm in proc.vms.values():
            for f in vm.resv.fences(Usage.BOOKKEEP):
                if f is vm.root_fence:
                    continue
                yield WaitFence(f)
        for vm in proc.vms.values():
            vm.alive = False
            if vm.root_fence is not None:
                self.sim.signal(vm.root_fence)
            for bo in list(vm.pt_bos.values()):
                self._drop_pt(vm, bo)
            if vm.root.place is not None:
                if vm.root.pinned and vm.root.place.pool is not None:
                    vm.root.place.pool.unpin(vm.root.place.blocks[0][0])
                self.pt_at.pop(vm.root.place.address_of(0), None)
                self.bos.pop(vm.root.name, None)
                vm.pt.close()  # the PTEs go before the memory they point to
                self.free_place(vm.root.place, f"teardown of {proc.name}")
                vm.root.place = None
            else:
                vm.pt.close()
            pq = self.pq[vm.gpu.name]
            pq.entities = [e for e in pq.entities if e is not vm.immediate and e is not vm.delayed]
        for bo in proc.bos:
            for f in bo.resv.fences(Usage.BOOKKEEP):
                yield WaitFence(f)
            if bo.place is not None:
                if bo.pinned and bo.place.pool is not None:
                    for h, _, _ in bo.place.blocks:
                        bo.place.pool.unpin(h)
                self.free_place(bo.place, f"teardown of {proc.name}")
                bo.place = None
            self.bos.pop(bo.name, None)
        for r in proc.ranges:
            for g in r.granules:
                if g.place.blocks:
                    self.free_place(g.place, f"teardown of {proc.name}")
        self.log("kfd", "teardown", f"{proc.name} released")
        proc.released = True

    def ring_damage(self) -> list[str]:
        """The integrity check of every page queue at the end of the run."""
        out = []
        for pq in self.pq.values():
            bad = pq.ring.check()
            if bad is not None:
                out.append(f"{pq.engine.name}: {bad}")
        return out

    def leaks(self) -> list[str]:
        """What killed processes still hold once their teardown should have finished."""
        out = []
        for proc in self.processes.values():
            if not proc.killed:
                continue
            held = []
            for vm in proc.vms.values():
                if vm.alive:
                    held.append(f"VM on {vm.gpu.name}")
                if vm.root.place is not None:
                    held.append(f"root PD on {vm.gpu.name}")
                if vm.pt_bos:
                    held.append(f"{len(vm.pt_bos)} page table(s) on {vm.gpu.name}")
            for bo in proc.bos:
                if bo.place is not None:
                    held.append(f"BO {bo.name}")
            for r in proc.ranges:
                n = sum(1 for g in r.granules if g.place.blocks)
                if n:
                    held.append(f"{n} granule(s) of range {r.start:#x}")
            pending = sum(1 for ih in self.ih.values() for k in ih.pending if k[1] == proc.pasid)
            if pending:
                held.append(f"{pending} pending fault(s)")
            if held:
                out.append(f"{proc.name}: " + ", ".join(held))
        return out

    def close(self) -> None:
        self.store.close()
        for proc in self.processes.values():
            for vm in proc.vms.values():
                vm.pt.close()
        for pq in self.pq.values():
            pq.ring.close()
        for gpu in self.gpus.values():
            for pool in (gpu.vram, gpu.gtt, gpu.pt_reserve):
                if pool is not None:
                    pool.close()
