"""The discrete-event kernel: simulated time, actors, fences, waits and the scheduler.

Actors are generators that yield commands (:class:`Sleep`, :class:`WaitFence`,
:class:`WaitSignal`).  Future wake-ups sit in a heap of ``(time, seq, actor)`` so equal
times pop in insertion order (SimPy's rule); actors ready at the same instant form the
*ready set*, and every choice among them goes through one :class:`Scheduler` object,
which exploration replaces.  Waits are mirrored in the C core's wait-for graph, so a
wait that closes a cycle is reported as a deadlock the moment it happens.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from vmcore.core import FenceKind, FenceTable, NodeKind, WaitForGraph
from vmcore.core.fences import Fence
from vmcore.errors import BudgetExceeded, EngineError

__all__ = [
    "Actor",
    "BudgetExceeded",
    "Command",
    "EngineError",
    "Proc",
    "Rescheduled",
    "Scheduler",
    "Signal",
    "Sim",
    "SimFence",
    "Sleep",
    "WaitFence",
    "WaitIdle",
    "WaitSignal",
]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Resume after ``ns`` nanoseconds.  ``Sleep(0)`` is a preemption point: the default
    schedule lets the same actor continue, an explored one may run another first."""

    ns: int


@dataclass(frozen=True, slots=True)
class WaitFence:
    """Resume when ``fence`` has signaled."""

    fence: SimFence


@dataclass(frozen=True, slots=True)
class WaitSignal:
    """Resume when ``signal`` fires (the actor receives ``"signal"``) or, with ``until``,
    at that time at the latest (it receives ``"timeout"``); ``blocker`` is the
    wait-for-graph node waited on."""

    signal: Signal
    blocker: int | None = None
    until: int | None = None


@dataclass(frozen=True, slots=True)
class WaitIdle:
    """Resume when no other actor can progress and no timed wake-up is pending."""


@dataclass(frozen=True, slots=True)
class Rescheduled:
    """Resume at the wake-up already put in the queue by :meth:`Sim.retime`."""


Command = Sleep | WaitFence | WaitSignal | WaitIdle | Rescheduled
Proc = Generator[Command, Any, Any]


@dataclass(frozen=True, slots=True)
class _Timeout:
    wait_id: int
    blocker: int | None


class Scheduler:
    """Chooses which of several actors ready at the same instant runs next.

    The default keeps submission order (index 0): one deterministic schedule.
    Exploration subclasses this to try others.
    """

    def choose(self, now: int, ready: list[Actor]) -> int:
        return 0


class Actor:
    """A thread of the simulated system: an engine, a scheduler thread, the fault handler..."""

    __slots__ = ("done", "gen", "kind", "name", "node", "on_exit", "result", "wait_id")

    def __init__(self, name: str, kind: str, gen: Proc, node: int) -> None:
        self.name = name
        self.kind = kind
        self.gen = gen
        self.node = node
        self.done = False
        self.result: Any = None
        self.on_exit: list[Callable[[Actor], None]] = []
        self.wait_id = 0
        """Bumped when a signal wait ends, so a stale timeout or firing is ignored."""

    def __repr__(self) -> str:
        return f"Actor({self.name})"


class Signal:
    """A condition actors wait for (the IH ring got an entry, a PTE changed, ...)."""

    __slots__ = ("name", "waiters")

    def __init__(self, name: str) -> None:
        self.name = name
        self.waiters: list[tuple[Actor, int | None, int]] = []


class SimFence:
    """A fence of the simulation: a C-core fence plus the actors waiting for it.

    Fences are not released until the run ends, so a later fence can still depend on
    one that already signaled and inherit its "depends on user work" ancestry.
    """

    __slots__ = ("c", "callbacks", "kind", "name", "node", "producer_node", "waiters")

    def __init__(self, c: Fence, name: str, kind: FenceKind, node: int) -> None:
        self.c = c
        self.callbacks: list[Callable[[SimFence], None]] = []
        self.name = name
        self.kind = kind
        self.node = node
        self.producer_node: int | None = None
        self.waiters: list[Actor] = []

    @property
    def signaled(self) -> bool:
        return self.node == 0

    @property
    def depends_on_user(self) -> bool:
        """Does this fence's ancestry include user work (O(1) in the core)?"""
        return self.c.depends_on_user

    def __repr__(self) -> str:
        return f"fence {self.name}"


