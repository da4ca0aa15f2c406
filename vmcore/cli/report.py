"""What a session tells its user: one report per scenario id, the line each gets on the
terminal, the failures section with its witness, the slowest durations, the summary line,
and a progress bar for long explorations."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from vmcore.dsl.compiler import CompiledScenario
from vmcore.engine.explore import Exploration
from vmcore.engine.scenario import Result
from vmcore.engine.witness import explain, steps, trace

_COLORS = {"passed": "32", "failed": "31", "error": "1;31"}
"""ANSI SGR codes: green, red, bold red."""


def use_color(choice: str, out: TextIO) -> bool:
    """``--color yes|no|auto``: auto colours a terminal unless NO_COLOR is set (or TERM is
    dumb); FORCE_COLOR colours a pipe too."""
    if choice == "yes":
        return True
    if choice == "no":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(out, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


@dataclass
class Report:
    """The outcome of one scenario id."""

    scenario: CompiledScenario
    status: str
    """passed, failed or error."""
    duration: float
    exploration: Exploration | None = None
    error: str = ""
    replay: str = ""
    witness: Result | None = None
    """The (shrunk) schedule that shows the failure."""
    witness_file: str = ""
    shrunk_from: int = 0


class TerminalReport:
    """The terminal side of a session, written as it goes (pytest's terminal reporter)."""

    def __init__(self, out: TextIO, verbose: int = 0, color: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self.color = color

    def paint(self, text: str, status: str) -> str:
        """``text`` in the colour of ``status`` (passed green, failed and error red), with
        ``--color``; plain otherwise."""
        if not self.color:
            return text
        code = _COLORS.get(status)
        return f"\x1b[{code}m{text}\x1b[0m" if code else text

    def write(self, s: str = "") -> None:
        self.out.write(s + "\n")
        self.out.flush()

    def line(self, rep: Report) -> None:
        if self.verbose < 0 and rep.status == "passed":
            return
        extra = ""
        ex = rep.exploration
        if ex is not None and ex.runs > 1:
            extra = f" ({ex.runs} schedules, {ex.strategy}"
            if ex.exhausted is not None:
                extra += ", space exhausted" if ex.exhausted else ", space not exhausted"
            extra += ")"
        self.write(f"{rep.scenario.id} {self.paint(rep.status.upper(), rep.status)}{extra}")
        if self.verbose > 0 and ex is not None:
            for o in ex.outcomes:
                mark = self.paint("ok  ", "passed") if o.passed else self.paint("FAIL", "failed")
                self.write(f"    {mark} expect {o.expectation} (line {o.expectation.line}): {o.why}")

    def failures(self, reports: Sequence[Report]) -> None:
        bad = [r for r in reports if r.status != "passed"]
        if not bad:
            return
        self.write("")
        self.write(self.paint("=" * 30 + " FAILURES " + "=" * 30, "failed"))
        for r in bad:
            self.write(f"___ {r.scenario.id} ___")
            if r.status == "error":
                # the error once, its traceback included; the expectations it left unjudged
                # and an explanation repeating it would only bury it
                self.write(f"error: {r.error}")
            elif r.exploration is not None:
                self.write(failure_text(r.scenario, r.exploration, tail=0))
            if r.witness is not None:
                shrunk = f", shrunk from {r.shrunk_from} steps" if r.shrunk_from else ""
                self.write(f"witness ({len(steps(r.witness))} steps{shrunk}):")
                self.write(trace(r.witness, limit=40))
                if r.status != "error":
                    self.write("explanation:")
                    self.write(explain(r.witness))
            self.write(f"replay: {r.replay}")
            self.write("")

    def durations(self, reports: Sequence[Report], n: int | None) -> None:
        slow = sorted(reports, key=lambda r: -r.duration)[: n or len(reports)]
        self.write("=" * 25 + f" slowest {len(slow)} durations " + "=" * 25)
        for r in slow:
            self.write(f"{r.duration:8.3f}s {r.scenario.id}")

    def summary(self, reports: Sequence[Report], errors: Sequence[str], dt: float) -> None:
        passed = sum(r.status == "passed" for r in reports)
        failed = sum(r.status == "failed" for r in reports)
        nerrors = sum(r.status == "error" for r in reports) + len(errors)
        parts = [f"{passed} passed", f"{failed} failed"]
        if nerrors:
            parts.append(f"{nerrors} error{'s' if nerrors != 1 else ''}")
        ok = not failed and not nerrors
        self.write(self.paint(f"{', '.join(parts)} in {dt:.2f}s", "passed" if ok else "failed"))


PROGRESS_MIN_RUNS = 50
"""Explorations shorter than this finish before a progress bar would help."""


@contextlib.contextmanager
def progress(out: TextIO, name: str, runs: int) -> Iterator[Callable[[int, Result], None] | None]:
    """A rich progress bar (schedules/s, failures so far) on a terminal; nothing in CI or a pipe."""
    if (
        runs < PROGRESS_MIN_RUNS
        or not out.isatty()
        or os.environ.get("CI")
        or os.environ.get("TERM") == "dumb"
    ):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    failed = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.0f} schedules/s, {task.fields[failed]} failing"),
        TimeElapsedColumn(),
        console=Console(file=out),
        transient=True,
    ) as bar:
        task = bar.add_task(name[-40:], total=runs, rate=0.0, failed=0)
        t0 = time.perf_counter()

        def tick(i: int, r: Result) -> None:
            nonlocal failed
            failed += bool(r.failures or r.deadlocks or r.stalls)
            bar.update(
                task, completed=i + 1, rate=(i + 1) / max(time.perf_counter() - t0, 1e-9), failed=failed
            )

        yield tick


def failure_text(item: CompiledScenario, ex: Exploration, tail: int = 25) -> str:
    """What failed, where, and the end of the event log of the schedule that decided it."""
    lines: list[str] = []
    for o in ex.outcomes:
        if not o.passed:
            lines.append(f"{item.path}:{o.expectation.line}: expect {o.expectation}")
            lines.append(f"    {o.why}")
            if ex.runs > 1:
                sched = ex.decisive.get(o.expectation.line, 0)
                kind = "in no explored schedule" if o.expectation.negate else f"in schedule {sched}"
                lines.append(f"    (violated {kind} of {ex.runs})")
    for f in ex.failures:
        lines.append(f"{item.path}:{item.line}: {f}")
    last = ex.interesting.log[-tail:] if tail else []
    if last:
        lines.append("event log (last events):")
        lines.append(ex.interesting.monitor.format_log(last))
    return "\n".join(lines)
