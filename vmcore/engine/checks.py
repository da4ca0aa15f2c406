"""Expectations and the run's conclusions: run predicates (over the whole run), state
predicates (where they stand), the read-only view of a run that predicates and plugin
metrics receive, and the conclusions drawn when a run ends (stalls, leaks, implicit
failures).

``expect P`` holds when P holds; ``expect not P`` when it does not.  For the "no X"
predicates, ``X`` alone is ``not no X``.  Under exploration "holds" becomes "in every
explored schedule" and "does not" becomes "in some schedule" (``explore.judge``).
"""

from __future__ import annotations

import operator
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pluggy

from vmcore.engine.model import PROCESS_COUNTERS, Process
from vmcore.engine.monitor import Finding, Monitor
from vmcore.engine.view import RunView
from vmcore.errors import ScenarioError
from vmcore.hooks.manager import PluginError

if TYPE_CHECKING:
    from vmcore.engine.sim import Sim
    from vmcore.engine.system import System

RUN_PREDICATE_DOCS: dict[str, str] = {
    "no deadlock": "no cycle formed in the wait-for graph (a deadlock is reported as its cycle)",
    "no potential deadlock": (
        "no fault handler waited on a fence whose ancestry includes user work, even if this run "
        "got lucky (only the fault handler is watched: see below)"
    ),
    "no stall": "the run did not end with work pending, nothing runnable and no cycle",
    "no leaks": "a killed process released everything it held",
    "no user fence on page tables": "no unsignalled user fence reached a page-table reservation",
    "no stale pte": "no valid PTE pointed to memory being freed or moved",
}
"""The predicates judged over the whole run and when each holds, in the order the
reference lists them: the one list the language (its grammar, messages, highlighting,
``docs/language.md``) and the engine share."""

RUN_PREDICATES = tuple(RUN_PREDICATE_DOCS)

RING_INTACT_DOC = "the page queue of `sdma` engine `R` was never corrupted"
"""When ``ring R intact``, the run predicate with an argument, holds."""

METRIC_DOCS: dict[str, str] = {
    "faults": "GPU faults the IH ring took (a fault already pending for the page is filtered out)",
    "retries": "faults a job raised again on a page it had already faulted on",
    "cpu_faults": "CPU accesses to SVM granules in VRAM (each migrates the granule to system memory)",
    "migrations": "granules moved, any direction and cause",
    "evictions": "BOs and ranges evicted",
    "bytes_moved": "bytes copied by migrations and BO evictions",
    "pt_allocations": "page-table BOs allocated",
    "fault_latency_p50": "median time from a GPU fault to its resolution (ns)",
    "fault_latency_p99": "99th percentile of that time (ns)",
    "vram_largest_free": "the largest free VRAM block, in bytes (summed over GPUs)",
    "vram_fragmentation": "1 - largest free block / free VRAM, the worst GPU's (0-1)",
    "ring_occupancy_max": "the most dwords any page queue's ring held at once",
    "ih_overflows": "GPU faults a full IH ring turned away",
    "alloc_failures": (
        "BOs that did not fit, and page tables or migrations the fault handler could not allocate"
    ),
    "completion_time": "when the last job ended (ns; 0 when no job ended)",
    "thrashed": "granules that migrated into the same VRAM more than once",
    "prefetched": "granules the `prefetch` family moved along with a faulting one",
}
"""The engine's metrics and what each counts (summed over GPUs and processes unless it
says otherwise), in the order results list them."""

METRICS = tuple(METRIC_DOCS)

PROCESS_METRICS = (*PROCESS_COUNTERS, "fault_latency_p50", "fault_latency_p99", "completion_time")
"""The metrics ``METRIC of P`` takes: one process's share. The VRAM, ring and IH-ring
metrics belong to the GPUs, not to a process."""

OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class Predicate:
    """One predicate: ``kind`` names it, ``args`` are its operands."""

    kind: str
    args: tuple[object, ...] = ()

    @property
    def is_run(self) -> bool:
        """Judged once the run is over (:func:`run_predicate`), not where it stands."""
        return self.kind in RUN_PREDICATES or self.kind == "ring intact"

    def __str__(self) -> str:
        k = self.kind
        a = self.args
        if k == "ring intact":
            return f"ring {a[0]} intact"
        if k in ("killed", "alive"):
            return f"{a[0]} {k}"
        if k == "in":
            return f"{a[0]:#x} +{a[1]:#x} of {a[2]} in {a[3]}"
        if k == "reads":
            return f"{a[0]:#x} +{a[1]:#x} of {a[2]} reads {a[3]}"
        if k == "resolved":
            s = f"fault at {a[0]:#x} of {a[1]}"
            if a[2]:
                s += f" on {a[2]}"
            s += " resolved"
            if a[3] is not None:
                s += f" within {a[3]}ns"
            return s
        if k == "metric":
            if len(a) > 3 and a[3] is not None:
                return f"{a[0]} of {a[3]} {a[1]} {a[2]}"
            return f"{a[0]} {a[1]} {a[2]}"
        if k == "plugin":
            return " ".join(str(x) for x in a)
        return k


@dataclass(frozen=True, slots=True)
class Verdict:
    holds: bool
    why: str


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
        self.at_statement: dict[str, str] = {}
        """Application thread -> the statement it is running now (``line N: kind``)."""
        self.waiting_for: dict[str, str] = {}
        """Actor -> the fence it last started to wait for."""
        self._lat: list[int] = []
        self._lat_at: tuple[int, int, int] = (-1, -1, -1)

    def process_metrics(self) -> dict[str, dict[str, float]]:
        """Every process's share of :data:`PROCESS_METRICS`, in one pass over the faults."""
        lat: dict[str, list[int]] = {p: [] for p in self.system.processes}
        for f in self.monitor.faults:
            if f.outcome == "mapped" and f.resolved is not None and f.process in lat:
                lat[f.process].append(f.resolved - f.posted)
        out: dict[str, dict[str, float]] = {}
        for name, proc in self.system.processes.items():
            m = {k: float(v) for k, v in proc.counters.items()}
            ls = sorted(lat[name])
            m["fault_latency_p50"] = float(self.monitor.fault_latency(50, ls))
            m["fault_latency_p99"] = float(self.monitor.fault_latency(99, ls))
            m["completion_time"] = float(max((j.finished for j in proc.jobs if j.finished is not None), default=0))
            out[name] = m
        return out

    def _process_metric(self, name: str, process: str) -> float:
        proc = _process(self, process)  # an `at` block may ask before the process exists
        if name not in PROCESS_METRICS:
            raise KeyError(f"{name} of {process}")
        if name in proc.counters:
            return float(proc.counters[name])
        if name == "completion_time":
            return float(max((j.finished for j in proc.jobs if j.finished is not None), default=0))
        lat = sorted(
            f.resolved - f.posted
            for f in self.monitor.faults
            if f.process == process and f.outcome == "mapped" and f.resolved is not None
        )
        return float(self.monitor.fault_latency(50 if name == "fault_latency_p50" else 99, lat))

    def _latencies(self) -> list[int]:
        """The sorted fault latencies, computed once per point of the run: the metrics of
        one expectation or of the end of the run read them twice (p50, p99), and a run
        of a million faults would sort them twice."""
        at = (len(self.monitor.faults), self.sim.events, self.sim.now)
        if at != self._lat_at:
            self._lat, self._lat_at = self.monitor.fault_latencies(), at
        return self._lat

    @property
    def faults(self) -> tuple[Any, ...]:
        return tuple(self.monitor.faults)

    @property
    def findings(self) -> dict[str, list[Finding]]:
        return dict(self.monitor.findings)

    @property
    def deadlocks(self) -> list[list[str]]:
        return self.sim.deadlocks

    def metric(self, name: str, process: str | None = None) -> float:
        """The metric ``name`` now, for the run or (``process``) for one process."""
        if process is not None:
            return self._process_metric(name, process)
        c = self.monitor.counters
        if name in c:
            return float(c[name])
        if name == "completion_time":
            return float(max((j.finished for j in self.system.jobs.values() if j.finished is not None), default=0))
        if name == "fault_latency_p99":
            return float(self.monitor.fault_latency(99, self._latencies()))
        if name == "fault_latency_p50":
            return float(self.monitor.fault_latency(50, self._latencies()))
        vm = vram_metrics(self)
        if name in vm:
            return vm[name]
        if self.plugin_metrics is None:
            self.plugin_metrics = plugin_metrics(self.system.policies.pm, self, {})
        if name in self.plugin_metrics:
            return self.plugin_metrics[name]
        raise KeyError(name)


