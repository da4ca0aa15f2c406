"""Witnesses: a schedule that decided a verdict, shrunk, told as a trace or in prose, replayable.

A schedule is the list of choices the scheduler made among ready actors (``Result.choices``);
following the same choices reproduces the run exactly.  Shrinking works on that list, in
the spirit of hypothesis: a shorter prefix (the rest takes the default choice) and fewer
non-default choices, kept only while the run still shows what the witness showed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmcore.engine.scenario import Result, Scenario
from vmcore.engine.sim import Actor, Scheduler

REPLAY_VERSION = 1


class ReplayScheduler(Scheduler):
    """Makes the recorded choices, then the default one."""

    def __init__(self, choices: list[int]) -> None:
        self.choices = choices
        self.i = 0

    def choose(self, now: int, ready: list[Actor]) -> int:
        c = self.choices[self.i] if self.i < len(self.choices) else 0
        self.i += 1
        return min(c, len(ready) - 1)


def signature(result: Result, line: int | None) -> tuple[object, ...]:
    """What a witness shows: the verdict of expectation ``line`` (or that the run failed)."""
    if line is None:
        return (bool(result.failures), tuple(f.split(":", 1)[0] for f in result.failures))
    for o in result.outcomes:
        if o.expectation.line == line:
            return (o.passed,)
    return ("missing",)


def shrink(
    build: Callable[[Scheduler | None], Scenario],
    choices: list[int],
    keep: Callable[[Result], bool],
    budget: int = 200,
) -> tuple[list[int], Result | None, int]:
    """A smaller choice list for which ``keep(result)`` still holds: (choices, its result, runs)."""
    runs = 0
    best = list(choices)
    while best and best[-1] == 0:
        best.pop()
    best_result: Result | None = None

    def attempt(cand: list[int]) -> Result | None:
        nonlocal runs
        runs += 1
        r = build(ReplayScheduler(cand)).run()
        return r if keep(r) else None

    # 1. the shortest prefix that still shows it (the rest of the run takes defaults)
    lo, hi = 0, len(best)
    while lo < hi and runs < budget:
        mid = (lo + hi) // 2
        r = attempt(best[:mid])
        if r is not None:
            hi, best_result = mid, r
        else:
            lo = mid + 1
    best = best[:hi]
    # 2. drop non-default choices one at a time, last first
    i = len(best) - 1
    while i >= 0 and runs < budget:
        if best[i]:
            cand = [*best[:i], 0, *best[i + 1 :]]
            r = attempt(cand)
            if r is not None:
                best, best_result = cand, r
        i -= 1
    while best and best[-1] == 0:
        best.pop()
    return best, best_result, runs


def trace(result: Result, limit: int | None = None) -> str:
    """The event log as a numbered trace: step, time, actor, action, detail."""
    rows = result.log
    start = 0
    if limit is not None and len(rows) > limit:
        start = len(rows) - limit
    width = len(str(len(rows)))
    out = []
    if start:
        out.append(f"{'':>{width}}  ... {start} earlier steps")
    for k, (t, actor, action, detail) in enumerate(rows[start:], start + 1):
        out.append(f"{k:>{width}}. {t:>10} ns  {actor:<22} {action:<18} {detail}".rstrip())
    return "\n".join(out)


_RUNNING = re.compile(r"^(\S+) running (\S+)$")
_FAULT = re.compile(r"^(retry|no-retry) fault (0x[0-9a-f]+) of (\S+) on (\S+)$")
_ENTITY = re.compile(r"^(\S+)@(\S+) (immediate|delayed): (.*)$")


def describe_node(name: str) -> str:
    """A wait-for-graph node in words."""
    if name.startswith("fault handler "):
        return f"the fault handler of {name[len('fault handler ') :]}"
    if name.startswith("fence "):
        return f"fence {name[6:]}"
    m = _RUNNING.match(name)
    if m:
        return f"engine {m.group(1)}, running job {m.group(2)}"
    m = _FAULT.match(name)
    if m:
        return f"the {m.group(1)} fault at {m.group(2)} of {m.group(3)} on {m.group(4)}"
    m = _ENTITY.match(name)
    if m:
        return f"the {m.group(3)} entity of {m.group(1)} on {m.group(2)}, holding the update {m.group(4)}"
    if name.startswith("direct update "):
        return f"the direct submission of {name[len('direct update fence ') :] or name}"
    return name


def explain(result: Result) -> str:
    """The run in prose: the deadlock cycle, or the checks that fired."""
    parts: list[str] = []
    if result.deadlocks:
        cycle = result.deadlocks[0]
        steps = [describe_node(n) for n in cycle]
        sentence = f"{steps[0][0].upper()}{steps[0][1:]} waits for {steps[1]}"
        for s in steps[2:]:
            sentence += f", which waits for {s}"
        sentence += f", which can only be resolved by {steps[0]}: a deadlock."
        parts.append(sentence)
        if any(n.startswith("fence ") for n in cycle) and any("fault" in n for n in cycle):
            parts.append(
                "The fault path waits on a fence that depends on the job stalled on the fault; "
                "upstream amdgpu avoids this by never letting fault-path allocations and page-table "
                "updates wait for user work (no_wait_gpu, the immediate entity)."
            )
    for check, findings in sorted(result.findings.items()):
        if check in ("user fence on page tables",) and not result.deadlocks:
            continue
        if findings:
            parts.append(f"{check}: {findings[0].message} (at {findings[0].time} ns).")
    for s in result.stalls:
        parts.append(f"{s[0].upper()}{s[1:]}.")
    for f in result.failures:
        parts.append(f"{f[0].upper()}{f[1:]}.")
    if not parts:
        parts.append("Nothing went wrong in this schedule: no deadlock, stall, leak or damage was seen.")
    return "\n".join(parts)


@dataclass
class ReplayFile:
    """What `vmcore test --replay FILE` needs to run a schedule again."""

    path: str
    id: str
    choices: list[int]
    seed: int = 0
    policies: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    line: int | None = None
    note: str = ""
    version: int = REPLAY_VERSION

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def load(cls, file: str | Path) -> ReplayFile:
        try:
            data: Any = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{file}: not a vmcore replay file ({e})") from None
        if not isinstance(data, dict) or data.get("version") != REPLAY_VERSION:
            raise ValueError(f"{file}: not a vmcore replay file of version {REPLAY_VERSION}")
        try:
            return cls(**data)
        except TypeError as e:
            raise ValueError(f"{file}: malformed replay file ({e})") from None
