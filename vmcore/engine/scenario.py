"""Build a scenario in code and run it: one method per statement of the .vms language.

>>> s = Scenario("unmapped address kills")
>>> s.gpu("gpu0", vram=16 << 20, engines=[("comp0", "compute", True, False)])
>>> s.process("app", ["gpu0"])
>>> s.job("c1", "comp0", "app", touches=(0x1000_0000, 4096))
>>> s.run_until_idle()
>>> s.expect("killed", "app")
>>> s.run().passed
True
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pluggy

from vmcore.engine import plan
from vmcore.engine.checks import (
    METRICS,
    RUN_PREDICATES,
    Expectation,
    Outcome,
    Predicate,
    RunState,
    conclude,
    plugin_metrics,
)
from vmcore.engine.model import Bo, Process
from vmcore.engine.monitor import Finding, Monitor, Timeline
from vmcore.engine.sim import Scheduler, Sim, Sleep
from vmcore.engine.system import System
from vmcore.errors import (
    BudgetExceeded,
    CoreError,
    EngineError,
    InternalError,
    LimitExceeded,
    ScenarioError,
    VmcoreError,
)
from vmcore.hooks.manager import (
    ActivePolicies,
    PluginError,
    PolicyChoice,
    did_you_mean,
    plugin_manager,
    run_deadline,
)

Gen = Generator[Any, Any, Any]


@dataclass
class Result:
    """What a run produced: expectation outcomes, findings, metrics and the event log."""

    name: str
    outcomes: list[Outcome]
    failures: list[str]
    """Implicit failures: a deadlock, stall or leak no expectation named, an engine error."""
    findings: dict[str, list[Finding]]
    deadlocks: list[list[str]]
    stalls: list[str]
    leaks: list[str]
    metrics: dict[str, float]
    log: list[tuple[int, str, str, str]]
    monitor: Monitor
    policies: dict[str, str]
    end_time: int
    events: int
    choices: list[int] = field(default_factory=list)
    """Every choice the scheduler made among ready actors: replaying them reproduces the run."""
    process_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """Each process's share of the metrics that ``METRIC of P`` takes, at the end."""
    errors: list[str] = field(default_factory=list)
    """The failures that are errors: the run stopped on a budget, a plugin's exception or
    a scenario error, rather than judged (they are among ``failures`` too)."""

    @property
    def passed(self) -> bool:
        return not self.failures and all(o.passed for o in self.outcomes)

    def format_log(self, around: int | None = None, width: int = 40) -> str:
        rows = self.log
        if around is not None:
            idx = next((i for i, r in enumerate(rows) if r[0] >= around), len(rows))
            rows = rows[max(0, idx - width) : idx + 5]
        return self.monitor.format_log(rows)

    def summary(self) -> str:
        lines = []
        for o in self.outcomes:
            mark = "ok  " if o.passed else "FAIL"
            lines.append(f"{mark} expect {o.expectation} (line {o.expectation.line}): {o.why}")
        lines += [f"FAIL {f}" for f in self.failures]
        return "\n".join(lines)


