"""Expectations: run predicates (over the whole run) and state predicates (where they stand).

``expect P`` holds when P holds; ``expect not P`` when it does not.  For the "no X"
predicates, ``X`` alone is ``not no X``.  With exploration (a later issue) "holds"
becomes "in every explored schedule" and "does not" becomes "in some schedule".
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmcore.engine.scenario import RunState

RUN_PREDICATES = {
    "no deadlock",
    "no potential deadlock",
    "no stall",
    "no leaks",
    "no user fence on page tables",
    "no stale pte",
}

METRICS = (
    "faults",
    "retries",
    "cpu_faults",
    "migrations",
    "evictions",
    "bytes_moved",
    "pt_allocations",
    "fault_latency_p50",
    "fault_latency_p99",
    "vram_largest_free",
    "vram_fragmentation",
    "ring_occupancy_max",
    "ih_overflows",
    "alloc_failures",
)

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
        return self.kind in RUN_PREDICATES or self.kind.startswith("ring ")

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
            return f"{a[0]} {a[1]} {a[2]}"
        if k == "plugin":
            return " ".join(str(x) for x in a)
        return k


@dataclass(frozen=True, slots=True)
class Verdict:
    holds: bool
    why: str


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


def state_predicate(p: Predicate, st: RunState) -> Verdict:
    """Evaluate a state predicate at the point where it stands."""
    sysm = st.system
    k, a = p.kind, p.args
    if k in ("killed", "alive"):
        proc = sysm.processes[str(a[0])]
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
        proc = sysm.processes[pname]
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
        value = st.metric(name)
        assert isinstance(n, int | float)
        ok = OPS[op](value, n)
        return Verdict(ok, f"{name} is {value:g}")
    if k == "reads":
        va, size, pname, value = int(str(a[0])), int(str(a[1])), str(a[2]), int(str(a[3]))
        ok, why = sysm.values_at(sysm.processes[pname], va, size, value)
        return Verdict(ok, why)
    raise KeyError(k)


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


__all__ = ["METRICS", "OPS", "Predicate", "Verdict", "run_predicate", "state_predicate", "vram_metrics"]
