"""The SDMA page queue of a GPU: the ring, its scheduler thread and the SDMA executor.

Models ``amdgpu_ring.c`` (reserve, write, commit: no lock), the drm_sched run queue of
the ring (entities are FIFOs of kernel jobs; the scheduler thread picks a ready entity
round robin and writes its head job's packets and a FENCE into the ring) and the SDMA
engine that consumes packets.  PTEs change only when the executor consumes a PTEPDE
packet; it writes them through the PTE-write sink the VM room wires in (``write_ptes``).

Invariants: a kernel job leaves its entity only once its dependencies signaled and the
job before it on the entity was written; packets are executed in ring order; a FENCE
packet signals the fence of the job that wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from vmcore.core import Command, FenceKind, NodeKind, Op, Ring, RingMode, packet_dw
from vmcore.engine.gpu.device import Device, Text, text
from vmcore.engine.model import PAGE, Engine, Gpu, Placement, Resv, Usage
from vmcore.engine.sim import Proc, Signal, SimFence, Sleep, WaitFence, WaitSignal
from vmcore.errors import RingCorrupt

if TYPE_CHECKING:
    from collections.abc import Generator

    Gen = Generator[Any, Any, Any]

PTE_PACKET_NS = 100
"""SDMA: one PTEPDE packet (up to 512 PTEs)."""
COPY_BYTES_PER_NS = 16
"""SDMA copy bandwidth (16 GB/s)."""
COPY_SETUP_NS = 500


def copy_ns(nbytes: int) -> int:
    """How long one SDMA COPY packet of ``nbytes`` takes: its setup, then the bandwidth."""
    return COPY_SETUP_NS + nbytes // COPY_BYTES_PER_NS


PAGE_QUEUE_DW = 16384
SCHED_WRITER = 1
"""The ring writer id of the scheduler thread."""
DIRECT_WRITER = 2
"""The ring writer id of direct submissions (``amdgpu_job_submit_direct``)."""

Packets = list[Command]
"""A kernel job's packets as the core lays them out: ``(Op.PTEPDE, pe, flags, addr,
incr, count)`` or ``(Op.COPY, src, dst, 0, 0, bytes)``."""
PACKET_DW: Final = {op: packet_dw(op) for op in (Op.PTEPDE, Op.COPY, Op.FENCE)}
"""Packet sizes, read once from the core."""
_PTEPDE_DW, _COPY_DW, _FENCE_DW = PACKET_DW[Op.PTEPDE], PACKET_DW[Op.COPY], PACKET_DW[Op.FENCE]
_OP_PTEPDE, _OP_COPY, _OP_FENCE = Op.PTEPDE, Op.COPY, Op.FENCE
"""Enum members as module constants for the per-fault paths: under Python 3.11 a read
through the class (``Op.COPY``) costs ~95 ns, EnumType.__getattr__ keeping it off the fast path."""
FENCE_ADDR = 0x1000
"""Where the page queue's FENCE packets write their sequence number."""
_PREEMPT = Sleep(0)
_PTE_PACKET = Sleep(PTE_PACKET_NS)
_STEPS_STOOD_FOR = 5
"""The steps of a kernel job beyond one per packet: three of the scheduler thread
(reserve, write, commit), the engine's FENCE step, and the submitter's wake-up."""


@dataclass(eq=False)
class Entity:
    """A drm_sched entity: a FIFO of kernel jobs feeding one ring's scheduler thread."""

    name: str
    ring_engine: Engine
    queue: list[KernelJob] = field(default_factory=list)
    last: SimFence | None = None
    """Fence of the last job pushed: the next one is ordered after it (FIFO)."""


@dataclass(eq=False)
class KernelJob:
    """Kernel work for the page queue: PT updates or a copy, with its dependencies."""

    name: str
    packets: Packets
    deps: list[SimFence]
    fence: SimFence
    node: int = 0


