"""``vmcore compare``: policies side by side on the same workloads.

``vmcore test`` says whether a policy is correct; ``compare`` says how well it does. It
runs every selected scenario id under each combination of the names listed with
``--policy FAMILY=A,B,...`` (their cross product; for the listed families they override
the scenario's own ``policy`` statements), over ``--seeds N`` seeds, and reports one row
per (id, combination): the verdict (the expectations held in every run; whether any run,
or with ``--explore`` any explored schedule, deadlocked or stalled) and each metric as the
median with its min-max over the seeds.

A cell (one id, combination and seed) is the run ``vmcore test --seed S --policy ...``
makes of that id: the same metrics. The tables, JSON, CSV and plots are made from the
rows (:mod:`vmcore.cli.plots` draws).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from vmcore.cli.files import atomic_write
from vmcore.cli.options import UsageError, parse_value
from vmcore.dsl.compiler import CompiledScenario
from vmcore.engine.checks import METRICS, PROCESS_METRICS
from vmcore.engine.explore import explore
from vmcore.engine.scenario import Result, Scenario
from vmcore.engine.sim import Scheduler
from vmcore.hooks.manager import did_you_mean, policy_classes
from vmcore.hooks.policies import PolicyError

DEFAULT_METRICS = ("faults", "migrations", "evictions", "thrashed", "prefetched", "completion_time", "fault_latency_p99")
HIGHER_IS_BETTER = frozenset({"vram_largest_free"})
UNRANKED = frozenset({"prefetched", "bytes_moved"})
"""Metrics where neither more nor less is better in itself: no best value is marked."""
MAX_SEEDS = 1000

_NAME = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:\((.*?)\))?\s*$")


@dataclass(frozen=True)
class Choice:
    family: str
    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return f"{self.family}={self.name}"
        return f"{self.family}={self.name}(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"


Combo = tuple[Choice, ...]


def label(combo: Combo) -> str:
    return " ".join(str(c) for c in combo) or "(the scenario's own policies)"


def _split(names: str) -> list[str]:
    """``a,b(k=1, j=2),c`` -> ``["a", "b(k=1, j=2)", "c"]``: commas inside parentheses stay."""
    out, depth, cur = [], 0, ""
    for ch in names:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    out.append(cur)
    return out


def sweep_choices(specs: Sequence[str], pm: pluggy.PluginManager) -> list[Combo]:
    """The cross product of ``--policy FAMILY=A,B,...`` specs, validated like ``--policy``."""
    table = policy_classes(pm)
    families: dict[str, list[Choice]] = {}
    for spec in specs:
        family, eq, names = spec.partition("=")
        family = family.strip()
        if not eq or not family:
            raise UsageError(f"--policy {spec!r}: expected FAMILY=NAME[,NAME...]")
        if family not in table:
            raise UsageError(
                f"--policy {spec!r}: unknown policy family {family!r}{did_you_mean(family, table)} "
                f"(known: {', '.join(table)})"
            )
        if family in families:
            raise UsageError(f"--policy {spec!r}: family {family!r} is listed twice; give its names in one list")
        choices: list[Choice] = []
        for part in _split(names):
            if not part.strip():
                raise UsageError(f"--policy {spec!r}: an empty name in the list (an empty sweep)")
            m = _NAME.match(part)
            if m is None:
                raise UsageError(f"--policy {spec!r}: {part.strip()!r} is not NAME or NAME(k=v, ...)")
            name, args = m.groups()
            cls = table[family].get(name)
            if cls is None:
                raise UsageError(
                    f"--policy {spec!r}: unknown {family} policy {name!r}{did_you_mean(name, table[family])} "
                    f"(known: {', '.join(table[family])})"
                )
            params: dict[str, Any] = {}
            for kv in (args or "").split(","):
                if not kv.strip():
                    continue
                k, has, v = kv.partition("=")
                if not has:
                    raise UsageError(f"--policy {spec!r}: parameter {kv.strip()!r} needs k=v")
                params[k.strip()] = parse_value(v)
            try:
                cls(**params)
            except PolicyError as e:
                raise UsageError(f"--policy {spec!r}: {e}") from None
            choices.append(Choice(family, name, tuple(sorted(params.items()))))
        families[family] = choices
    return [tuple(c) for c in itertools.product(*families.values())]


@dataclass
class Cell:
    """One run: an id under one combination and seed."""

    passed: bool
    deadlock: bool
    stall: bool
    errors: list[str]
    metrics: dict[str, float]
    process_metrics: dict[str, dict[str, float]]
    timeline: bytes | None = None
    """The run's timeline samples (see :class:`vmcore.engine.monitor.Timeline`), when asked."""