def run_predicate(p: Predicate, st: RunState) -> Verdict:
    """Evaluate a run predicate once the run is over."""
    mon = st.monitor
    if p.kind == "no deadlock":
        if st.deadlocks:
            return Verdict(False, "deadlock: " + " -> ".join([*st.deadlocks[0], st.deadlocks[0][0]]))
        return Verdict(True, "no wait-for cycle formed")
    if p.kind == "no potential deadlock":
        f = mon.get("potential deadlock")
        return Verdict(
            not f, str(f[0]) if f else "the fault path never waited on a fence with user work in its ancestry"
        )
    if p.kind == "no stall":
        return Verdict(not st.stalls, st.stalls[0] if st.stalls else "nothing was left pending")
    if p.kind == "no leaks":
        return Verdict(
            not st.leaks, "leak: " + st.leaks[0] if st.leaks else "killed processes released everything"
        )
    if p.kind == "no user fence on page tables":
        f = mon.get("user fence on page tables")
        return Verdict(not f, str(f[0]) if f else "no user fence reached a page-table reservation")
    if p.kind == "no stale pte":
        f = mon.get("stale pte")
        return Verdict(not f, str(f[0]) if f else "no valid PTE pointed to freed memory")
    if p.kind == "ring intact":
        ring = str(p.args[0])
        bad = [f for f in mon.get("ring") if f.message.startswith(f"{ring}:")]
        bad += [f for f in st.ring_damage if f.message.startswith(f"{ring}:")]
        return Verdict(not bad, str(bad[0]) if bad else f"every packet on {ring}'s page queue was intact")
    raise KeyError(p.kind)


def _process(st: RunState, name: str) -> Process:
    """The process an expectation names; one that does not exist (yet: an ``at`` block may
    run before the statement that creates it) is the scenario's error."""
    proc = st.system.processes.get(name)
    if proc is None:
        raise ScenarioError(f"unknown process {name!r}: it does not exist at {st.sim.now} ns")
    return proc


def state_predicate(p: Predicate, st: RunState) -> Verdict:
    """Evaluate a state predicate at the point where it stands."""
    sysm = st.system
    k, a = p.kind, p.args
    if k in ("killed", "alive"):
        proc = _process(st, str(a[0]))
        if k == "killed":
            return Verdict(
                proc.killed,
                f"{proc.name} was killed: {proc.kill_reason}" if proc.killed else f"{proc.name} is alive",
            )
        return Verdict(
            not proc.killed,
            f"{proc.name} is alive" if not proc.killed else f"{proc.name} was killed: {proc.kill_reason}",
        )
    if k == "in":
        va, size, pname, loc = int(str(a[0])), int(str(a[1])), str(a[2]), str(a[3])
        proc = _process(st, pname)
        addr = va
        while addr < va + size:
            r = proc.range_at(addr)
            if r is None:
                return Verdict(False, f"{addr:#x} is in no svm range of {pname}")
            g = r.granule_at(addr)
            if g.place.where() != loc:
                return Verdict(False, f"{addr:#x} of {pname} is in {g.place.where()}")
            addr = g.va + g.size
        return Verdict(True, f"{va:#x} +{size:#x} of {pname} is in {loc}")
    if k == "resolved":
        va, pname, gpu, within = int(str(a[0])), str(a[1]), a[2], a[3]
        recs = [
            f
            for f in st.monitor.faults
            if f.process == pname and f.address >> 12 == va >> 12 and (gpu is None or f.gpu == gpu)
        ]
        if not recs:
            return Verdict(False, f"no fault at {va:#x} of {pname} was taken")
        last = recs[-1]
        if last.resolved is None or last.outcome != "mapped":
            return Verdict(False, f"the fault at {va:#x} of {pname} ended {last.outcome}")
        lat = last.resolved - last.posted
        if within is not None and lat > int(str(within)):
            return Verdict(False, f"the fault at {va:#x} of {pname} took {lat} ns")
        return Verdict(True, f"the fault at {va:#x} of {pname} was resolved in {lat} ns")
    if k == "metric":
        name, op, n = str(a[0]), str(a[1]), a[2]
        of = str(a[3]) if len(a) > 3 and a[3] is not None else None
        value = st.metric(name, of)
        assert isinstance(n, int | float)
        ok = OPS[op](value, n)
        shown = f"{int(value)}" if float(value).is_integer() else f"{value:g}"  # 4194304, not 4.1943e+06
        return Verdict(ok, f"{name}{f' of {of}' if of else ''} is {shown}")
    if k == "reads":
        va, size, pname, value = int(str(a[0])), int(str(a[1])), str(a[2]), int(str(a[3]))
        ok, why = sysm.values_at(_process(st, pname), va, size, value)
        return Verdict(ok, why)
    raise KeyError(k)