class Scenario:
    """A scenario under construction.  Statements run in order on one application
    thread (``at`` blocks on their own); ``run()`` executes it and returns a :class:`Result`.
    """

    def __init__(
        self,
        name: str = "scenario",
        *,
        seed: int = 0,
        plugins: pluggy.PluginManager | None = None,
        max_events: int = 2_000_000,
        max_time: int = 10 * 10**9,
        scheduler: Scheduler | None = None,
        keep_log: bool = True,
        max_seconds: float | None = None,
        timeline: bool = False,
    ) -> None:
        self.name = name
        self.keep_log = keep_log
        self.timeline = timeline
        """Record the counters over simulated time (``Result.monitor.timeline``)."""
        self.max_seconds = max_seconds
        """Wall-clock budget of one run (default VMCORE_RUN_TIMEOUT, 60 s)."""
        self.seed = seed
        self.pm = plugins or plugin_manager(entry_points=False)
        self.max_events = max_events
        self.max_time = max_time
        self.scheduler = scheduler
        self.gpus: list[tuple[str, int, int, list[tuple[str, str, bool, bool]]]] = []
        self.links: list[tuple[str, str, str, int, int]] = []
        self.choices: dict[str, PolicyChoice] = {}
        self.statements: list[plan.Statement] = []
        self.at_blocks: list[tuple[int, list[plan.Statement]]] = []
        self._target = self.statements

    # -- topology ------------------------------------------------------------------
    def gpu(
        self,
        name: str,
        vram: int,
        gtt: int = 1 << 30,
        engines: list[tuple[str, str, bool, bool]] | None = None,
    ) -> None:
        """``gpu NAME { vram S; gtt S; engine NAME KIND [retry] [locked] ... }``."""
        self.gpus.append((name, vram, gtt, list(engines or [])))

    def link(self, a: str, b: str, kind: str = "xgmi", bandwidth: int = 0, latency: int = 0) -> None:
        self.links.append((a, b, kind, bandwidth, latency))

    # -- statements ----------------------------------------------------------------
    def add(self, stmt: plan.Statement) -> None:
        """Add a plan statement (in an ``at`` block, to that block); the methods below
        build the language's statements and add them."""
        self._target.append(stmt)

    def policy(self, family: str, name: str, line: int = 0, **params: Any) -> None:
        """``policy FAMILY = "NAME"(k = v, ...)``: the active policy of a family."""
        self.choices[family] = PolicyChoice(family, name, tuple(sorted(params.items())))

    def process(
        self, name: str, gpus: list[str], retry_faults: bool = True, prefill: bool = False, line: int = 0
    ) -> None:
        self.add(plan.Process(name, tuple(gpus), retry_faults, prefill, line=line))

    def svm(
        self, process: str, addr: int, size: int, loc: str = "system", line: int = 0, **attrs: Any
    ) -> None:
        pairs = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items())
        self.add(plan.Svm(process, addr, size, loc, pairs, line=line))

    def bo(
        self,
        name: str,
        loc: str,
        size: int,
        owner: str,
        pinned: bool = False,
        contiguous: bool = False,
        line: int = 0,
    ) -> None:
        self.add(plan.Bo(name, loc, size, owner, pinned, contiguous, line=line))

    def map(self, bo: str, process: str, addr: int, line: int = 0) -> None:
        self.add(plan.Map(bo, process, addr, line=line))

    def unmap(self, bo: str, process: str, line: int = 0) -> None:
        self.add(plan.Unmap(bo, process, line=line))

    def job(
        self,
        name: str,
        engine: str,
        by: str,
        *,
        touches: tuple[int, int] | None = None,
        write: bool = False,
        value: int = 1,
        copies: tuple[int, int, int] | None = None,
        uses: list[tuple[str, bool]] | None = None,
        after: list[str] | None = None,
        takes: int = 1000,
        pattern: str = "sequential",
        stride: int = 0,
        passes: int = 1,
        accesses: bytes = b"",
        line: int = 0,
    ) -> None:
        """``job J on ENGINE by P [touches A +S [pattern ...] [passes N] [write [value V]]]
        [accesses "FILE"] ...``; ``accesses`` is the recorded list, packed (see
        :class:`vmcore.engine.plan.Job`)."""
        self.add(
            plan.Job(
                name,
                engine,
                by,
                touches,
                write,
                value,
                copies,
                tuple(uses or ()),
                tuple(after or ()),
                takes,
                pattern,
                stride,
                passes,
                accesses,
                line=line,
            )
        )

    def cpu(self, process: str, op: str, addr: int, size: int, value: int = 1, line: int = 0) -> None:
        self.add(plan.Cpu(process, op, addr, size, value, line=line))

    def migrate(self, process: str, addr: int, size: int, target: str, line: int = 0) -> None:
        self.add(plan.Migrate(process, addr, size, target, line=line))

    def munmap(self, process: str, addr: int, size: int, line: int = 0) -> None:
        self.add(plan.Munmap(process, addr, size, line=line))

    def evict_page_tables(
        self, process: str, gpu: str | None = None, at: int | None = None, line: int = 0
    ) -> None:
        self.add(plan.EvictPageTables(process, gpu, at, line=line))

    def replay_faults(self, process: str, trace: list[tuple[str, int, bool]], line: int = 0) -> None:
        """Post a recorded trace of retry faults (gpu, address, write) into the IH rings."""
        self.add(plan.ReplayFaults(process, tuple(trace), line=line))

    def kill(self, process: str, line: int = 0) -> None:
        self.add(plan.Kill(process, line=line))

    def run_until_idle(self, line: int = 0) -> None:
        self.add(plan.RunIdle(line=line))

    def run_for(self, ns: int, line: int = 0) -> None:
        self.add(plan.RunFor(ns, line=line))

    @contextlib.contextmanager
    def at(self, t: int) -> Iterator[None]:
        """``at T { ... }``: statements inside run on their own thread at absolute time T."""
        if self._target is not self.statements:
            raise ScenarioError("at blocks do not nest")
        block: list[plan.Statement] = []
        self._target = block
        try:
            yield
        finally:
            self._target = self.statements
            self.at_blocks.append((t, block))

    def expect(self, kind: str, *args: object, negate: bool = False, line: int = 0) -> None:
        """``expect [not] PRED``; short forms such as ``deadlock`` mean ``not no deadlock``."""
        if f"no {kind}" in RUN_PREDICATES:
            kind, negate = f"no {kind}", not negate
        if kind == "ring":
            kind = "ring intact"
        self.add(plan.Expect(Expectation(Predicate(kind, tuple(args)), negate, line), line=line))

    # -- running -------------------------------------------------------------------
    def run(self) -> Result:
        """Run the scenario once (one schedule) and judge its expectations."""
        with _no_cyclic_gc():
            return self._run()

    def _run(self) -> Result:
        policies = _active(self.pm, self.choices)
        mon = Monitor(keep_log=self.keep_log, timeline=Timeline() if self.timeline else None)
        if policies.has_observers:
            mon.observer = policies.event
        sim = Sim(self.scheduler, max_events=self.max_events, max_time=self.max_time)
        system = System(sim, policies, mon, self.seed)
        policies.run_started(self.name, self.seed)
        st = RunState(system, sim, mon)
        sim.on_wait.append(lambda actor, fence: _on_wait(st, actor, fence))
        outcomes: list[Outcome] = []
        failures: list[str] = []
        try:
            for name, vram, gtt, engines in self.gpus:
                system.add_gpu(name, vram, gtt, engines)
            for a, b, kind, bw, lat in self.links:
                system.add_link(a, b, kind, bw, lat)
            system.start()
            thread = AppThread(system, st, outcomes, self.pm)
            app = sim.spawn("app", self._thread(thread, self.statements))
            st.app_threads.append(app)
            for t, block in self.at_blocks:
                st.app_threads.append(sim.spawn(f"app@{t}ns", self._at_thread(thread, t, block)))
            with run_deadline(policies, self.max_seconds):
                # the app's statements, then an implicit `run until idle` so run predicates see the whole run
                sim.run()
        except BudgetExceeded as e:
            failures.append(f"runaway scenario: {e}")
        except PluginError as e:
            failures.append(str(e))
        except (CoreError, EngineError) as e:
            if isinstance(e, LimitExceeded):  # a capacity of the simulation, not a bug
                failures.append(f"{type(e).__name__}: {e}")
            else:  # the engine misused the core, or an actor misused the simulation
                self._fail_internally(e, sim, st, system)
        except VmcoreError as e:
            failures.append(f"{type(e).__name__}: {e}")
        except Exception as e:  # a bug inside vmcore, reported as one
            self._fail_internally(e, sim, st, system)
        errors = list(failures)
        # a run stopped by an error did not finish: what it left pending is not a stall
        expectations = [
            stmt.expectation
            for stmt in [*self.statements, *(s for _, b in self.at_blocks for s in b)]
            if isinstance(stmt, plan.Expect)
        ]
        try:
            conclude(st, expectations, outcomes, failures, finished=not failures)
            metrics = self._metrics(st)
        except VmcoreError:
            raise
        except Exception as e:  # judging the run hit a bug inside vmcore
            self._fail_internally(e, sim, st, system)
        try:
            metrics.update(plugin_metrics(self.pm, st, metrics))
        except PluginError as e:
            failures.append(str(e))
            errors.append(str(e))
        mon.observer = None  # results travel between processes (-n); the plugin manager does not
        result = Result(
            self.name,
            outcomes,
            failures,
            dict(mon.findings),
            list(sim.deadlocks),
            st.stalls,
            st.leaks,
            metrics,
            mon.log,
            mon,
            policies.describe(),
            sim.now,
            sim.events,
            list(sim.choices),
            st.process_metrics(),
            errors,
        )
        system.close()
        sim.close()
        return result

    def _fail_internally(self, e: Exception, sim: Sim, st: RunState, system: System) -> NoReturn:
        """Raise the :class:`InternalError` for an exception that escaped the engine, naming
        the scenario and the step: the sim's, and the statement of the thread running (of
        the application threads still running when another actor hit it)."""
        where = sim.where()
        cur = sim.current
        if cur is not None and cur in st.app_threads:
            where += f", {st.at_statement.get(cur.name, 'its first statement')}"
        else:
            busy = [a for a in st.app_threads if not a.done and a.name in st.at_statement]
            where += "".join(f", while {a.name} at {st.at_statement[a.name]}" for a in busy)
        err = InternalError.of(self.name, where, e)
        with contextlib.suppress(Exception):  # best effort: the run is broken already
            system.close()
            sim.close()
        raise err from e

    def _metrics(self, st: RunState) -> dict[str, float]:
        return {m: st.metric(m) for m in METRICS}

    def _at_thread(self, t: AppThread, start: int, block: list[plan.Statement]) -> Gen:
        now = t.system.sim.now
        if start > now:
            yield Sleep(start - now)
        yield from self._thread(t, block)

    @staticmethod
    def _thread(t: AppThread, stmts: list[plan.Statement]) -> Gen:
        cur = t.system.sim.current
        me = cur.name if cur is not None else "app"
        for s in stmts:
            t.state.at_statement[me] = (
                f"line {s.line}: {type(s).__name__.lower()}" if s.line else type(s).__name__.lower()
            )
            try:
                yield from s.run(t)
            except ScenarioError as e:
                raise ScenarioError(f"line {s.line}: {e}" if s.line else str(e)) from e


