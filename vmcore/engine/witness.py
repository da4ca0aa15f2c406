"""Witnesses: a schedule that decided a verdict, shrunk, told as a trace or in prose, replayable.

A schedule is the list of choices the scheduler made among ready actors (``Result.choices``);
following the same choices reproduces the run exactly.  Shrinking works on that list, in
the spirit of hypothesis: a shorter prefix (the rest takes the default choice) and fewer
non-default choices, kept only while the run still shows what the witness showed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from vmcore.engine.checks import Outcome
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


Step = tuple[int, str, str, str]
"""One step of a witness as the event log has it: time (ns), actor, action, detail."""

ASKED_ONLY: Final = ("user fence on page tables",)
"""Checks whose monitor lines a witness shows only where the scenario asks for them
(``expect [no] user fence on page tables``): with ``queues = "cs"`` every job puts its
fence on the page tables, and the line would only crowd a witness about something else."""


def asked(result: Result, check: str) -> bool:
    """Whether one of the run's expectations judges ``check`` (``expect [no] CHECK``)."""
    return any(o.expectation.predicate.kind in (check, f"no {check}") for o in result.outcomes)


def steps(result: Result) -> list[Step]:
    """The steps a witness shows: the event log without the monitor lines of checks the
    scenario does not ask for (:data:`ASKED_ONLY`), and, for a deadlock, the waits of its
    cycle that the log has no line for, up to the wait that closed it.

    The log records what happened; a deadlock is what never happens.  An update queued on
    an entity is logged when it runs, a job when it starts and the fault handler's wait
    not at all, so the updates, jobs and wait of a cycle are added as steps of their own,
    at the moment the cycle closed (the monitor's line for that wait, when it has one)."""
    hidden = {c for c in ASKED_ONLY if not asked(result, c)}
    rows = [r for r in result.log if not (r[1] == "monitor" and r[2] in hidden)]
    if result.deadlocks:
        at, closing = _closing_steps(result, rows, result.deadlocks[0])
        rows[at:at] = closing
    return rows


def _closing_steps(result: Result, rows: list[Step], cycle: list[str]) -> tuple[int, list[Step]]:
    """Where the steps of ``cycle`` go in ``rows``, and the steps: each pending update and
    job of the cycle (in the order they queued up), then the wait that closed it.

    The wait-for graph reports a cycle from the waiter whose wait closed it:
    ``cycle[0]`` waits for ``cycle[1]``."""
    closer, target = cycle[0], cycle[1 % len(cycle)]
    actor = _actor_of(closer)
    at, t = len(rows), result.end_time
    waits = f"{closer} waits for {target[len('fence ') :]}," if target.startswith("fence ") else None
    marks = [
        i
        for i, r in enumerate(rows)
        if waits and r[1] == "monitor" and r[2] == "potential deadlock" and r[3].startswith(waits)
    ]
    if marks:
        at, t = marks[-1], rows[marks[-1]][0]  # the monitor saw this wait: it happened then
    else:
        mine = [i for i, r in enumerate(rows) if r[1] == actor]
        if mine:
            at, t = mine[-1] + 1, rows[mine[-1]][0]
    started = _started(result) or set()
    out: list[Step] = []
    n = len(cycle)
    for k in range(n - 1, 0, -1):  # from the end of the cycle back: the order things queued
        node, waits_for = cycle[k], cycle[(k + 1) % n]
        m = _ENTITY_JOB.match(node)
        if m:
            out.append((t, m.group(1), "pending update", f"{m.group(2)}, waiting for {waits_for}"))
            continue
        m = _WAITING.match(node) or _RUNNING.match(node)
        if m and (m.group(1), m.group(2)) not in started:
            out.append((t, m.group(1), "pending job", f"{m.group(2)}, waiting for {waits_for}"))
    out.append((t, actor, "waits (deadlock)", f"for {target}: this wait closes the wait-for cycle"))
    return at, out


def _started(result: Result) -> set[tuple[str, str]] | None:
    """The (engine, job) pairs of the jobs that started, from the log (None without one)."""
    if not result.log:
        return None
    return {(actor, detail) for _, actor, action, detail in result.log if action == "start"}