def conclude(
    st: RunState,
    expectations: list[Expectation],
    outcomes: list[Outcome],
    failures: list[str],
    finished: bool = True,
) -> None:
    """Draw the run's conclusions: stalls, ring damage, leaks, the run predicates'
    verdicts (appended to ``outcomes``) and the implicit failures (to ``failures``)."""
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
    for exp in expectations:
        if exp.predicate.is_run:
            named.add(exp.predicate.kind)
            v = run_predicate(exp.predicate, st)
            outcomes.append(Outcome(exp, v.holds != exp.negate, v.why, sim.now))
    judged = {id(o.expectation) for o in outcomes}
    for exp in expectations:
        if not exp.predicate.is_run and id(exp) not in judged:
            outcomes.append(Outcome(exp, False, _unreached(st, finished), sim.now))
    outcomes.sort(key=lambda o: o.expectation.line)
    if sim.deadlocks and "no deadlock" not in named:
        failures.append("unexpected deadlock: " + " -> ".join([*sim.deadlocks[0], sim.deadlocks[0][0]]))
    if st.stalls and "no stall" not in named and "no deadlock" not in named:
        failures.append("unexpected " + st.stalls[0])
    if st.leaks and "no leaks" not in named:
        failures.append("unexpected leak: " + st.leaks[0])


def _unreached(st: RunState, finished: bool) -> str:
    """Why a state expectation got no verdict: where its thread stopped, and on what."""
    blocked = [a.name for a in st.app_threads if not a.done]
    if not finished:
        return "never reached: the run stopped with an error"
    if not blocked:
        return "never reached: the run stopped before it"
    parts = []
    for name in blocked:
        where = st.at_statement.get(name, "its first statement")
        fence = st.waiting_for.get(name)
        parts.append(f"{name} was blocked at {where}" + (f", waiting for {fence}" if fence else ""))
    return "never reached: " + "; ".join(parts)


def plugin_metrics(pm: pluggy.PluginManager, st: RunState, builtin: dict[str, float]) -> dict[str, float]:
    """Metrics plugins compute at the end of the run (vmcore_metrics)."""
    out: dict[str, float] = {}
    for impl in pm.hook.vmcore_metrics.get_hookimpls():
        try:
            table = cast("Mapping[str, object] | None", impl.function(result=RunView(st)))
        except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
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


def judge_state(exp: Expectation, st: RunState, pm: pluggy.PluginManager) -> Verdict:
    """A state predicate's verdict where it stands (plugin predicates included)."""
    p = exp.predicate
    if p.kind == "plugin":
        name = str(p.args[0])
        for table in pm.hook.vmcore_expect_predicates():
            if table and name in table:
                fn: Callable[..., Any] = table[name]
                try:
                    got = fn(RunView(st), *[str(x) for x in p.args[1:]])
                except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
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


def vram_metrics(st: RunState) -> dict[str, float]:
    largest = 0
    frag = 0.0
    for gpu in st.system.gpus.values():
        if gpu.vram is None:
            continue
        s = gpu.vram.stats
        largest += s.largest_free
        frag = max(frag, s.fragmentation)
    return {"vram_largest_free": float(largest), "vram_fragmentation": frag}


__all__ = [
    "METRICS",
    "METRIC_DOCS",
    "OPS",
    "PROCESS_METRICS",
    "RING_INTACT_DOC",
    "RUN_PREDICATES",
    "RUN_PREDICATE_DOCS",
    "Expectation",
    "Outcome",
    "Predicate",
    "RunState",
    "Verdict",
    "conclude",
    "judge_state",
    "plugin_metrics",
    "run_predicate",
    "state_predicate",
    "vram_metrics",
]