class AppThread:
    """What a statement runs with: the system, the run's view and verdicts so far, and
    the lookups of the names statements use."""

    def __init__(
        self, system: System, state: RunState, outcomes: list[Outcome], pm: pluggy.PluginManager
    ) -> None:
        self.system = system
        self.state = state
        self.outcomes = outcomes
        self.pm = pm
        self.did_you_mean = did_you_mean

    def call(self, what: str, procs: tuple[Process | None, ...], work: Gen) -> Gen:
        """Run ``work``, a statement's call into the driver on behalf of ``procs``: refused
        (and logged, as a job of a killed process is) when one of them was killed, since a
        dead process makes no more calls; otherwise holding a reference on each while it
        runs, so a kill that lands meanwhile tears the process down once the call is over
        (an ioctl holds its ``kfd_process``).  Returns what ``work`` returns."""
        held = tuple(p for p in procs if p is not None)
        for p in held:
            if p.killed:
                work.close()
                self.system.dev.log("app", f"{what} refused", f"{p.name} was killed")
                return None
        return (yield from self.system.dev.holding(held, work))

    def proc(self, name: str) -> Process:
        p = self.system.processes.get(name)
        if p is None:
            raise ScenarioError(f"unknown process {name!r}{did_you_mean(name, self.system.processes)}")
        return p

    def bo(self, name: str) -> Bo:
        b = self.system.bos.get(name)
        if b is None:
            raise ScenarioError(f"unknown BO {name!r}{did_you_mean(name, self.system.bos)}")
        return b


