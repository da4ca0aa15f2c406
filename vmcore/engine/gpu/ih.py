"""IH rings and the fault handler.

Models a GPU's IH ring (bounded; ``amdgpu_ih.c``), the retry-fault filter keyed by
(page, PASID) (``amdgpu_gmc_filter_faults``), and the handler that drains it
(``gmc_v9_0_process_interrupt`` -> ``amdgpu_vm_handle_fault``): faults of a dying
process are dropped, no-retry faults and faults at addresses with no range or mapping go
to the ``fault`` policy, a BO mapping is restored in place, an SVM range goes to KFD
(``svm_range_restore_pages``).  Killing a process is the process room's business: the
handler calls the ``on_fatal_fault`` op it was wired with.

Invariants: at most one pending fault per (page, PASID); a fault is resolved exactly
once, and its waiters are woken then.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
from array import array
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from vmcore.core import NodeKind
from vmcore.core.pagetable import Pte
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.svm import Svm, Unhandled
from vmcore.engine.gpu.vm import VmManager
from vmcore.engine.gpu.vm_pt import SILENT_FLAGS, PageTables, bo_flags
from vmcore.engine.model import PAGE, VM_FAULT, Gpu, Process, Vm
from vmcore.engine.monitor import FaultRecord
from vmcore.engine.sim import Actor, Proc, Rescheduled, Signal, Sleep, WaitSignal
from vmcore.hooks.decisions import FaultAction, FaultInfo

Gen = Generator[Any, Any, Any]

FAULT_NS = 1_000
"""Fault handler: interrupt, filter and range lookup per fault."""
IH_RING_ENTRIES = 256
_FAULT_SLEEP = Sleep(FAULT_NS)
_RESCHEDULED = Rescheduled()
_FIRST, _LATER = -(1 << 62), 1 << 62
"""Fast-forward keys: the running handler's pop first, the new wake-ups after every queued one."""
_PAGE_OFFSET = PAGE - 1
_PAGE_MASK = ~_PAGE_OFFSET
PASID_BITS = 20
"""A PASID is 20 bits (PCIe): the filter keys a fault by page << PASID_BITS | PASID."""
PERM_R = int(Pte.READABLE)
PERM_W = int(Pte.WRITEABLE)


class Fault(FaultRecord):
    """A fault in flight: its record (the IH entry as the monitor keeps it) with the VM,
    the filter key, its wait-for node and the signal of the jobs it stalls.  One object
    per fault: the handler resolves the record it queued."""

    __slots__ = ("key", "node", "reason", "signal", "vm")
    __eq__ = object.__eq__  # a fault in flight is itself, whatever its fields say
    __hash__ = object.__hash__

    def __init__(self, vm: Vm, va: int, write: bool, retry: bool, reason: str, now: int, key: int) -> None:
        # the record's fields set here rather than through FaultRecord.__init__: one call less per fault
        self.gpu = vm.gpu.name
        self.process = vm.process.name
        self.address = va
        self.write = write
        self.retry = retry
        self.posted = now
        self.resolved = None
        self.outcome = "pending"
        self.vm = vm
        self.reason = reason
        self.node = 0
        self.key = key
        self.signal: Signal | None = None
        """Fired when it is resolved; made when a job first waits (replayed faults have none)."""

    def __reduce__(self) -> tuple[type[FaultRecord], tuple[object, ...]]:
        """A fault pickles as its record (a parallel run sends its results home): the VM,
        the filter key and the signal stay with the engine that had them."""
        return FaultRecord, tuple(getattr(self, k.name) for k in dataclasses.fields(FaultRecord))

    def waited(self) -> Signal:
        if self.signal is None:
            self.signal = Signal("fault")
        return self.signal


@dataclass(eq=False)
class IhRing:
    """A GPU's IH ring (bounded) and its retry-fault filter keyed by (page, PASID)."""

    queue: collections.deque[Fault] = field(default_factory=collections.deque)
    pending: dict[int, Fault] = field(default_factory=dict)
    signal: Signal = field(default_factory=lambda: Signal("ih"))
    space: Signal = field(default_factory=lambda: Signal("ih space"))
    handler: Actor | None = None
    current: Fault | None = None
    """The fault in flight while the handler sleeps on it (``_FAULT_SLEEP``)."""


def _unwired(proc: Process, reason: str) -> None:
    raise AssertionError(f"no on_fatal_fault op was wired (killing {proc.name}: {reason})")


