"""Checks and metrics that watch the whole run, and the event log.

Findings are recorded when they happen (with simulated time), not reconstructed at the
end: a user fence landing on a page-table reservation, the fault path waiting on a
fence with user work in its ancestry (a *potential* deadlock: narrower than lockdep), a
corrupt ring, a valid PTE left pointing at freed memory.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    time: int
    message: str

    def __str__(self) -> str:
        return f"[{self.time} ns] {self.check}: {self.message}"


@dataclass(slots=True)
class FaultRecord:
    """One GPU fault after filtering: where, when, and how it ended."""

    gpu: str
    process: str
    address: int
    write: bool
    retry: bool
    posted: int
    resolved: int | None = None
    outcome: str = "pending"


TIMELINE_SERIES = ("vram_used", "faults", "migrations")
"""What a timeline records: bytes of VRAM in use (all GPUs), and the running counts of
GPU faults and migrations."""


class Timeline:
    """Counters over simulated time, one sample whenever one changes: three 64-bit
    numbers a sample (time, series, value) in one array, no Python object per sample."""

    __slots__ = ("samples", "vram_used")

    def __init__(self) -> None:
        self.samples = array("q")
        self.vram_used = 0

    def record(self, now: int, series: int, value: int) -> None:
        self.samples.extend((now, series, value))

    def series(self, name: str) -> tuple[list[int], list[int]]:
        """(times, values) of one series of :data:`TIMELINE_SERIES`, in time order."""
        k = TIMELINE_SERIES.index(name)
        s = self.samples
        times = [s[i] for i in range(0, len(s), 3) if s[i + 1] == k]
        values = [s[i + 2] for i in range(0, len(s), 3) if s[i + 1] == k]
        return times, values


@dataclass
class Monitor:
    """Everything the checks saw, the metrics, and the event log."""

    log: list[tuple[int, str, str, str]] = field(default_factory=list)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    faults: list[FaultRecord] = field(default_factory=list)
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "faults": 0,
            "retries": 0,
            "cpu_faults": 0,
            "migrations": 0,
            "evictions": 0,
            "bytes_moved": 0,
            "pt_allocations": 0,
            "ring_occupancy_max": 0,
            "ih_overflows": 0,
            "alloc_failures": 0,
            "thrashed": 0,
            "prefetched": 0,
        }
    )
    keep_log: bool = True
    timeline: Timeline | None = None
    """The counters over simulated time, when the run records them (``vmcore compare
    --timeline``); None otherwise, and nothing is recorded."""
    _observer: Callable[[int, str, str, str], None] | None = None
    logging: bool = field(init=False, default=True)
    """Whether events are wanted at all (skip formatting them otherwise): kept up to date
    as ``observer`` changes, read for every fault and PTE write."""

    def __post_init__(self) -> None:
        self.logging = self.keep_log or self._observer is not None

    @property
    def observer(self) -> Callable[[int, str, str, str], None] | None:
        """Who else sees every event (plugins' ``vmcore_event``)."""
        return self._observer

    @observer.setter
    def observer(self, fn: Callable[[int, str, str, str], None] | None) -> None:
        self._observer = fn
        self.logging = self.keep_log or fn is not None

    def event(self, time: int, actor: str, action: str, detail: str = "") -> None:
        if self.keep_log:
            self.log.append((time, actor, action, detail))
        if self._observer is not None:
            self._observer(time, actor, action, detail)

    def find(self, check: str, time: int, message: str) -> None:
        self.findings.setdefault(check, []).append(Finding(check, time, message))
        self.event(time, "monitor", check, message)

    def count(self, name: str, n: int = 1, owner: Any = None) -> None:
        """Count ``n`` more ``name``; ``owner`` (a process) gets its share too."""
        self.counters[name] = self.counters.get(name, 0) + n
        if owner is not None:
            owner.counters[name] += n

    def get(self, check: str) -> list[Finding]:
        return self.findings.get(check, [])

    def fault_latencies(self) -> list[int]:
        """The latency (ns) of every fault that ended mapped, sorted."""
        lat = [f.resolved - f.posted for f in self.faults if f.outcome == "mapped" and f.resolved is not None]
        lat.sort()
        return lat

    def fault_latency(self, pct: float, latencies: list[int] | None = None) -> int:
        """The ``pct`` percentile (nearest rank) of :meth:`fault_latencies`, or of
        ``latencies`` when the caller already has them."""
        lat = self.fault_latencies() if latencies is None else latencies
        if not lat:
            return 0
        k = min(len(lat) - 1, max(0, round(pct / 100 * len(lat) + 0.5) - 1))
        return lat[k]

    def format_log(self, lines: list[tuple[int, str, str, str]] | None = None) -> str:
        rows = self.log if lines is None else lines
        return "\n".join(f"{t:>12} ns  {a:<22} {act:<18} {d}".rstrip() for t, a, act, d in rows)
