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
import traceback
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pluggy

from vmcore.engine.checks import (
    METRICS,
    RUN_PREDICATES,
    Predicate,
    Verdict,
    run_predicate,
    state_predicate,
    vram_metrics,
)
from vmcore.engine.model import PAGE, Access, Job
from vmcore.engine.monitor import Finding, Monitor
from vmcore.engine.sim import BudgetExceeded, Scheduler, Sim, Sleep, WaitIdle
from vmcore.engine.system import ScenarioError, System
from vmcore.errors import VmcoreError
from vmcore.plugins import (
    ActivePolicies,
    PluginError,
    PolicyChoice,
    did_you_mean,
    plugin_manager,
    run_deadline,
)

Gen = Generator[Any, Any, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: what it is, its arguments, where it came from."""

    kind: str
    args: dict[str, Any]
    line: int = 0


@dataclass(frozen=True, slots=True)
class Expectation:
    predicate: Predicate
    negate: bool
    line: int = 0

    def __str__(self) -> str:
        p = str(self.predicate)
        if self.negate:
            if p.startswith("no "):
                return p[3:]
            return f"not {p}"
        return p


@dataclass(frozen=True, slots=True)
class Outcome:
    """One expectation's verdict."""

    expectation: Expectation
    passed: bool
    why: str
    time: int


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


class RunState:
    """What predicates see: the system, the monitor, and the run's conclusions."""

    def __init__(self, system: System, sim: Sim, monitor: Monitor) -> None:
        self.system = system
        self.sim = sim
        self.monitor = monitor
        self.stalls: list[str] = []
        self.leaks: list[str] = []
        self.ring_damage: list[Finding] = []
        self.plugin_metrics: dict[str, float] | None = None
        self.app_threads: list[Any] = []

    @property
    def faults(self) -> tuple[Any, ...]:
        return tuple(self.monitor.faults)

    @property
    def findings(self) -> dict[str, list[Finding]]:
        return dict(self.monitor.findings)

    @property
    def deadlocks(self) -> list[list[str]]:
        return self.sim.deadlocks

    def metric(self, name: str) -> float:
        c = self.monitor.counters
        if name in c:
            return float(c[name])
        if name == "fault_latency_p99":
            return float(self.monitor.fault_latency(99))
        if name == "fault_latency_p50":
            return float(self.monitor.fault_latency(50))
        vm = vram_metrics(self)
        if name in vm:
            return vm[name]
        if self.plugin_metrics is None:
            self.plugin_metrics = _plugin_metrics(self.system.policies.pm, self, {})
        if name in self.plugin_metrics:
            return self.plugin_metrics[name]
        raise KeyError(name)


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
    ) -> None:
        self.name = name
        self.keep_log = keep_log
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
        self.statements: list[Statement] = []
        self.at_blocks: list[tuple[int, list[Statement]]] = []
        self._target = self.statements
        self.jobs: dict[str, Job] = {}

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
    def _add(self, kind: str, line: int = 0, **args: Any) -> None:
        self._target.append(Statement(kind, args, line))

    def policy(self, family: str, name: str, line: int = 0, **params: Any) -> None:
        """``policy FAMILY = "NAME"(k = v, ...)``: the active policy of a family."""
        self.choices[family] = PolicyChoice(family, name, tuple(sorted(params.items())))

    def process(
        self, name: str, gpus: list[str], retry_faults: bool = True, prefill: bool = False, line: int = 0
    ) -> None:
        self._add("process", line, name=name, gpus=gpus, retry_faults=retry_faults, prefill=prefill)

    def svm(
        self, process: str, addr: int, size: int, loc: str = "system", line: int = 0, **attrs: Any
    ) -> None:
        self._add("svm", line, process=process, addr=addr, size=size, loc=loc, attrs=attrs)

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
        self._add(
            "bo", line, name=name, loc=loc, size=size, owner=owner, pinned=pinned, contiguous=contiguous
        )

    def map(self, bo: str, process: str, addr: int, line: int = 0) -> None:
        self._add("map", line, bo=bo, process=process, addr=addr)

    def unmap(self, bo: str, process: str, line: int = 0) -> None:
        self._add("unmap", line, bo=bo, process=process)

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
        line: int = 0,
    ) -> None:
        self._add(
            "job",
            line,
            name=name,
            engine=engine,
            by=by,
            touches=touches,
            write=write,
            value=value,
            copies=copies,
            uses=list(uses or []),
            after=list(after or []),
            takes=takes,
        )

    def cpu(self, process: str, op: str, addr: int, size: int, value: int = 1, line: int = 0) -> None:
        self._add("cpu", line, process=process, op=op, addr=addr, size=size, value=value)

    def migrate(self, process: str, addr: int, size: int, target: str, line: int = 0) -> None:
        self._add("migrate", line, process=process, addr=addr, size=size, target=target)

    def munmap(self, process: str, addr: int, size: int, line: int = 0) -> None:
        self._add("munmap", line, process=process, addr=addr, size=size)

    def evict_page_tables(
        self, process: str, gpu: str | None = None, at: int | None = None, line: int = 0
    ) -> None:
        self._add("evict_pts", line, process=process, gpu=gpu, at=at)

    def replay_faults(self, process: str, trace: list[tuple[str, int, bool]], line: int = 0) -> None:
        """Post a recorded trace of retry faults (gpu, address, write) into the IH rings."""
        self._add("replay", line, process=process, trace=trace)

    def kill(self, process: str, line: int = 0) -> None:
        self._add("kill", line, process=process)

    def run_until_idle(self, line: int = 0) -> None:
        self._add("run_idle", line)

    def run_for(self, ns: int, line: int = 0) -> None:
        self._add("run_for", line, ns=ns)

    @contextlib.contextmanager
    def at(self, t: int) -> Iterator[None]:
        """``at T { ... }``: statements inside run on their own thread at absolute time T."""
        if self._target is not self.statements:
            raise ScenarioError("at blocks do not nest")
        block: list[Statement] = []
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
        self._add("expect", line, expectation=Expectation(Predicate(kind, tuple(args)), negate, line))

    # -- running -------------------------------------------------------------------
    def run(self) -> Result:
        """Run the scenario once (one schedule) and judge its expectations."""
        policies = _active(self.pm, self.choices)
        mon = Monitor(keep_log=self.keep_log)
        if policies.has_observers:
            mon.observer = policies.event
        sim = Sim(self.scheduler, max_events=self.max_events, max_time=self.max_time)
        system = System(sim, policies, mon)
        sim.on_wait.append(lambda actor, fence: _potential(system, actor, fence))
        policies.run_started(self.name)
        st = RunState(system, sim, mon)
        outcomes: list[Outcome] = []
        failures: list[str] = []
        try:
            for name, vram, gtt, engines in self.gpus:
                system.add_gpu(name, vram, gtt, engines)
            for a, b, kind, bw, lat in self.links:
                system.add_link(a, b, kind, bw, lat)
            system.start()
            app = sim.spawn("app", self._thread(system, st, self.statements, outcomes))
            st.app_threads.append(app)
            for t, block in self.at_blocks:
                st.app_threads.append(
                    sim.spawn(f"app@{t}ns", self._at_thread(system, st, t, block, outcomes))
                )
            with run_deadline(policies, self.max_seconds):
                sim.run(stop=lambda: app.done and not sim.pending)
                # an implicit `run until idle` so run predicates see the whole run
                sim.run()
        except BudgetExceeded as e:
            failures.append(f"runaway scenario: {e}")
        except PluginError as e:
            failures.append(str(e))
        except VmcoreError as e:
            failures.append(f"{type(e).__name__}: {e}")
        # a run stopped by an error did not finish: what it left pending is not a stall
        self._conclude(st, outcomes, failures, finished=not failures)
        metrics = self._metrics(st)
        try:
            metrics.update(_plugin_metrics(self.pm, st, metrics))
        except PluginError as e:
            failures.append(str(e))
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
        )
        system.close()
        sim.close()
        return result

    def _metrics(self, st: RunState) -> dict[str, float]:
        return {m: st.metric(m) for m in METRICS}

    def _conclude(
        self, st: RunState, outcomes: list[Outcome], failures: list[str], finished: bool = True
    ) -> None:
        system = st.system
        sim = st.sim
        if not sim.deadlocks and finished:
            pending_jobs = [j.name for j in system.jobs.values() if j.finished is None]
            pending_faults = [f"{f.address:#x}" for f in st.monitor.faults if f.resolved is None]
            blocked = [a.name for a in st.app_threads if not a.done]
            if pending_jobs or pending_faults or blocked:
                what = []
                if pending_jobs:
                    what.append(f"job(s) {', '.join(pending_jobs)} never finished")
                if pending_faults:
                    what.append(f"fault(s) at {', '.join(pending_faults)} never resolved")
                if blocked:
                    what.append(f"application thread(s) {', '.join(blocked)} never got past a statement")
                st.stalls.append("stall: nothing runnable while " + " and ".join(what))
        for msg in system.ring_damage():
            st.ring_damage.append(Finding("ring", sim.now, msg))
        held_by_deadlock = {n for cyc in sim.deadlocks for n in cyc}
        for leak in system.leaks():
            pname = leak.split(":", 1)[0]
            if sim.deadlocks and any(pname in n for n in held_by_deadlock):
                continue  # what a deadlock holds is not a leak
            st.leaks.append(leak)
        named: set[str] = set()
        for stmt in [*self.statements, *(s for _, b in self.at_blocks for s in b)]:
            if stmt.kind != "expect":
                continue
            exp: Expectation = stmt.args["expectation"]
            if exp.predicate.is_run:
                named.add(exp.predicate.kind)
                v = run_predicate(exp.predicate, st)
                outcomes.append(Outcome(exp, v.holds != exp.negate, v.why, sim.now))
        outcomes.sort(key=lambda o: o.expectation.line)
        if sim.deadlocks and "no deadlock" not in named:
            failures.append("unexpected deadlock: " + " -> ".join([*sim.deadlocks[0], sim.deadlocks[0][0]]))
        if st.stalls and "no stall" not in named and "no deadlock" not in named:
            failures.append("unexpected " + st.stalls[0])
        if st.leaks and "no leaks" not in named:
            failures.append("unexpected leak: " + st.leaks[0])

    def _at_thread(
        self, system: System, st: RunState, t: int, block: list[Statement], outcomes: list[Outcome]
    ) -> Gen:
        if t > system.sim.now:
            yield Sleep(t - system.sim.now)
        yield from self._thread(system, st, block, outcomes)

    def _thread(self, system: System, st: RunState, stmts: list[Statement], outcomes: list[Outcome]) -> Gen:
        for s in stmts:
            yield from self._exec(system, st, s, outcomes)

    def _exec(self, system: System, st: RunState, s: Statement, outcomes: list[Outcome]) -> Gen:
        a = s.args
        k = s.kind
        try:
            if k == "process":
                yield from system.create_process(a["name"], a["gpus"], a["retry_faults"], a["prefill"])
            elif k == "svm":
                yield from system.create_svm(
                    self._proc(system, a["process"]), a["addr"], a["size"], a["loc"], a["attrs"]
                )
            elif k == "bo":
                yield from system.create_bo(
                    a["name"],
                    a["loc"],
                    a["size"],
                    self._proc(system, a["owner"]),
                    a["pinned"],
                    a["contiguous"],
                )
            elif k == "map":
                yield from system.map_bo(
                    self._bo(system, a["bo"]), self._proc(system, a["process"]), a["addr"]
                )
            elif k == "unmap":
                yield from system.unmap_bo(self._bo(system, a["bo"]), self._proc(system, a["process"]))
            elif k == "job":
                system.submit_job(self._job(system, a))
            elif k == "cpu":
                yield from system.cpu_access(
                    self._proc(system, a["process"]), a["addr"], a["size"], a["op"] == "writes", a["value"]
                )
            elif k == "migrate":
                yield from system.migrate_hint(
                    self._proc(system, a["process"]), a["addr"], a["size"], a["target"]
                )
            elif k == "munmap":
                yield from system.munmap(self._proc(system, a["process"]), a["addr"], a["size"])
            elif k == "evict_pts":
                yield from system.evict_page_tables(self._proc(system, a["process"]), a["gpu"], a["at"])
            elif k == "replay":
                yield from system.replay_faults(self._proc(system, a["process"]), a["trace"])
            elif k == "kill":
                system.kill(self._proc(system, a["process"]), "killed by the application thread")
            elif k == "run_idle":
                yield WaitIdle()
            elif k == "run_for":
                yield Sleep(a["ns"])
            elif k == "expect":
                exp: Expectation = a["expectation"]
                if not exp.predicate.is_run:
                    v = _judge_state(exp, st, self.pm)
                    outcomes.append(Outcome(exp, v.holds != exp.negate, v.why, system.sim.now))
            else:
                raise ScenarioError(f"unknown statement {k!r}")
        except ScenarioError as e:
            raise ScenarioError(f"line {s.line}: {e}" if s.line else str(e)) from e

    @staticmethod
    def _proc(system: System, name: str) -> Any:
        p = system.processes.get(name)
        if p is None:
            raise ScenarioError(f"unknown process {name!r}{did_you_mean(name, system.processes)}")
        return p

    @staticmethod
    def _bo(system: System, name: str) -> Any:
        b = system.bos.get(name)
        if b is None:
            raise ScenarioError(f"unknown BO {name!r}{did_you_mean(name, system.bos)}")
        return b

    def _job(self, system: System, a: dict[str, Any]) -> Job:
        proc = self._proc(system, a["by"])
        eng = system.engine(a["engine"])
        accesses = []
        if a["touches"] is not None:
            va, size = a["touches"]
            accesses.append(Access(va, size, a["write"], a["value"]))
        if a["copies"] is not None:
            src, size, dst = a["copies"]
            accesses.append(Access(src, size, False))
            accesses.append(Access(dst, size, True, src=src))
        for acc in accesses:
            if acc.va % PAGE or acc.size <= 0:
                raise ScenarioError(f"job {a['name']}: access {acc.va:#x} +{acc.size:#x} is not page aligned")
        uses = [(self._bo(system, b), w) for b, w in a["uses"]]
        after = []
        for n in a["after"]:
            if n not in system.jobs:
                raise ScenarioError(
                    f"job {a['name']} runs after unknown job {n!r}{did_you_mean(n, system.jobs)}"
                )
            after.append(system.jobs[n])
        if a["name"] in system.jobs:
            raise ScenarioError(f"job {a['name']!r} is defined twice")
        return Job(a["name"], eng, proc, accesses, uses, after, a["takes"])


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