def build_for(item: CompiledScenario, pm: pluggy.PluginManager, combo: Combo, seed: int, **kw: Any) -> Scenario:
    """The scenario of ``item`` with ``combo`` overriding its own policies for those families."""
    s = item.build(pm, {}, seed=seed, **kw)
    for c in combo:
        s.policy(c.family, c.name, **dict(c.params))
    return s


def run_cell(
    item: CompiledScenario,
    pm: pluggy.PluginManager,
    combo: Combo,
    seed: int,
    explore_runs: int = 0,
    strategy: str = "random",
    depth: int = 2,
    timeline: bool = False,
) -> Cell:
    res: Result = build_for(item, pm, combo, seed, keep_log=False, timeline=timeline).run()
    deadlock, stall, passed = bool(res.deadlocks), bool(res.stalls), res.passed
    if explore_runs > 1:
        seen: list[Result] = []

        def build(sched: Scheduler | None) -> Scenario:
            return build_for(item, pm, combo, seed, scheduler=sched, keep_log=False)

        ex = explore(build, explore_runs, strategy, depth, seed=seed, on_run=lambda i, r: seen.append(r))
        passed = passed and ex.passed
        deadlock = deadlock or any(r.deadlocks for r in seen)
        stall = stall or any(r.stalls for r in seen)
    tl = res.monitor.timeline
    return Cell(
        passed, deadlock, stall, list(res.errors), dict(res.metrics), res.process_metrics,
        tl.samples.tobytes() if tl is not None else None,
    )  # fmt: skip


@dataclass
class Row:
    """One id under one combination, over the seeds."""

    scenario: CompiledScenario
    combo: Combo
    cells: list[Cell] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cells)

    @property
    def errors(self) -> list[str]:
        return [e for c in self.cells for e in c.errors]

    def verdict(self) -> str:
        words = ["pass" if self.passed else "FAIL"]
        if any(c.deadlock for c in self.cells):
            words.append("deadlock")
        if any(c.stall for c in self.cells):
            words.append("stall")
        if self.errors:
            words.append("error")
        return ", ".join(words)

    def values(self, metric: str) -> list[float]:
        """Every seed's value of ``metric`` (``M`` or ``M of P``, one process's share)."""
        name, of, proc = metric.partition(" of ")
        if of:
            return [c.process_metrics[proc][name] for c in self.cells if name in c.process_metrics.get(proc, {})]
        return [c.metrics[metric] for c in self.cells if metric in c.metrics]

    def median(self, metric: str) -> float | None:
        v = self.values(metric)
        return statistics.median(v) if v else None

    def as_dict(self, metrics: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.scenario.id,
            "path": self.scenario.path,
            "policies": {c.family: str(c).split("=", 1)[1] for c in self.combo},
            "verdict": self.verdict(),
            "passed": self.passed,
            "deadlock": any(c.deadlock for c in self.cells),
            "stall": any(c.stall for c in self.cells),
            "errors": self.errors,
            "seeds": len(self.cells),
            "metrics": {},
        }
        for m in metrics:
            v = self.values(m)
            if v:
                out["metrics"][m] = {"median": statistics.median(v), "min": min(v), "max": max(v), "values": v}
        return out


def check_metrics(names: Sequence[str], pm: pluggy.PluginManager) -> list[str]:
    """``--metrics`` validated: engine metrics and the ones plugins name."""
    known = list(METRICS) + [m for ms in pm.hook.vmcore_metric_names() for m in (ms or ())]
    for n in names:
        name, of, proc = n.partition(" of ")
        if of:
            if name not in PROCESS_METRICS:
                raise UsageError(
                    f"--metrics: {n!r}: {name!r} is not kept per process (per process: {', '.join(PROCESS_METRICS)})"
                )
            if not proc.strip():
                raise UsageError(f"--metrics: {n!r}: name the process after 'of'")
            continue
        if n not in known:
            raise UsageError(f"--metrics: unknown metric {n!r}{did_you_mean(n, known)} (known: {', '.join(known)})")
    if not names:
        raise UsageError("--metrics: name at least one metric")
    return list(names)


_JOBS: list[tuple[int, int, int]] = []
_RUN: Callable[[int, int, int], Cell] | None = None


def _work(k: int) -> Cell:
    assert _RUN is not None
    return _RUN(*_JOBS[k])