_ACTIVE: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[tuple[Any, ...], ActivePolicies]] = (
    weakref.WeakKeyDictionary()
)


def _active(pm: pluggy.PluginManager, choices: dict[str, PolicyChoice]) -> ActivePolicies:
    """The active policies for these choices, built once per plugin manager: explorations
    run the same scenario thousands of times, and building them registers plugins."""
    key = tuple(sorted((k, v.name, v.params) for k, v in choices.items()))
    per_pm = _ACTIVE.setdefault(pm, {})
    got = per_pm.get(key)
    if got is None:
        got = per_pm[key] = ActivePolicies(pm, choices)
    return got


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic collector off during a run: the run's objects live until it ends, so
    collections during it would only scan them again and again (10-15% of a run); what
    the run leaves in cycles is collected afterwards, as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _on_wait(st: RunState, actor: Any, fence: Any) -> None:
    """An actor starts to wait for a fence.  A fault handler waiting for one with user work
    in its ancestry is a potential deadlock (only the fault handler's waits are watched:
    see docs/language.md); what an application thread waits for is kept for the verdict of
    an expectation it never reaches."""
    if actor.kind == "handler":
        if fence.depends_on_user:
            st.system.mon.find(
                "potential deadlock",
                st.sim.now,
                f"{actor.name} waits for {fence.name}, whose ancestry includes user work",
            )
    elif actor in st.app_threads:
        st.waiting_for[actor.name] = str(fence)


__all__ = ["AppThread", "Expectation", "Outcome", "Result", "RunState", "Scenario"]
