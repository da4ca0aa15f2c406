"""vmcore plugin: fault statistics as ``expect`` predicates (an observer, not a policy).

vmcore's built-in metrics sum over GPUs (``faults``) or summarise (``fault_latency_p99``).
This plugin adds predicates that look closer:

``expect faults_on GPU at_most|at_least|exactly N``
    GPU faults after filtering on one GPU (retries included: each is a fault).
``expect max_fault_latency_below T``
    every GPU fault so far was resolved, and mapped, in less than T (``T``: a time such
    as ``5us``); a fault still pending or one that failed breaks it.
``expect events "ACTION" at_most|at_least|exactly N``
    events of the run log with that action (``"migrated"``, ``"evict"``, ``"pt alloc
    failed"``, ``"fault"`` ...), counted by this plugin's ``vmcore_event`` observer.

Like every state predicate they are checked where they stand, over the run so far.
The first two read the run's fault records; the third uses the counts this plugin's
observer keeps.  vmcore does not evaluate ``vmcore_metrics`` (no engine code calls the
hook), so the plugin adds no metric.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping

from vmcore import RunState, hookimpl

__version__ = "0.1.0"

COMPARE: dict[str, Callable[[int, int], bool]] = {
    "at_most": lambda a, b: a <= b,
    "at_least": lambda a, b: a >= b,
    "exactly": lambda a, b: a == b,
}
UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


class EventCounter:
    """Counts the run's events by action and by (actor, action); vmcore_run_started
    starts the counts over for each run."""

    def __init__(self) -> None:
        self.by_action: Counter[str] = Counter()
        self.by_actor: Counter[tuple[str, str]] = Counter()
        self.last_time = -1
        self.runs = 0

    def reset(self) -> None:
        self.by_action.clear()
        self.by_actor.clear()
        self.last_time = -1

    def event(self, time: int, actor: str, action: str) -> None:
        self.last_time = time
        self.by_action[action] += 1
        self.by_actor[(actor, action)] += 1


COUNTER = EventCounter()


def parse_count(op: str, n: str, what: str) -> tuple[Callable[[int, int], bool], int]:
    if op not in COMPARE:
        raise ValueError(f"{what}: expected at_most, at_least or exactly, got {op!r}")
    try:
        count = int(n, 0)
    except ValueError:
        raise ValueError(f"{what}: expected a count, got {n!r}") from None
    return COMPARE[op], count


def parse_time(t: str) -> int:
    """Nanoseconds from ``"5000"`` (what the .vms compiler passes for ``5us``) or ``"5us"``."""
    m = re.fullmatch(r"\s*(\d[\d_]*)\s*(ns|us|ms|s)?\s*", t)
    if m is None:
        raise ValueError(f"max_fault_latency_below: expected a time such as 5us, got {t!r}")
    return int(m.group(1).replace("_", "")) * UNITS[m.group(2) or "ns"]


def faults_on(st: RunState, gpu: str, op: str, n: str) -> bool:
    """``expect faults_on GPU at_most N``: GPU faults (after filtering) taken on GPU."""
    cmp, count = parse_count(op, n, "faults_on")
    if gpu not in st.system.gpus:
        raise ValueError(f"faults_on: unknown GPU {gpu!r} (GPUs: {', '.join(st.system.gpus)})")
    return cmp(sum(1 for f in st.monitor.faults if f.gpu == gpu), count)


def max_fault_latency_below(st: RunState, limit: str) -> bool:
    """``expect max_fault_latency_below T``: every fault so far was mapped in less than T."""
    ns = parse_time(limit)
    return all(
        f.resolved is not None and f.outcome == "mapped" and f.resolved - f.posted < ns
        for f in st.monitor.faults
    )


def events(st: RunState, action: str, op: str, n: str) -> bool:
    """``expect events "ACTION" at_most N``: events of the run log with that action."""
    cmp, count = parse_count(op, n, "events")
    return cmp(COUNTER.by_action[action], count)


PREDICATES: dict[str, Callable[..., bool]] = {
    "faults_on": faults_on,
    "max_fault_latency_below": max_fault_latency_below,
    "events": events,
}


@hookimpl
def vmcore_run_started(scenario: str) -> None:
    COUNTER.reset()
    COUNTER.runs += 1


@hookimpl
def vmcore_event(time: int, actor: str, action: str, detail: str) -> None:
    COUNTER.event(time, actor, action)


@hookimpl
def vmcore_expect_predicates() -> Mapping[str, Callable[..., bool]]:
    return PREDICATES


__all__ = [
    "COUNTER",
    "PREDICATES",
    "EventCounter",
    "events",
    "faults_on",
    "max_fault_latency_below",
    "parse_time",
    "vmcore_event",
    "vmcore_expect_predicates",
]