def _unwired(pq: PageQueue, pe: int, flags: int, addr: int, incr: int, count: int) -> None:
    raise AssertionError(f"{pq.engine.name}: no PTE-write sink was wired")


class PageQueue:
    """A GPU's SDMA page queue: the core ring, its entities, scheduler thread and executor."""

    def __init__(self, dev: Device, gpu: Gpu, engine: Engine) -> None:
        self.dev = dev
        self.sim = dev.sim
        self.gpu = gpu
        self.engine = engine
        self.ring = Ring(PAGE_QUEUE_DW, RingMode.LOCKED if engine.locked else RingMode.LOCKLESS)
        engine.ring = self.ring
        self.entities: list[Entity] = []
        self.wake = Signal("sched")
        self.doorbell = Signal("doorbell")
        self.space = Signal("ring space")
        self.lock_free = Signal("ring lock")
        self.seq = 0
        self.queued = 0
        """Kernel jobs waiting on the entities."""
        self.fences: dict[int, SimFence] = {}
        self.rr = 0
        self.hung = False
        self.move_entity = Entity(f"{gpu.name} ttm", engine)
        """TTM's entity: kernel copies of evictions and migrations."""
        self.entities.append(self.move_entity)
        self.write_ptes: Callable[[PageQueue, int, int, int, int, int], None] = _unwired
        """The PTE-write sink: the VM room writes PTEs where a PTEPDE packet says."""
        self._sched_idle = False
        """The scheduler thread waits for work (and has not been woken since)."""
        self._exec_idle = False
        """The SDMA engine waits for the doorbell (and has not been rung since)."""

    def start(self) -> None:
        """Spawn the scheduler thread and the SDMA executor."""
        self.sim.spawn(f"{self.engine.name} scheduler", self._sched_thread())
        self.sim.spawn(f"{self.engine.name} page queue", self._sdma_exec())

    def add_entity(self, name: str) -> Entity:
        ent = Entity(name, self.engine)
        self.entities.append(ent)
        return ent

    def remove_entities(self, *gone: Entity | None) -> None:
        """A VM is torn down: its entities leave the run queue (with what they held)."""
        self.queued -= sum(len(e.queue) for e in self.entities if any(e is g for g in gone))
        self.entities = [e for e in self.entities if all(e is not g for g in gone)]

    # -- submission ----------------------------------------------------------------
    def push_kernel_job(self, entity: Entity, job: KernelJob) -> None:
        """``drm_sched_entity_push_job``: queue ``job`` behind the entity's last one."""
        sim = self.sim
        job.node = sim.node(NodeKind.JOB, f"{entity.name}: {job.name}")
        sim.produced_by(job.fence, job.node)
        entity.last = job.fence
        for d in job.deps:
            if not d.signaled:
                sim.edge(job.node, d.node)
                d.callbacks.append(self._wake_scheduler)
        entity.queue.append(job)
        self.queued += 1
        sim.fire(self.wake)

    def _wake_scheduler(self, _f: SimFence) -> None:
        self.sim.fire(self.wake)

    @staticmethod
    def _copy_packets(src: Placement, dst: Placement, size: int) -> Packets:
        """One COPY packet per piece where both sides are physically contiguous (at most
        1 GiB each): the two lists of runs walked side by side, once."""
        pkts: Packets = []
        if size <= 0:
            return pkts
        s_runs = src.runs(0, size)
        d_runs = dst.runs(0, size)
        i = j = 0
        s_addr, s_left = s_runs[0]
        d_addr, d_left = d_runs[0]
        done = 0
        while done < size:
            n = min(s_left, d_left, 1 << 30)
            pkts.append((_OP_COPY, s_addr, d_addr, 0, 0, n))
            done += n
            s_addr += n
            s_left -= n
            d_addr += n
            d_left -= n
            if done < size:
                if not s_left:
                    i += 1
                    s_addr, s_left = s_runs[i]
                if not d_left:
                    j += 1
                    d_addr, d_left = d_runs[j]
        return pkts

    def copy(self, src: Placement, dst: Placement, size: int, what: Text, resv: Resv | None = None) -> Gen:
        """A kernel copy through TTM's entity (``amdgpu_copy_buffer``), waited for; its
        fence goes on ``resv`` (KERNEL usage) while it runs."""

        def name() -> str:
            return f"copy {text(what)}"

        pkts = self._copy_packets(src, dst, size)
        if self.run_now(self.move_entity, pkts, [], name):
            return
        fence = self.sim.fence(FenceKind.KERNEL, name())
        self.push_kernel_job(self.move_entity, KernelJob(fence.name, pkts, [], fence))
        if resv is not None:
            resv.add(fence, Usage.KERNEL)
        yield WaitFence(fence)

    def copy_unwaited(self, src: Placement, dst: Placement, size: int, what: Text) -> SimFence:
        """The same copy, scheduled and not waited for: its fence (the submitter goes on)."""
        fence = self.sim.fence(FenceKind.KERNEL, f"copy {text(what)}")
        self.push_kernel_job(self.move_entity, KernelJob(fence.name, self._copy_packets(src, dst, size), [], fence))
        return fence

    def run_now(self, entity: Entity, packets: Packets, deps: list[SimFence], name: Text) -> bool:
        """Run a kernel job that its submitter is about to wait for at once, within the
        submitter's step, when nothing else can happen until it is done; returns whether
        it ran (if not, the caller submits it and waits).

        "Nothing else" means: the scheduler thread and the SDMA engine both wait for
        work, no entity holds a job, the ring is idle, no writer waits for ring space or
        the lock, the job's dependencies have signaled (without user work in their
        ancestry), and no other actor is ready or due before the job would finish
        (``Sim.alone``).  The scheduler thread and the engine would then write, consume
        and execute the job with no choice for any scheduler to make; running it here
        gives the same PTE writes and copies at the same simulated times, the same log,
        the same ring pointers (``Ring.skip``: the words the job would leave in the
        buffer are never read again), and the same step count (the steps it stands for
        are counted), without its fence, kernel-job node and actor steps.
        """
        sim = self.sim
        if (
            self.queued
            or not (self._sched_idle and self._exec_idle)
            or self.hung
            or self.space.waiters
            or self.lock_free.waiters
        ):
            return False
        for dep in deps:
            if dep.node or dep.depends_on_user:
                return False
        costs = []
        total = 0
        ndw = _FENCE_DW
        for p in packets:
            if p[0] is _OP_PTEPDE:
                ns = PTE_PACKET_NS
                ndw += _PTEPDE_DW
            else:
                ns = copy_ns(p[5])
                ndw += _COPY_DW
            costs.append(ns)
            total += ns
        # the submitter's n wake-ups, three scheduler steps, the FENCE step, the wake-up on the fence
        if not sim.alone(total, len(packets) + _STEPS_STOOD_FOR):
            return False
        # the packets are executed below: the ring only has to move on as if it carried them
        occ = self.ring.skip(SCHED_WRITER, ndw)
        if occ is None:
            return False
        sim.stood_for(len(packets) + _STEPS_STOOD_FOR)
        self.seq += 1
        self.rr = (self.entities.index(entity) + 1) % len(self.entities)
        counters = self.dev.mon.counters
        if occ > counters["ring_occupancy_max"]:
            counters["ring_occupancy_max"] = occ
        store = self.dev.memory.store
        for (code, a, b, c, d, count), ns in zip(packets, costs, strict=True):
            if code is _OP_PTEPDE:
                self.write_ptes(self, a, b, c, d, count)
            else:
                store.copy(a, b, count // PAGE)
            sim.elapse(ns)
        if self.dev.mon.logging:
            self.dev.log(f"{self.engine.name} page queue", "fence", text(name))
        return True

    def ring_write(self, writer: int, packets: Packets, fence: SimFence) -> Gen:
        """Write packets and a FENCE into the page queue: reserve, write, commit steps."""
        ring = self.ring
        locked = self.engine.locked
        if locked:
            while ring.pointers.lock_owner not in (0, writer):
                yield WaitSignal(self.lock_free)
            ring.lock(writer)
        self.seq += 1
        seq = self.seq
        self.fences[seq] = fence
        todo: Packets = [*packets, (_OP_FENCE, FENCE_ADDR, 0, 0, 0, seq)]
        counters = self.dev.mon.counters
        i = 0
        while i < len(todo):
            p = ring.pointers
            room = min(p.size_dw - p.occupancy, p.size_dw // 2)
            n = 0
            j = i
            while j < len(todo) and n + PACKET_DW[todo[j][0]] <= room:
                n += PACKET_DW[todo[j][0]]
                j += 1
            if j == i:
                yield WaitSignal(self.space)
                continue
            ring.reserve(writer, n)
            yield _PREEMPT  # reserve, write and commit are separate steps: a lockless ring lets others in
            for code, a, b, c, d, count in todo[i:j]:
                if code is _OP_PTEPDE:
                    ring.emit_ptepde(writer, a, b, c, d, count)
                elif code is _OP_COPY:
                    ring.emit_copy(writer, a, b, count)
                else:
                    ring.emit_fence(writer, a, count)
            yield _PREEMPT
            ring.commit(writer)
            occ = ring.pointers.occupancy
            if occ > counters["ring_occupancy_max"]:
                counters["ring_occupancy_max"] = occ
            self.sim.fire(self.doorbell)
            i = j
        if locked:
            ring.unlock(writer)
            self.sim.fire(self.lock_free)

    # -- the actors ----------------------------------------------------------------
    def _sched_thread(self) -> Proc:
        """drm_sched: pick a ready entity (round robin), write its head job into the ring."""
        while True:
            job = None
            n = len(self.entities)
            for k in range(n):
                ent = self.entities[(self.rr + k) % n]
                if ent.queue and all(d.signaled for d in ent.queue[0].deps):
                    job = ent.queue.pop(0)
                    self.queued -= 1
                    self.rr = (self.rr + k + 1) % n
                    break
            if job is None:
                self._sched_idle = True
                yield WaitSignal(self.wake)
                self._sched_idle = False
                continue
            for d in job.deps:
                self.sim.unedge(job.node, d.node)
            yield from self.ring_write(SCHED_WRITER, job.packets, job.fence)
            # later jobs of its entity no longer wait behind it in the FIFO
            self.sim.fire(self.wake)

    def _sdma_exec(self) -> Proc:
        """The SDMA engine: consume packets; PTEs change only here."""
        name = f"{self.engine.name} page queue"
        mon = self.dev.mon
        store = self.dev.memory.store
        while True:
            try:
                cmd = self.ring.consume_command()
            except RingCorrupt as e:
                self.hung = True
                mon.find("ring", self.sim.now, f"{self.engine.name}: {e}")
                yield WaitSignal(Signal("hung ring"))
                return
            if cmd is None:
                self._exec_idle = True
                yield WaitSignal(self.doorbell)
                self._exec_idle = False
                continue
            self.sim.fire(self.space)
            code, a, b, c, d, count = cmd
            if code is _OP_PTEPDE:
                self.write_ptes(self, a, b, c, d, count)
                yield _PTE_PACKET
            elif code is _OP_COPY:
                store.copy(a, b, count // PAGE)
                yield Sleep(copy_ns(count))
            elif code is _OP_FENCE:
                f = self.fences.pop(count, None)
                if f is not None:
                    self.sim.signal(f)
                    if mon.logging:
                        self.dev.log(name, "fence", f.name)

    def damage(self) -> str | None:
        """The integrity check of the ring at the end of the run."""
        bad = self.ring.check()
        return None if bad is None else f"{self.engine.name}: {bad}"

    def close(self) -> None:
        self.ring.close()