def sweep(
    items: Sequence[CompiledScenario],
    pm: pluggy.PluginManager,
    combos: Sequence[Combo],
    seeds: Sequence[int],
    *,
    explore_runs: int = 0,
    strategy: str = "random",
    depth: int = 2,
    timeline: bool = False,
    processes: int = 1,
    on_cell: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Every (id, combination) row, each with one cell per seed; ``on_cell(done, total)``
    after each cell. With ``processes`` > 1 the cells run in forked workers."""
    rows = [Row(item, combo) for item in items for combo in combos]
    jobs = [(r, s) for r in range(len(rows)) for s in range(len(seeds))]

    def one(r: int, s: int, _: int = 0) -> Cell:
        row = rows[r]
        runs = explore_runs or (row.scenario.explore.runs if row.scenario.explore else 0)
        return run_cell(row.scenario, pm, row.combo, seeds[s], runs, strategy, depth, timeline and s == 0)

    def results() -> Iterator[Cell]:
        if processes <= 1 or len(jobs) <= 1:
            for r, s in jobs:
                yield one(r, s)
            return
        global _RUN, _JOBS
        _RUN, _JOBS = one, [(r, s, 0) for r, s in jobs]
        with multiprocessing.get_context("fork").Pool(min(processes, len(jobs))) as pool:
            yield from pool.imap(_work, range(len(jobs)))

    for done, ((r, _s), cell) in enumerate(zip(jobs, results(), strict=True), 1):
        rows[r].cells.append(cell)
        if on_cell is not None:
            on_cell(done, len(jobs))
    return rows


def ranked(row: Row) -> bool:
    """Whether a row competes for the best value: every run finished, without a deadlock,
    a stall or an error (a deadlocked run ends early and would look fast)."""
    return not row.errors and not any(c.deadlock or c.stall for c in row.cells)


def best(rows: Sequence[Row], metric: str) -> float | None:
    """The best median of ``metric`` among the ranked ``rows`` (None: unranked or no value)."""
    if metric in UNRANKED:
        return None
    meds = [m for r in rows if ranked(r) and (m := r.median(metric)) is not None]
    if not meds:
        return None
    return max(meds) if metric in HIGHER_IS_BETTER else min(meds)


def fmt(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float) and not v.is_integer() else f"{int(v):,}"


def render(rows: Sequence[Row], metrics: Sequence[str], console: Any) -> None:
    """One rich table per scenario id; the best median of each column in bold with a *."""
    from rich.markup import escape
    from rich.table import Table

    by_id: dict[str, list[Row]] = {}
    for r in rows:
        by_id.setdefault(r.scenario.id, []).append(r)
    for sid, group in by_id.items():
        seeds = len(group[0].cells)
        t = Table(
            title=f"{escape(sid)}  ({seeds} seed{'s' if seeds != 1 else ''}; median, min-max; * best of the rows "
            "that finished without a deadlock or stall)",
            title_justify="left",
        )
        t.add_column("policies")
        t.add_column("verdict")
        for m in metrics:
            t.add_column(m, justify="right")
        marks = {m: best(group, m) for m in metrics}
        for r in group:
            cells = [escape(label(r.combo)), r.verdict()]
            for m in metrics:
                v = r.values(m)
                if not v:
                    cells.append("-")
                    continue
                med = statistics.median(v)
                text = fmt(med) + (f" ({fmt(min(v))}-{fmt(max(v))})" if min(v) != max(v) else "")
                top = marks[m] is not None and med == marks[m] and ranked(r)
                cells.append(f"[bold]*{text}[/bold]" if top else text)
            t.add_row(*cells)
        console.print(t)


def write_json(path: str, rows: Sequence[Row], metrics: Sequence[str]) -> None:
    data = {"metrics": list(metrics), "rows": [r.as_dict(metrics) for r in rows]}
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def write_csv(path: str, rows: Sequence[Row], metrics: Sequence[str]) -> None:
    import csv
    import io

    families = sorted({c.family for r in rows for c in r.combo})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", *families, "verdict", "seeds", *(f"{m}_{k}" for m in metrics for k in ("median", "min", "max"))])
    for r in rows:
        names = {c.family: str(c).split("=", 1)[1] for c in r.combo}
        line: list[Any] = [r.scenario.id, *(names.get(f, "") for f in families), r.verdict(), len(r.cells)]
        for m in metrics:
            v = r.values(m)
            line += [statistics.median(v), min(v), max(v)] if v else ["", "", ""]
        w.writerow(line)
    atomic_write(path, buf.getvalue().encode("utf-8"))