def _actor_of(node: str) -> str:
    """The log's actor for a wait-for-graph node: an engine for the job it runs, an entity
    for the update it holds, the node itself for an actor (fault handler, app thread)."""
    m = _WAITING.match(node) or _RUNNING.match(node)
    if m:
        return m.group(1)
    m = _ENTITY_JOB.match(node)
    if m:
        return m.group(1)
    return node


def trace(result: Result, limit: int | None = None) -> str:
    """The witness's :func:`steps` as a numbered trace: step, time, actor, action, detail."""
    rows = steps(result)
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
_WAITING = re.compile(r"^(\S+) waiting to start (\S+)$")
_FAULT = re.compile(r"^(retry|no-retry) fault (0x[0-9a-f]+) of (\S+) on (\S+)$")
_ENTITY = re.compile(r"^(\S+)@(\S+) (immediate|delayed): (.*)$")
_ENTITY_JOB = re.compile(r"^(\S+@\S+ (?:immediate|delayed)|\S+ ttm): (.*)$")
"""A kernel job waiting on an entity: the entity (a VM's, or TTM's of a GPU), the job."""


def describe_node(name: str, started: Collection[tuple[str, str]] | None = None) -> str:
    """A wait-for-graph node in words.  ``started``: the (engine, job) pairs that started
    (``None``: not known); the graph names an engine's job "running" from the moment it
    is at the head of the engine's queue, also while it waits for its dependencies."""
    if name.startswith("fault handler "):
        return f"the fault handler of {name[len('fault handler ') :]}"
    if name.startswith("fence "):
        return f"fence {name[6:]}"
    m = _WAITING.match(name)
    if m:
        return f"job {m.group(2)}, not yet started on engine {m.group(1)}"
    m = _RUNNING.match(name)
    if m:
        if started is None or (m.group(1), m.group(2)) in started:
            return f"engine {m.group(1)}, running job {m.group(2)}"
        return f"job {m.group(2)}, not yet started on engine {m.group(1)}"
    m = _FAULT.match(name)
    if m:
        return f"the {m.group(1)} fault at {m.group(2)} of {m.group(3)} on {m.group(4)}"
    m = _ENTITY.match(name)
    if m:
        return f"the {m.group(3)} entity of {m.group(1)} on {m.group(2)}, holding the update {m.group(4)}"
    if name.startswith("direct update "):
        return f"the direct submission of {name[len('direct update fence ') :] or name}"
    return name


_TOLD: Final = (
    "no deadlock",
    "no stall",
    "no potential deadlock",
    "no user fence on page tables",
    "no stale pte",
)
"""Run predicates whose failure (``expect no X`` and X happened) the explanation tells
already: as the cycle, the stall, or the check's finding."""


def failed_expectation(o: Outcome) -> str:
    """A failed expectation in words: what was expected, where, and what was found (for a
    metric: its value and the bound it missed)."""
    exp = o.expectation
    p = exp.predicate
    text = f"Expectation `expect {exp}` (line {exp.line}) failed: {o.why}"
    if p.kind == "metric" and len(p.args) >= 3:
        op, bound = p.args[1], p.args[2]
        text += f", which is {op} {bound}" if exp.negate else f", not {op} {bound}"
    return text + "."


def explain(result: Result) -> str:
    """The run in prose: the deadlock cycle, the expectations that failed, the checks that
    fired, stalls and errors."""
    parts: list[str] = []
    if result.deadlocks:
        cycle = result.deadlocks[0]
        started = _started(result)
        words = [describe_node(n, started) for n in cycle]
        sentence = f"{words[0][0].upper()}{words[0][1:]} waits for {words[1]}"
        for s in words[2:]:
            sentence += f", which waits for {s}"
        sentence += f", which can only be resolved by {words[0]}: a deadlock."
        parts.append(sentence)
        if any(n.startswith("fence ") for n in cycle) and any("fault" in n for n in cycle):
            parts.append(
                "The fault path waits on a fence that depends on the job stalled on the fault; "
                "upstream amdgpu avoids this by never letting fault-path allocations and page-table "
                "updates wait for user work (no_wait_gpu, the immediate entity)."
            )
    for o in result.outcomes:
        if o.passed or (o.expectation.predicate.kind in _TOLD and not o.expectation.negate):
            continue
        parts.append(failed_expectation(o))
    for check, findings in sorted(result.findings.items()):
        if check in ASKED_ONLY and not asked(result, check):
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
