"""Running a scenario under many schedules and judging its expectations over all of them.

``expect P`` passes when P holds in every explored schedule (a counterexample is kept
otherwise); ``expect not P`` passes when some schedule violates P (the witness is kept).
Strategies choose among the actors ready at the same instant:

* ``random`` — uniformly at random, seeded per schedule;
* ``pct`` — probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random
  actor priorities, the highest-priority ready actor runs, and at ``depth`` random steps
  the running actor drops to the lowest priority;
* ``dfs`` — systematic search over the choice points, replaying a prefix and branching
  at the last choice with untried alternatives, with at most ``depth`` preemptions
  (choices other than the default); it reports whether the space was exhausted.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from vmcore.engine.scenario import Outcome, Result, Scenario
from vmcore.engine.sim import Actor, Scheduler

STRATEGIES = ("random", "pct", "dfs")


class RandomScheduler(Scheduler):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choose(self, now: int, ready: list[Actor]) -> int:
        return self.rng.randrange(len(ready))


class PctScheduler(Scheduler):
    """PCT with ``depth`` priority change points spread over ``steps`` choice points."""

    def __init__(self, seed: int, depth: int, steps: int) -> None:
        self.rng = random.Random(seed)
        self.prio: dict[int, float] = {}
        self.step = 0
        self.low = 0.0
        self.changes = set(self.rng.sample(range(1, max(steps, depth) + 1), depth)) if depth else set()

    def _p(self, a: Actor) -> float:
        p = self.prio.get(id(a))
        if p is None:
            p = self.prio[id(a)] = self.rng.random() + 1.0
        return p

    def choose(self, now: int, ready: list[Actor]) -> int:
        self.step += 1
        best = max(range(len(ready)), key=lambda i: self._p(ready[i]))
        if self.step in self.changes:
            self.low -= 1.0
            self.prio[id(ready[best])] = self.low
            best = max(range(len(ready)), key=lambda i: self._p(ready[i]))
        return best


class DfsScheduler(Scheduler):
    """Follows ``prefix``, then the default choice, recording (choice, options) per point."""

    def __init__(self, prefix: list[int]) -> None:
        self.prefix = prefix
        self.trace: list[tuple[int, int]] = []

    def choose(self, now: int, ready: list[Actor]) -> int:
        i = len(self.trace)
        c = self.prefix[i] if i < len(self.prefix) else 0
        c = min(c, len(ready) - 1)
        self.trace.append((c, len(ready)))
        return c


def _next_prefix(trace: list[tuple[int, int]], bound: int) -> list[int] | None:
    """The next choice sequence in DFS order with at most ``bound`` preemptions, or None."""
    before = sum(1 for c, _ in trace if c)  # preemptions in trace[:k + 1], then trace[:k]
    for k in range(len(trace) - 1, -1, -1):
        c, n = trace[k]
        if c:
            before -= 1
        # bumping choice k makes it a preemption: the prefix holds before + 1 of them
        if c + 1 < n and before + 1 <= bound:
            return [x for x, _ in trace[:k]] + [c + 1]
    return None


@dataclass
class Exploration:
    """The judgement over all schedules of one scenario."""

    name: str
    runs: int
    strategy: str
    exhausted: bool | None
    outcomes: list[Outcome]
    failures: list[str]
    interesting: Result
    """The run to show: the first counterexample or witness that decided a verdict."""
    seeds: list[int] = field(default_factory=list)
    decisive: dict[int, int] = field(default_factory=dict)
    """expectation line -> index of the schedule that decided it."""

    @property
    def passed(self) -> bool:
        return not self.failures and all(o.passed for o in self.outcomes)


def explore(
    build: Callable[[Scheduler | None], Scenario],
    runs: int,
    strategy: str = "random",
    depth: int = 2,
    seed: int = 0,
    on_run: Callable[[int, Result], None] | None = None,
) -> Exploration:
    """Run ``runs`` schedules of the scenario ``build`` makes and judge its expectations."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    results: list[Result] = []
    exhausted: bool | None = None
    steps = 0
    prefix: list[int] | None = []
    for i in range(runs):
        if strategy == "random":
            sched: Scheduler = RandomScheduler(seed * 1_000_003 + i)
        elif strategy == "pct":
            sched = PctScheduler(seed * 1_000_003 + i, depth, steps or 1000)
        else:
            assert prefix is not None
            sched = DfsScheduler(prefix)
        r = build(sched).run()
        steps = max(steps, r.events)
        results.append(r)
        if on_run is not None:
            on_run(i, r)
        if isinstance(sched, DfsScheduler):
            prefix = _next_prefix(sched.trace, depth)
            if prefix is None:
                exhausted = True
                break
    if strategy == "dfs" and exhausted is None:
        exhausted = False
    return judge(results, strategy, exhausted)


def judge(results: list[Result], strategy: str = "default", exhausted: bool | None = None) -> Exploration:
    """Combine per-schedule outcomes: all schedules for ``expect P``, some for ``expect not P``."""
    first = results[0]
    outcomes: list[Outcome] = []
    decisive: dict[int, int] = {}
    show = first
    for k, o in enumerate(first.outcomes):
        per = [(i, r.outcomes[k]) for i, r in enumerate(results) if k < len(r.outcomes)]
        if o.expectation.negate:
            hit = next(((i, x) for i, x in per if x.passed), None)
            chosen = hit or per[0]
            passed = hit is not None
        else:
            miss = next(((i, x) for i, x in per if not x.passed), None)
            chosen = miss or per[0]
            passed = miss is None
        i, x = chosen
        decisive[o.expectation.line] = i
        outcomes.append(Outcome(x.expectation, passed, x.why, x.time))
        if not passed and show is first:
            show = results[i]
    failures: list[str] = []
    for i, r in enumerate(results):
        if r.failures:
            failures = [f"{f} (schedule {i})" if len(results) > 1 else f for f in r.failures]
            show = r
            break
    if show is first:
        for o in outcomes:
            if o.expectation.negate and o.passed:
                show = results[decisive[o.expectation.line]]
                break
    return Exploration(
        first.name, len(results), strategy, exhausted, outcomes, failures, show, decisive=decisive
    )
