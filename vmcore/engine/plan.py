"""The scenario plan: what a scenario does, statement by statement, as frozen values.

The language compiles a .vms file into a plan, the Python API (:class:`Scenario`) builds
the same plan, and the engine runs it: an application thread takes the statements in
order and each one runs itself (:meth:`Statement.run`) against the simulated system.  A
new statement is a class here whose ``run`` calls the mechanic that does the work.

Statements carry resolved values only (integers, names, locations as text): loop
variables, units and positions are the language's business, except ``line``, which
errors and verdicts cite.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmcore.engine.checks import Expectation, Outcome, judge_state
from vmcore.engine.model import PAGE, Access
from vmcore.engine.model import Job as JobState
from vmcore.engine.sim import Sleep, WaitFence, WaitIdle
from vmcore.errors import ScenarioError

if TYPE_CHECKING:
    from vmcore.engine.scenario import AppThread

Gen = Generator[Any, Any, Any]

PATTERNS = ("sequential", "reverse", "random", "stride")
"""The orders in which a job's ``touches`` walks its pages."""
MAX_PASSES = 1_000_000
"""The most times a job's walk repeats."""


def _nothing() -> Iterator[Any]:
    """The steps of a statement that completes at once."""
    return iter(())


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a scenario; ``line`` is where it stands in its file (0: none)."""

    line: int = field(default=0, kw_only=True)

    def run(self, t: AppThread) -> Gen:
        """Do what the statement says on the application thread ``t``."""
        raise ScenarioError(f"{type(self).__name__} does not say how it runs")


@dataclass(frozen=True, slots=True)
class Process(Statement):
    """``process P on GPU, ... { retry_faults on|off; prefill on|off }``."""

    name: str
    gpus: tuple[str, ...]
    retry_faults: bool = True
    prefill: bool = False

    def run(self, t: AppThread) -> Gen:
        yield from t.system.create_process(self.name, list(self.gpus), self.retry_faults, self.prefill)


@dataclass(frozen=True, slots=True)
class Svm(Statement):
    """``svm P ADDR +SIZE in LOC { ATTR ... }``; ``attrs`` as (name, value) pairs."""

    process: str
    addr: int
    size: int
    loc: str = "system"
    attrs: tuple[tuple[str, Any], ...] = ()

    def run(self, t: AppThread) -> Gen:
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in self.attrs}
        p = t.proc(self.process)
        yield from t.call("svm", (p,), t.system.create_svm(p, self.addr, self.size, self.loc, attrs))


@dataclass(frozen=True, slots=True)
class Bo(Statement):
    """``bo B in LOC size S owner P [pinned] [contiguous]``."""

    name: str
    loc: str
    size: int
    owner: str
    pinned: bool = False
    contiguous: bool = False

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.owner)
        made = t.system.create_bo(self.name, self.loc, self.size, p, self.pinned, self.contiguous)
        yield from t.call("bo", (p,), made)


@dataclass(frozen=True, slots=True)
class Map(Statement):
    """``map B into P at ADDR``."""

    bo: str
    process: str
    addr: int

    def run(self, t: AppThread) -> Gen:
        bo, p = t.bo(self.bo), t.proc(self.process)
        yield from t.call("map", (p, bo.owner), t.system.map_bo(bo, p, self.addr))


@dataclass(frozen=True, slots=True)
class Unmap(Statement):
    """``unmap B from P``."""

    bo: str
    process: str

    def run(self, t: AppThread) -> Gen:
        bo, p = t.bo(self.bo), t.proc(self.process)
        yield from t.call("unmap", (p,), t.system.unmap_bo(bo, p))


@dataclass(frozen=True, slots=True)
class Job(Statement):
    """``job J on ENGINE by P [touches A +S [pattern P] [passes N] [write [value V]]]
    [accesses "FILE"] [copies A +S to B] [uses B [write], ...] [after J2, ...] [takes T]``.

    ``pattern`` is ``sequential``, ``reverse``, ``random`` or ``stride`` (every ``stride``
    bytes); ``accesses`` is a recorded access list packed as native 64-bit
    entries, a page address with bit 0 set for a write."""

    name: str
    engine: str
    by: str
    touches: tuple[int, int] | None = None
    write: bool = False
    value: int = 1
    copies: tuple[int, int, int] | None = None
    uses: tuple[tuple[str, bool], ...] = ()
    after: tuple[str, ...] = ()
    takes: int = 1000
    pattern: str = "sequential"
    stride: int = 0
    passes: int = 1
    accesses: bytes = b""

    def run(self, t: AppThread) -> Gen:
        job = self._job(t)
        for f in t.system.host_waits(job):
            yield WaitFence(f)
        t.system.submit_job(job)

    def _job(self, t: AppThread) -> JobState:
        system = t.system
        proc = t.proc(self.by)
        eng = system.engine(self.engine)
        accesses = []
        if self.pattern not in PATTERNS:
            raise ScenarioError(f"job {self.name}: pattern {self.pattern!r} is none of {', '.join(PATTERNS)}")
        if self.pattern == "stride" and (self.stride <= 0 or self.stride % PAGE):
            raise ScenarioError(
                f"job {self.name}: stride {self.stride:#x} is not a positive multiple of 4KiB"
            )
        if not 1 <= self.passes <= MAX_PASSES:
            raise ScenarioError(
                f"job {self.name}: passes {self.passes}: a walk repeats 1 to {MAX_PASSES:,} times"
            )
        if self.touches is not None:
            va, size = self.touches
            accesses.append(
                Access(va, size, self.write, self.value, None, self.pattern, self.stride, self.passes)
            )
        if self.accesses:
            if len(self.accesses) % 8:
                raise ScenarioError(f"job {self.name}: a recorded access list is whole 64-bit entries")
            accesses.append(Access(0, PAGE, False, 1, None, trace=self.accesses))
        if self.copies is not None:
            src, size, dst = self.copies
            accesses.append(Access(src, size, False))
            accesses.append(Access(dst, size, True, src=src))
        for acc in accesses:
            if acc.trace is None and (acc.va % PAGE or acc.size <= 0):
                raise ScenarioError(f"job {self.name}: access {acc.va:#x} +{acc.size:#x} is not page aligned")
        uses = [(t.bo(b), w) for b, w in self.uses]
        after = []
        for n in self.after:
            if n not in system.jobs:
                raise ScenarioError(
                    f"job {self.name} runs after unknown job {n!r}{t.did_you_mean(n, system.jobs)}"
                )
            after.append(system.jobs[n])
        if self.name in system.jobs:
            raise ScenarioError(f"job {self.name!r} is defined twice")
        return JobState(self.name, eng, proc, accesses, uses, after, self.takes)


@dataclass(frozen=True, slots=True)
class Cpu(Statement):
    """``cpu P reads|writes ADDR +SIZE [value V]``."""

    process: str
    op: str
    addr: int
    size: int
    value: int = 1

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.process)
        access = t.system.cpu_access(p, self.addr, self.size, self.op == "writes", self.value)
        yield from t.call("cpu", (p,), access)


@dataclass(frozen=True, slots=True)
class Migrate(Statement):
    """``migrate P ADDR +SIZE to LOC`` (a prefetch hint)."""

    process: str
    addr: int
    size: int
    target: str

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.process)
        yield from t.call("migrate", (p,), t.system.migrate_hint(p, self.addr, self.size, self.target))


@dataclass(frozen=True, slots=True)
class Munmap(Statement):
    """``munmap P ADDR +SIZE``."""

    process: str
    addr: int
    size: int

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.process)
        yield from t.call("munmap", (p,), t.system.munmap(p, self.addr, self.size))


@dataclass(frozen=True, slots=True)
class EvictPageTables(Statement):
    """``evict page tables of P [on GPU] [at ADDR]``."""

    process: str
    gpu: str | None = None
    at: int | None = None

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.process)
        yield from t.call("evict", (p,), t.system.evict_page_tables(p, self.gpu, self.at))


@dataclass(frozen=True, slots=True)
class ReplayFaults(Statement):
    """A recorded trace of retry faults (gpu, address, write), posted into the IH rings
    as fast as they drain (the Python API only)."""

    process: str
    trace: tuple[tuple[str, int, bool], ...]

    def run(self, t: AppThread) -> Gen:
        p = t.proc(self.process)
        yield from t.call("replay", (p,), t.system.replay_faults(p, list(self.trace)))


@dataclass(frozen=True, slots=True)
class Kill(Statement):
    """``kill P``."""

    process: str

    def run(self, t: AppThread) -> Gen:
        t.system.kill(t.proc(self.process), "killed by the application thread")
        yield from _nothing()


@dataclass(frozen=True, slots=True)
class RunIdle(Statement):
    """``run until idle``."""

    def run(self, t: AppThread) -> Gen:
        yield WaitIdle()


@dataclass(frozen=True, slots=True)
class RunFor(Statement):
    """``run for T``."""

    ns: int

    def run(self, t: AppThread) -> Gen:
        yield Sleep(self.ns)


@dataclass(frozen=True, slots=True)
class Expect(Statement):
    """``expect [not] PRED``: a state predicate is judged where it stands, a run
    predicate when the run is over (``checks.conclude``)."""

    expectation: Expectation

    def run(self, t: AppThread) -> Gen:
        exp = self.expectation
        if not exp.predicate.is_run:
            v = judge_state(exp, t.state, t.pm)
            t.outcomes.append(Outcome(exp, v.holds != exp.negate, v.why, t.system.sim.now))
        yield from _nothing()


__all__ = [
    "MAX_PASSES",
    "PATTERNS",
    "Bo",
    "Cpu",
    "EvictPageTables",
    "Expect",
    "Job",
    "Kill",
    "Map",
    "Migrate",
    "Munmap",
    "Process",
    "ReplayFaults",
    "RunFor",
    "RunIdle",
    "Statement",
    "Svm",
    "Unmap",
]