class Sim:
    """Simulated time in ns, the actors, the fences and the wait-for graph."""

    def __init__(
        self,
        scheduler: Scheduler | None = None,
        max_events: int = 5_000_000,
        max_time: int = 60 * 10**9,
    ) -> None:
        self.now = 0
        self.scheduler = scheduler or Scheduler()
        self.max_events = max_events
        self.max_time = max_time
        self.events = 0
        self._heap: list[tuple[int, int, Actor, Any]] = []
        self._ready: list[tuple[Actor, Any]] = []
        self._seq = 0
        self.fences = FenceTable()
        self.wfg = WaitForGraph()
        self.node_names: dict[int, str | Callable[[], str]] = {}
        """Wait-for-graph node -> its name, or what makes it (read only when reported)."""
        self.fence_names: dict[int, str] = {}
        self.actors: list[Actor] = []
        self.deadlocks: list[list[str]] = []
        self.choices: list[int] = []
        self.current: Actor | None = None
        self.idle_waiters: list[Actor] = []
        self.on_wait: list[Callable[[Actor, SimFence], None]] = []
        self.on_deadlock: list[Callable[[list[str]], None]] = []
        self._until: int | None = None

    def close(self) -> None:
        self.fences.close()
        self.wfg.close()

    # nodes -------------------------------------------------------------------------
    def node(self, kind: NodeKind, name: str | Callable[[], str]) -> int:
        n = self.wfg.add_node(kind)
        self.node_names[n] = name
        return n

    def name_of(self, n: int) -> str:
        name = self.node_names.get(n, f"node {n:#x}")
        return name if isinstance(name, str) else name()

    def drop_node(self, n: int) -> None:
        self.wfg.remove_node(n)
        self.node_names.pop(n, None)

    def edge(self, a: int, b: int) -> None:
        """Record "a waits for b"; a cycle is a deadlock, reported once per cycle."""
        if not a or not b:
            return
        cycle = self.wfg.add_edge(a, b, exists_ok=True)
        if cycle:
            names = [self.name_of(n) for n in cycle]
            self.deadlocks.append(names)
            for cb in self.on_deadlock:
                cb(names)

    def unedge(self, a: int, b: int) -> None:
        """Forget "a waits for b" (0 stands for a node already gone)."""
        if a and b:
            self.wfg.remove_edge(a, b, missing_ok=True)

    # actors ------------------------------------------------------------------------
    def spawn(self, name: str, gen: Proc, kind: str = "actor", node: int | None = None) -> Actor:
        if node is None:
            node = self.node(NodeKind.JOB if kind == "job" else NodeKind.ACTOR, name)
        a = Actor(name, kind, gen, node)
        self.actors.append(a)
        self._ready.append((a, None))
        return a

    def _wake(self, actor: Actor, value: Any = None) -> None:
        self._ready.append((actor, value))

    def _at(self, t: int, actor: Actor, value: Any = None) -> None:
        if t == self.now:
            self._ready.append((actor, value))
        else:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, actor, value))

    # fences ------------------------------------------------------------------------
    def fence(
        self, kind: FenceKind, name: str, producer: int = 0, deps: list[SimFence] | None = None
    ) -> SimFence:
        """An armed fence; ``deps`` are the fences it transitively depends on."""
        c = self.fences.create(kind, producer)
        for d in deps or ():
            c.add_dep(d.c)
        c.arm()
        f = SimFence(c, name, kind, self.node(NodeKind.FENCE, lambda: f"fence {name}"))
        self.fence_names[c.handle] = name
        return f

    def produced_by(self, f: SimFence, node: int) -> None:
        """``f`` signals when ``node`` (a job or actor) completes: an edge f -> node."""
        if f.node:
            f.producer_node = node
            self.edge(f.node, node)

    def signal(self, f: SimFence, error: int = 0) -> None:
        if not f.node:
            return
        if error:
            f.c.set_error(error)
        f.c.signal()
        for w in f.waiters:
            self.unedge(w.node, f.node)
            self._wake(w)
        f.waiters.clear()
        self.drop_node(f.node)
        f.node = 0
        callbacks, f.callbacks = f.callbacks, []
        for cb in callbacks:
            cb(f)

    def fire(self, s: Signal) -> None:
        """Wake every actor waiting for ``s``."""
        if not s.waiters:
            return
        waiters, s.waiters = s.waiters, []
        for a, blocker, wid in waiters:
            if a.wait_id != wid or a.done:
                continue  # it timed out already
            a.wait_id += 1
            if blocker is not None:
                self.unedge(a.node, blocker)
            self._wake(a, "signal")

    # the loop ----------------------------------------------------------------------
    def _step(self, actor: Actor, value: Any) -> None:
        if actor.done:
            return
        self.events += 1
        self.current = actor
        try:
            cmd = actor.gen.send(value)
        except StopIteration as stop:
            actor.done = True
            actor.result = stop.value
            for cb in actor.on_exit:
                cb(actor)
            if actor.kind != "job":
                self.drop_node(actor.node)
            return
        if type(cmd) is Sleep:  # the common case first, by type: this runs for every step
            if cmd.ns:
                self._seq += 1
                heapq.heappush(self._heap, (self.now + cmd.ns, self._seq, actor, None))
            else:
                # a preemption point: the default choice (0) lets the same actor go on, so
                # only a schedule that chooses otherwise interleaves another actor here
                self._ready.insert(0, (actor, None))
        elif type(cmd) is WaitFence:
            f = cmd.fence
            if f.signaled:
                self._wake(actor)
            else:
                for on_wait in self.on_wait:
                    on_wait(actor, f)
                f.waiters.append(actor)
                self.edge(actor.node, f.node)
        elif type(cmd) is WaitIdle:
            self.idle_waiters.append(actor)
        elif type(cmd) is Rescheduled:
            pass
        elif type(cmd) is WaitSignal:
            actor.wait_id += 1
            cmd.signal.waiters.append((actor, cmd.blocker, actor.wait_id))
            if cmd.blocker is not None:
                self.edge(actor.node, cmd.blocker)
            if cmd.until is not None:
                self._seq += 1
                heapq.heappush(
                    self._heap,
                    (max(cmd.until, self.now), self._seq, actor, _Timeout(actor.wait_id, cmd.blocker)),
                )
        else:
            raise EngineError(f"actor {actor.name} yielded {cmd!r}, not a command")

    def kill_actor(self, actor: Actor) -> None:
        """Stop an actor where it is (its generator is closed)."""
        if actor.done:
            return
        actor.done = True
        actor.gen.close()
        for cb in actor.on_exit:
            cb(actor)

    def run(self, until: int | None = None) -> None:
        """Run until nothing is runnable or simulated time ``until``."""
        self._until = until
        try:
            self._run(until)
        finally:
            self._until = None

    def _run(self, until: int | None) -> None:
        ready = self._ready
        heap = self._heap
        heappop = heapq.heappop
        step = self._step
        # the default schedule always takes the first ready actor: asking it costs a list
        default = type(self.scheduler) is Scheduler
        choices = self.choices
        while True:
            if not ready and not heap and self.idle_waiters:
                waiters, self.idle_waiters = self.idle_waiters, []
                for a in waiters:
                    self._wake(a)
            while heap and type(heap[0][3]) is _Timeout and self._stale(heap[0]):
                heappop(heap)
            if not ready:
                if not heap:
                    if until is not None:
                        self.now = max(self.now, until)
                    return
                t = heap[0][0]
                if until is not None and t > until:
                    self.now = until
                    return
                if t > self.max_time:
                    raise BudgetExceeded(
                        f"simulated-time budget of {self.max_time} ns exceeded (next event at {t} ns)"
                    )
                self.now = t
                while heap and heap[0][0] == t:
                    _, _, a, v = heappop(heap)
                    if type(v) is _Timeout:
                        if v.wait_id != a.wait_id or a.done:
                            continue  # stale: the wait ended otherwise
                        a.wait_id += 1
                        if v.blocker is not None:
                            self.unedge(a.node, v.blocker)
                        v = "timeout"
                    ready.append((a, v))
            if self.events >= self.max_events:
                raise BudgetExceeded(f"event budget of {self.max_events} steps exceeded at {self.now} ns")
            if len(ready) > 1:
                i = 0 if default else self.scheduler.choose(self.now, [a for a, _ in ready])
                choices.append(i)  # the schedule, replayable choice by choice
            else:
                i = 0
            actor, value = ready.pop(i)
            step(actor, value)

    @staticmethod
    def _stale(entry: tuple[int, int, Actor, Any]) -> bool:
        v = entry[3]
        return isinstance(v, _Timeout) and (v.wait_id != entry[2].wait_id or entry[2].done)

    def alone(self, ns: int, steps: int) -> bool:
        """May the running actor go on alone for ``ns`` of simulated time, doing within
        its own step what ``steps`` more steps would have done?

        Yes when no other actor is ready, nothing is due until then (``now + ns``
        included: an actor due at the same instant would run first), and neither the
        time budget, the event budget nor ``run(until=...)`` would stop the run on the
        way: no scheduler could have chosen anything meanwhile.  An actor that goes on
        counts the steps with :meth:`stood_for` (budgets and PCT, which spreads its
        change points over the steps, see the same run) and moves the clock with
        :meth:`elapse`."""
        t = self.now + ns
        if self._ready or (self._heap and self._heap[0][0] <= t):
            return False
        if t > self.max_time or self.events + steps > self.max_events:
            return False
        return self._until is None or t <= self._until

    def stood_for(self, steps: int) -> None:
        """Count steps the running actor did within its own (see :meth:`alone`)."""
        self.events += steps

    def elapse(self, ns: int) -> None:
        """Move the clock on for the running actor, within what :meth:`alone` granted."""
        self.now += ns

    def advance(self, ns: int) -> bool:
        """``Sleep(ns)`` without leaving the running actor, when :meth:`alone` allows it:
        ``if not sim.advance(ns): yield Sleep(ns)`` runs exactly as the sleep would."""
        if ns <= 0 or self._ready or not self.alone(ns, 1):  # _ready: alone's first test, callless
            return False
        self.events += 1
        self.now += ns
        return True

    @property
    def default_schedule(self) -> bool:
        """Is the scheduler the default one (every choice 0, none worth recording apart)?"""
        return type(self.scheduler) is Scheduler

    def horizon(self, t: int) -> tuple[int, int]:
        """How far the running actor may act for others without a budget or
        ``run(until=...)`` stopping the run first: (time ``t`` or less, steps)."""
        if self._until is not None:
            t = min(t, self._until)
        return min(t, self.max_time), self.max_events - self.events

    def due(self, t: int) -> list[tuple[int, int, Actor, Any]]:
        """The wake-ups at or before ``t``, as (time, sequence, actor, value): the ready
        actors (at ``now``, negative sequence numbers in their order), then the queue's."""
        n = len(self._ready)
        out = [(self.now, i - n, a, v) for i, (a, v) in enumerate(self._ready)]
        heap = self._heap
        stack = [0] if heap else []
        while stack:  # the heap's entries up to t, pruning the subtrees that start later
            i = stack.pop()
            if heap[i][0] <= t:
                out.append(heap[i])
                stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
        return out

    def retime(self, wakeups: list[tuple[Actor, int]]) -> None:
        """Move the actors' wake-ups to the times given, queued in the order given (the
        running actor among them then yields :class:`Rescheduled`): for an actor that
        did, within the running actor's step, what its own next steps would have done."""
        moved = {a for a, _ in wakeups}
        self._ready[:] = [e for e in self._ready if e[0] not in moved]
        self._heap[:] = [e for e in self._heap if e[2] not in moved]
        heapq.heapify(self._heap)
        for a, t in wakeups:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, a, None))

    def where(self) -> str:
        """Where the run is, for an error: the step count, the time and the actor running."""
        actor = self.current.name if self.current is not None else "no actor"
        return f"step {self.events} at {self.now} ns, actor {actor!r}"