class FaultHandler:
    """Posting faults into IH rings, the per-GPU handler actors, and what they do."""

    def __init__(self, dev: Device, pts: PageTables, vms: VmManager, svm: Svm) -> None:
        self.dev = dev
        self.pts = pts
        self.vms = vms
        self.svm = svm
        self.on_fatal_fault: Callable[[Process, str], None] = _unwired
        """Kill a process (wired to the process room): a no-retry fault under map-or-kill."""
        self._rings: dict[Actor, IhRing] = {}
        """Each handler actor's IH ring (for the fast-forward)."""

    def start(self, gpu: Gpu) -> None:
        ih = gpu.ih = IhRing()
        ih.handler = self.dev.sim.spawn(
            f"fault handler {gpu.name}", self._fault_handler(gpu, ih), kind="handler"
        )
        self._rings[ih.handler] = ih

    # -- posting and resolving ---------------------------------------------------------
    def post_fault(self, vm: Vm, va: int, write: bool, retry: bool, reason: str) -> Fault | None:
        """Put a fault in the GPU's IH ring unless the filter already holds it; None when the ring is full."""
        ih = vm.gpu.ih
        assert ih is not None
        key = (va >> 12) << PASID_BITS | vm.pasid
        pending = ih.pending
        existing = pending.get(key)
        if existing is not None:
            return existing
        dev = self.dev
        mon = dev.mon
        queue = ih.queue
        if len(queue) >= IH_RING_ENTRIES:
            mon.count("ih_overflows")
            return None
        now = dev.sim.now
        f = Fault(vm, va, write, retry, reason, now, key)
        mon.faults.append(f)
        counters = mon.counters
        counters["faults"] += 1
        vm.process.counters["faults"] += 1
        if mon.timeline is not None:
            mon.timeline.record(now, 1, counters["faults"])
        pending[key] = f
        queue.append(f)
        if ih.signal.waiters:
            dev.sim.fire(ih.signal)
        if mon.logging:
            kind = "retry" if retry else "no-retry"
            dev.log(
                vm.gpu.name,
                "fault",
                f"{kind} {'write' if write else 'read'} at {va:#x} by {vm.process.name} ({reason})",
            )
        return f

    def fault_node(self, f: Fault) -> int:
        """The fault's wait-for-graph node (made when a job first waits for it): fault -> handler."""
        if not f.node and f.resolved is None:
            kind = "retry" if f.retry else "no-retry"
            sim = self.dev.sim
            f.node = sim.node(
                NodeKind.FAULT, lambda: f"{kind} fault {f.address:#x} of {f.process} on {f.gpu}"
            )
            ih = f.vm.gpu.ih
            assert ih is not None and ih.handler is not None
            sim.edge(f.node, ih.handler.node)
        return f.node

    def resolve(self, f: Fault, outcome: str) -> None:
        dev = self.dev
        ih = f.vm.gpu.ih
        assert ih is not None
        ih.pending.pop(f.key, None)
        f.outcome = outcome
        f.resolved = dev.sim.now
        if f.signal is not None:
            dev.sim.fire(f.signal)
        if f.node:
            dev.sim.drop_node(f.node)
            f.node = 0
        if dev.mon.logging:
            dev.log(f"fault handler {f.gpu}", "resolved", f"{f.address:#x} of {f.process}: {outcome}")
        del f.vm  # resolved: the record no longer holds the engine (a Result keeps its records)

    def close(self) -> None:
        """The run is over: the faults still in flight let go of their VMs too, so that
        the records a Result keeps do not hold the engine's objects alive."""
        for gpu in self.dev.gpus.values():
            ih = gpu.ih
            if ih is None:
                continue
            for f in ih.pending.values():  # every fault not resolved: queued, in flight or current
                del f.vm
                f.signal = None  # (its waiters are the jobs it stalled)

    def drop_faults_of(self, proc: Process) -> None:
        """A process is being killed: its queued faults are dropped."""
        for gpu in self.dev.gpus.values():
            ih = gpu.ih
            if ih is None:
                continue
            for f in list(ih.queue):
                if f.vm.process is proc:
                    ih.queue.remove(f)
                    self.resolve(f, "dropped")

    def replay_faults(self, proc: Process, trace: list[tuple[str, int, bool]]) -> Gen:
        """Post recorded retry faults (gpu, address, write) into the IH rings, as fast as they drain."""
        vms = proc.vms
        post = self.post_fault
        for gname, va, write in trace:
            vm = vms[gname]
            if va & _PAGE_OFFSET:
                va &= _PAGE_MASK  # (an aligned address is posted as it is: no new int per fault)
            while post(vm, va, write, True, "replayed") is None:
                self.dev.mon.counters["ih_overflows"] -= 1  # back-pressure here, not a lost fault
                ih = vm.gpu.ih
                assert ih is not None
                if len(ih.queue) > IH_RING_ENTRIES // 2:
                    yield WaitSignal(ih.space)

    # -- the handler -------------------------------------------------------------------
    def _fault_handler(self, gpu: Gpu, ih: IhRing) -> Proc:
        sim = self.dev.sim
        mon = self.dev.mon
        wait = WaitSignal(ih.signal)
        queue = ih.queue
        half = IH_RING_ENTRIES // 2
        may_fast_forward = sim.default_schedule  # fixed for the run, like the scheduler
        f: Fault | None = None
        while True:
            if f is None:
                if not queue:
                    yield wait
                    continue
                f = queue.popleft()
                if len(queue) == half:
                    sim.fire(ih.space)  # writers blocked on a full ring resume once half of it drained
                if not sim.advance(FAULT_NS):
                    ih.current = f  # while it sleeps, a fast-forward of another ring may take its steps
                    yield _FAULT_SLEEP
                    f, ih.current = ih.current, None
                    assert f is not None
            if self._already_mapped(f):
                # another fault on this page or range already fixed it
                self.resolve(f, "mapped")
                f = None
                # _fast_forward's preconditions, tested here so that the call is saved when they fail
                if queue and may_fast_forward and not mon.logging and self._fast_forward(ih):
                    yield _RESCHEDULED
                    f, ih.current = ih.current, None
                continue
            outcome = yield from self._handle_fault(f)
            self.resolve(f, outcome)
            f = None

    @staticmethod
    def _already_mapped(f: Fault) -> bool:
        vm = f.vm
        return (
            f.retry
            and vm.alive
            and not vm.process.killed
            and vm.pt.translates(f.address, PERM_W if f.write else PERM_R)
        )

    @staticmethod
    def _mapped_prefix(r: IhRing, bound: int) -> int:
        """How many of ``r``'s faults in a row, the one in flight first and then the
        queue, at most ``bound``, its handler would only resolve: no waiter, no wait-for
        node, and :meth:`_already_mapped`.  The translations are asked in one core call
        per run of faults of one VM (``PageTable.translating_prefix``)."""
        faults: Iterator[Fault] = itertools.islice(r.queue, bound)
        if r.current is not None:
            faults = itertools.chain((r.current,), itertools.islice(r.queue, bound - 1))
        count = 0
        pt = None
        vas, perms = array("Q"), array("Q")
        for f in faults:
            vm = f.vm
            if f.signal is not None or f.node or not f.retry or not vm.alive or vm.process.killed:
                break
            if vm.pt is not pt:
                if pt is not None:
                    got = pt.translating_prefix(vas, perms)
                    count += got
                    if got < len(vas):
                        return count
                    vas, perms = array("Q"), array("Q")
                pt = vm.pt
            vas.append(f.address)
            perms.append(PERM_W if f.write else PERM_R)
        if pt is not None:
            count += pt.translating_prefix(vas, perms)
        return count

    def _fast_forward(self, ih: IhRing) -> bool:
        """Take, within the running handler's step, the steps of the fault handlers that
        only resolve already-mapped faults, in the order and at the times their own steps
        would: ``ih``'s from now on, and those of other rings whose handlers sleep on a
        fault in flight.  Such steps touch only their own ring and fault records, so they
        commute; the window ends before the first other wake-up, the first fault that
        needs more (a restore, a waiter), a pop that would wake a writer, or a budget.
        Returns whether it took any: the handlers' wake-ups then are moved on
        (:meth:`Sim.retime`), each with the fault it then has in flight in ``current``.
        Only with the event log off (its entries would come out of time order) and the
        default schedule (no choices to record): each resolution time, each outcome and
        the step count are exactly what the handlers' own steps would have given."""
        assert ih.current is None  # its handler is running, not sleeping on a fault
        sim = self.dev.sim
        now = sim.now
        limit, steps = sim.horizon(now + IH_RING_ENTRIES * FAULT_NS)
        events: list[tuple[int, int, IhRing]] = [(now, _FIRST, ih)]
        for t, seq, actor, value in sim.due(limit):
            other = self._rings.get(actor)
            if other is not None and other.current is not None and value is None:
                events.append((t, seq, other))
            else:
                limit = min(limit, t - 1)
        if limit < now + FAULT_NS:
            return False
        heapq.heapify(events)
        # how many faults in a row each handler would find already mapped (nothing in the
        # window changes a PTE, a waiter or a process): its events are FAULT_NS apart
        mapped = {r: self._mapped_prefix(r, (limit - t) // FAULT_NS + 1) for t, _, r in events}
        half = IH_RING_ENTRIES // 2
        wakeups: dict[IhRing, int] = {}
        n = 0
        while events and events[0][0] <= limit:
            t, _, r = events[0]
            q = r.queue
            f = r.current  # None only for ih, whose handler is running: its first event is a pop
            if f is not None:
                if not mapped[r]:
                    break  # its handler does more than resolve it: the window ends here
                if not q:
                    heapq.heappop(events)  # its handler resolves it and waits: a step left to it
                    continue
                if n >= steps:
                    break
            if len(q) - 1 == half and r.space.waiters:
                break  # the pop would wake a writer
            if f is not None:  # resolve() for an unwatched fault, unlogged, at its own time t
                n += 1
                mapped[r] -= 1
                r.pending.pop(f.key, None)
                f.outcome = "mapped"
                f.resolved = t
                del f.vm
            r.current = q.popleft()
            heapq.heapreplace(events, (t + FAULT_NS, _LATER + n, r))
            wakeups.pop(r, None)
            wakeups[r] = t + FAULT_NS
        if ih not in wakeups:
            return False
        sim.retime([(r.handler, t) for r, t in wakeups.items() if r.handler is not None])
        sim.stood_for(n)
        return True

    def _handle_fault(self, f: Fault) -> Gen:
        vm, proc = f.vm, f.vm.process
        if proc.killed or not vm.alive:
            return "dropped"
        # the handler holds the process while it restores the fault (kfd_lookup_process_by_pasid):
        # a kill meanwhile tears it down once the restore is over
        return (yield from self.dev.holding((proc,), self._restore(f)))

    def _restore(self, f: Fault) -> Gen:
        vm, proc = f.vm, f.vm.process
        if not f.retry:
            return (yield from self._unhandled(f, f"no-retry fault ({f.reason})"))
        r = proc.range_at(f.address)
        if r is None:
            hit = self.vms.bo_at(vm, f.address)
            if hit is None:
                return (yield from self._unhandled(f, "no range or mapping at the address"))
            bo, bva = hit
            assert bo.place is not None
            ok = yield from self.pts.map_range(
                vm, bva, (bo.size + PAGE - 1) // PAGE, bo.place, bo_flags(bo), fault_path=VM_FAULT
            )
            return "mapped" if ok else "failed"
        outcome = yield from self.svm.restore_pages(vm, r, f.address, f.write)
        if isinstance(outcome, Unhandled):
            return (yield from self._unhandled(f, outcome.reason))
        return outcome

    def _unhandled(self, f: Fault, reason: str) -> Gen:
        dev = self.dev
        vm = f.vm
        action = dev.policies.fault_action(FaultInfo(vm.gpu.name, vm.process.name, f.address, f.write, reason))
        dev.log(
            f"fault handler {vm.gpu.name}",
            "unhandled",
            f"{f.address:#x} of {vm.process.name}: {reason} -> {action}",
        )
        if action is FaultAction.KILL:
            self.on_fatal_fault(vm.process, f"no-retry fault at {f.address:#x} on {vm.gpu.name}: {reason}")
            return "killed"
        ok = yield from self.pts.ensure_pts(vm, f.address, 1, fault_path=VM_FAULT)
        if not ok:
            return "failed"
        if action is FaultAction.SILENCE:
            pk = self.pts.fill_packets(vm, f.address, 1, SILENT_FLAGS)
            yield from self.pts.update(vm, pk, fault_path=VM_FAULT, kind="map", wait=(f.address, 1))
            return "silenced"
        pk = self.pts.map_packets(
            vm,
            f.address,
            1,
            dev.memory.dummy_page,
            int(Pte.READABLE | Pte.WRITEABLE | Pte.SYSTEM | Pte.SNOOPED),
        )
        yield from self.pts.update(vm, pk, fault_path=VM_FAULT, kind="map", wait=(f.address, 1))
        return "dummy page"