def _potential(system: System, actor: Any, fence: Any) -> None:
    """lockdep's view: the fault path waiting on a fence with user work in its ancestry."""
    if actor.kind == "handler" and fence.depends_on_user:
        system.mon.find(
            "potential deadlock",
            system.sim.now,
            f"{actor.name} waits for {fence.name}, whose ancestry includes user work",
        )


def _plugin_metrics(pm: pluggy.PluginManager, st: RunState, builtin: dict[str, float]) -> dict[str, float]:
    """Metrics plugins compute at the end of the run (vmcore_metrics)."""
    out: dict[str, float] = {}
    for impl in pm.hook.vmcore_metrics.get_hookimpls():
        try:
            table = cast("Mapping[str, object] | None", impl.function(result=st))
        except Exception as e:
            tb = "".join(traceback.format_exception(e))
            raise PluginError(
                f"plugin {impl.plugin_name!r}: vmcore_metrics raised {type(e).__name__}: {e}\n{tb}"
            ) from e
        for k, v in (table or {}).items():
            if k in builtin:
                raise PluginError(f"plugin {impl.plugin_name!r}: metric {k!r} is a built-in metric")
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise PluginError(f"plugin {impl.plugin_name!r}: metric {k!r} is {v!r}, not a number")
            out[k] = float(v)
    st.plugin_metrics = out
    return out


def _judge_state(exp: Expectation, st: RunState, pm: pluggy.PluginManager) -> Verdict:
    p = exp.predicate
    if p.kind == "plugin":
        name = str(p.args[0])
        for table in pm.hook.vmcore_expect_predicates():
            if table and name in table:
                fn: Callable[..., Any] = table[name]
                try:
                    got = fn(st, *[str(x) for x in p.args[1:]])
                except Exception as e:
                    tb = "".join(traceback.format_exception(e))
                    raise PluginError(
                        f"expect predicate {name!r} raised {type(e).__name__}: {e}\n{tb}"
                    ) from e
                if isinstance(got, tuple) and len(got) == 2:
                    return Verdict(bool(got[0]), str(got[1]))
                if not isinstance(got, bool):
                    raise PluginError(
                        f"expect predicate {name!r} returned {got!r}, expected a bool or (bool, why)"
                    )
                return Verdict(got, f"{name} {'holds' if got else 'does not hold'}")
        raise ScenarioError(f"unknown expectation {name!r}")
    return state_predicate(p, st)


__all__ = ["Expectation", "Outcome", "Result", "RunState", "Scenario", "Statement"]
