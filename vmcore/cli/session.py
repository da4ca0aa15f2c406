"""One ``vmcore test`` session: compile the .vms files asked for, filter them with ``-k``,
run each scenario id (once, or explored), shrink and save a witness for each failure,
and hand everything to the terminal report, the exports and JUnit.

The rest of the front end sits beside it: :mod:`~vmcore.cli.options` (what was asked),
:mod:`~vmcore.cli.keywords` (``-k``), :mod:`~vmcore.cli.files` (collection and atomic
writes), :mod:`~vmcore.cli.report` (the terminal), :mod:`~vmcore.cli.workers` (``-n``
and ``--dask``), :mod:`~vmcore.cli.junit`, :mod:`~vmcore.cli.config`,
:mod:`~vmcore.cli.scaffold` and :mod:`~vmcore.cli.main`, the command line itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pluggy

from vmcore.cli import cache, workers
from vmcore.cli.files import atomic_write, collect
from vmcore.cli.json_report import write_json
from vmcore.cli.junit import write_junit
from vmcore.cli.keywords import keyword_matcher
from vmcore.cli.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_SCENARIOS,
    EXIT_OK,
    EXIT_USAGE,
    Options,
    UsageError,
    parse_policy,
)
from vmcore.cli.replay import load_replay, relative_to_replay
from vmcore.cli.report import Report, TerminalReport, progress
from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.dsl.errors import VmsError
from vmcore.dsl.sources import inside, project_root
from vmcore.engine.explore import STRATEGIES, Exploration, explore, judge
from vmcore.engine.scenario import Result
from vmcore.engine.sim import Scheduler
from vmcore.engine.witness import ReplayFile, ReplayScheduler, explain, shrink, signature, steps, trace
from vmcore.errors import VmcoreError
from vmcore.hooks.manager import did_you_mean as plugin_did_you_mean
from vmcore.hooks.manager import plugin_manager, policy_classes, split_plugin_args
from vmcore.hooks.policies import PolicyError

__all__ = ["Options", "Report", "Session", "dask_task", "run_compiled"]


class Session:
    """One ``vmcore test`` run: compile, filter, run, report."""

    def __init__(self, opts: Options, pm: pluggy.PluginManager, out: TextIO = sys.stdout) -> None:
        self.opts = opts
        self.pm = pm
        self.out = out
        self.reports: list[Report] = []
        self.errors: list[str] = []
        self.deselected_all = 0
        self.output_errors: list[str] = []
        self.rootdir = os.path.realpath(opts.rootdir)
        """Where ids and replay paths are relative to (settled when the files are collected)."""
        """How many scenarios ``-k`` deselected when it selected none (exit 5)."""
        self.terminal = TerminalReport(out, opts.verbose, opts.color)
        self.overrides: dict[str, tuple[str, dict[str, Any]]] = {}
        for spec in opts.policies:
            fam, name, params = parse_policy(spec)
            self.overrides[fam] = (name, params)
        self._check_overrides()
        if opts.strategy is not None and opts.strategy not in STRATEGIES:
            raise UsageError(f"--strategy {opts.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        # Checked here so that a bad number is a usage error (exit 2), not a crash per scenario.
        if opts.explore is not None and opts.explore < 1:
            raise UsageError(f"--explore {opts.explore}: the number of schedules must be at least 1")
        if opts.depth is not None and opts.depth < 0:
            raise UsageError(f"--depth {opts.depth}: must be 0 or more")

    def _check_overrides(self) -> None:
        """Validate --policy and configured policies before anything runs.

        Why: an unknown family used to be ignored silently, and an unknown name or parameter
        turned every scenario into an ERROR (exit 1); both are usage errors (exit 2) that
        name what is known, like an unknown policy in a .vms file.
        """
        table = policy_classes(self.pm)
        for fam, (name, params) in self.overrides.items():
            if fam not in table:
                raise UsageError(
                    f"policy {fam}={name} (--policy or configuration): unknown policy family {fam!r}{plugin_did_you_mean(fam, table)} "
                    f"(known: {', '.join(table)})"
                )
            cls = table[fam].get(name)
            if cls is None:
                raise UsageError(
                    f"policy {fam}={name} (--policy or configuration): unknown {fam} policy {name!r}"
                    f"{plugin_did_you_mean(name, table[fam])} (known: {', '.join(table[fam])})"
                )
            try:
                cls(**params)
            except PolicyError as e:
                raise UsageError(f"policy {fam}={name} (--policy or configuration): {e}") from None

    def write(self, s: str = "") -> None:
        self.terminal.write(s)

    def display(self, f: Path) -> str:
        """The file part of ``f``'s ids: its path relative to the root directory (as pytest's
        nodeid), so ``a/x.vms`` and ``b/x.vms`` never share an id."""
        return os.path.relpath(os.path.realpath(f), self.rootdir).replace(os.sep, "/")

    def _find_rootdir(self, files: list[Path]) -> str:
        """The configured root (the configuration file's directory or the project root)
        when every file is inside it; otherwise, as pytest does without an ini file, the
        project root above the files' common directory, else that directory."""
        reals = [os.path.realpath(f) for f in files]
        given = os.path.realpath(self.opts.rootdir)
        if not reals or all(inside(r, [Path(given)]) for r in reals):
            return given
        common = Path(os.path.commonpath([os.path.dirname(r) for r in reals]))
        return str(project_root(common) or common)

    def compile(self) -> list[CompiledScenario]:
        comp = Compiler(self.pm, allow=self.opts.allow_paths)
        paths: list[str] = []
        wanted: dict[Path, set[str]] = {}
        for p in self.opts.paths:
            file, sep, name = p.partition("::")
            paths.append(file)
            if sep:
                wanted.setdefault(Path(file).resolve(), set()).add(name)
        items: list[CompiledScenario] = []
        files = collect(paths)
        self.rootdir = self._find_rootdir(files)
        for f in files:
            try:
                compiled = comp.compile_path(f, self.display(f))
            except VmsError as e:
                self.errors.append(str(e))
                continue
            names = wanted.get(f.resolve())
            if names is not None:
                compiled = [c for c in compiled if c.short_id in names]
                if not compiled:
                    self.errors.append(f"{f}: no scenario {' or '.join(sorted(names))!r}")
            items += compiled
        if self.opts.keyword:
            match = keyword_matcher(self.opts.keyword)
            before = len(items)
            items = [i for i in items if match(i.id)]
            if before and not items:
                self.deselected_all = before
        return items

    def _last_failed_order(self, items: list[CompiledScenario]) -> list[CompiledScenario]:
        """``--lf``: only the ids that failed last time; ``--ff``: those first, then the
        rest. With no failures recorded (among these ids) both run everything, as pytest."""
        if not (self.opts.last_failed or self.opts.failed_first):
            return items
        failed = cache.last_failed(self.rootdir)
        hit = [i for i in items if i.id in failed]
        flag = "--lf" if self.opts.last_failed else "--ff"
        if not hit:
            self.write(f"{flag}: no previously failed scenarios, running all {len(items)}")
            return items
        if self.opts.last_failed:
            self.write(f"--lf: running the {len(hit)} scenario(s) that failed last, deselecting {len(items) - len(hit)}")
            return hit
        self.write(f"--ff: running the {len(hit)} scenario(s) that failed last first")
        return hit + [i for i in items if i.id not in failed]

    def replay_command(self, item: CompiledScenario) -> str:
        parts = ["vmcore", "test", f"{item.path}::{item.id.split('::', 1)[1]}", "--seed", str(self.opts.seed)]
        for spec in self.opts.policies:
            parts += ["--policy", spec]
        for p in self.opts.plugins:
            parts += ["-p", p]
        # Why: an exploration asked for on the command line must be part of the replay, or
        # the replayed run is a single schedule that may not fail the same way.
        if self.opts.explore is not None:
            parts += ["--explore", str(self.opts.explore)]
        if self.opts.strategy is not None:
            parts += ["--strategy", self.opts.strategy]
        if self.opts.depth is not None:
            parts += ["--depth", str(self.opts.depth)]
        return " ".join(shlex.quote(p) for p in parts)

    def run_one(self, item: CompiledScenario) -> Report:
        t0 = time.perf_counter()
        runs = self.opts.explore or (item.explore.runs if item.explore else 1)
        try:
            with progress(self.out, item.id, runs) as tick:
                ex = run_compiled(
                    item,
                    self.pm,
                    self.overrides,
                    self.opts.seed,
                    self.opts.explore,
                    self.opts.strategy,
                    self.opts.depth,
                    on_run=tick,
                )
        except VmcoreError as e:
            return Report(
                item, "error", time.perf_counter() - t0, error=str(e), replay=self.replay_command(item)
            )
        # a run stopped by an error (a plugin's exception, a budget, a scenario error) was
        # not judged: the id is an ERROR, as docs/cli.md says, not a failed verdict
        errors = ex.interesting.errors if ex.failures else []
        status = "error" if errors else "passed" if ex.passed else "failed"
        rep = Report(
            item, status, time.perf_counter() - t0, ex, error="\n".join(errors), replay=self.replay_command(item)
        )
        if status != "passed":
            self._witness(rep)
        return rep

    def _witness(self, rep: Report) -> None:
        """Shrink the schedule that decided the failure and save it as a replay file."""
        ex = rep.exploration
        assert ex is not None
        item = rep.scenario
        bad = next((o for o in ex.outcomes if not o.passed), None)
        line = bad.expectation.line if bad is not None and not ex.failures else None
        chosen = ex.interesting
        choices = list(chosen.choices)
        if ex.runs > 1 and any(choices):
            want = signature(chosen, line)

            def build(sched: Scheduler | None) -> Any:
                return item.build(self.pm, self.overrides, scheduler=sched, seed=self.opts.seed)

            small, res, _ = shrink(build, choices, lambda r: signature(r, line) == want, budget=60)
            if res is not None:
                if len(res.log) < len(chosen.log):  # counted as the witness header counts
                    rep.shrunk_from = len(steps(chosen))
                choices, chosen = small, res
        rep.witness = chosen
        # readable, and keyed by the whole id: ids that differ only in characters the
        # file name cannot hold ("a b" and "a_b", a/x.vms and a_x.vms) get their own files
        digest = hashlib.sha1(item.id.encode("utf-8")).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.id)[:100] + f"-{digest}.json"
        target = Path(self.rootdir) / self.opts.witness_dir / name
        shown = os.path.relpath(target)
        replay = ReplayFile(
            relative_to_replay(item.path, str(target)),
            item.id,
            choices,
            self.opts.seed,
            list(self.opts.policies),
            list(self.opts.plugins),
            line,
        )
        try:
            atomic_write(str(target), replay.dumps().encode("utf-8"))
            rep.witness_file = shown
            rep.replay = f"vmcore test --replay {shlex.quote(shown)}"
        except OSError:
            pass  # a read-only tree: the replay command printed above still reproduces it

    def replay(self, file: str) -> int:
        """Run one saved schedule again, exactly, and tell what it shows."""
        rf = self.opts.replay_file or load_replay(file, self.opts.allow_paths)
        self.opts.paths = [f"{rf.path}::{rf.id.split('::', 1)[1]}"]
        items = self.compile()
        for msg in self.errors:
            self.write(msg)
        if not items:
            return EXIT_USAGE
        item = items[0]
        t0 = time.perf_counter()
        r = item.build(self.pm, self.overrides, scheduler=ReplayScheduler(rf.choices), seed=rf.seed).run()
        ex = judge([r])
        rep = Report(item, "passed" if ex.passed else "failed", time.perf_counter() - t0, ex, witness=r)
        self.reports.append(rep)
        self.write(f"replaying {item.id}: {len(rf.choices)} recorded choices")
        self.write(trace(r, limit=None if self.opts.verbose > 0 else 60))
        for o in ex.outcomes:
            self.write(
                f"{'ok  ' if o.passed else 'FAIL'} expect {o.expectation} (line {o.expectation.line}): {o.why}"
            )
        for f in ex.failures:
            self.write(f"FAIL {f}")
        self.write("explanation:")
        self.write(explain(r))
        self._exports()
        self.terminal.summary(self.reports, self.errors, time.perf_counter() - t0)
        return EXIT_OK if ex.passed else EXIT_FAILED

    def _output(self, what: str, write: Callable[[], None]) -> None:
        """Write one output; one that cannot be written (a read-only or full disk, a
        directory as the path) is reported and the others are still written (exit 2)."""
        try:
            write()
        except OSError as e:
            msg = f"vmcore: error: cannot write {what}: {e.strerror or e}"
            self.output_errors.append(msg)
            print(msg, file=sys.stderr)

    def _exports(self) -> None:
        from vmcore.engine.export import chrome_trace, dot_graph

        shown = [
            (r.scenario.id, r.witness or r.exploration.interesting) for r in self.reports if r.exploration
        ]
        trace, graph = self.opts.trace, self.opts.graph
        if trace and shown:

            def write_trace() -> None:
                atomic_write(trace, chrome_trace(shown).encode("utf-8"))
                self.write(f"trace written to {trace} (open it in https://ui.perfetto.dev)")

            self._output(f"--trace {trace}", write_trace)
        if graph and shown:
            name, res = next(((n, x) for n, x in shown if x.deadlocks), shown[0])

            def write_graph() -> None:
                atomic_write(graph, dot_graph(name, res).encode("utf-8"))
                self.write(f"wait-for graph of {name} written to {graph}")

            self._output(f"--graph {graph}", write_graph)

    def run(self) -> int:
        if self.opts.replay:
            return self.replay(self.opts.replay)
        t0 = time.perf_counter()
        items = self.compile()
        nfiles = len({i.path for i in items})
        self.write(f"vmcore test: {len(items)} scenario(s) from {nfiles} file(s), seed {self.opts.seed}")
        self.write(f"rootdir: {self.rootdir}" + (f", configfile: {self.opts.configfile}" if self.opts.configfile else ""))
        items = self._last_failed_order(items)
        names = sorted(
            n for n in (self.pm.get_name(p) for p in self.pm.get_plugins()) if n and n != "vmcore.policies"
        )
        if names:
            self.write(f"plugins: {', '.join(names)}")
        for e in self.errors:
            self.write(e)
        interrupted = False
        try:
            with _sigterm_as_interrupt():
                for rep in workers.reports(self.opts, items, self.run_one, dask_task):
                    self.reports.append(rep)
                    self.terminal.line(rep)
                    if self.opts.exitfirst and rep.status != "passed":
                        break
        except KeyboardInterrupt:
            interrupted = True
            self.write("\ninterrupted: the summary so far follows")
        if self.opts.cache:
            cache.record(self.rootdir, [(r.scenario.id, r.status == "passed") for r in self.reports])
        self.terminal.failures(self.reports)
        self._exports()
        if self.opts.durations is not None:
            self.terminal.durations(self.reports, self.opts.durations)
        dt = time.perf_counter() - t0
        self.terminal.summary(self.reports, self.errors, dt)
        junit, as_json = self.opts.junitxml, self.opts.json
        if junit:
            self._output(f"--junitxml {junit}", lambda: write_junit(junit, self.reports, self.errors, dt))
        if as_json:
            self._output(f"--json {as_json}", lambda: write_json(as_json, self.reports, self.errors, self.opts.seed))
        if interrupted:
            return EXIT_INTERRUPTED
        if self.errors or self.output_errors:
            return EXIT_USAGE
        if self.deselected_all:
            self.write(f"no scenarios selected: -k {self.opts.keyword!r} matched none of {self.deselected_all}")
            return EXIT_NO_SCENARIOS
        return EXIT_OK if all(r.status == "passed" for r in self.reports) else EXIT_FAILED


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, ``kill``) ends the session as Ctrl-C does: the summary
    so far and every report are written.  Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    old = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def dask_task(opts: Options, path: str, scenario_id: str) -> Report:
    """A Dask task: compile one scenario and run it as the session's run_one would."""
    mods, blocked = split_plugin_args(opts.plugins)
    session = Session(
        dataclasses.replace(opts, paths=[f"{path}::{scenario_id.split('::', 1)[1]}"]),
        plugin_manager(mods, entry_points=opts.autoload, blocked=blocked),
    )
    items = session.compile()
    if not items:
        raise UsageError(f"{scenario_id}: not found on the worker ({'; '.join(session.errors)})")
    rep = session.run_one(items[0])
    rep.scenario = None  # type: ignore[assignment]
    return rep


def run_compiled(
    item: CompiledScenario,
    pm: pluggy.PluginManager,
    overrides: dict[str, tuple[str, dict[str, Any]]] | None = None,
    seed: int = 0,
    runs: int | None = None,
    strategy: str | None = None,
    depth: int | None = None,
    on_run: Callable[[int, Result], None] | None = None,
) -> Exploration:
    """Run one compiled scenario: once, or explored when it (or the caller) asks for it."""
    plan = item.explore
    n = runs or (plan.runs if plan else 1)
    strat = strategy or (plan.strategy if plan else "random")
    d = depth if depth is not None else (plan.depth if plan else 2)

    def build(sched: Scheduler | None) -> Any:
        return item.build(pm, overrides or {}, scheduler=sched, seed=seed)

    if n <= 1 and not (runs or plan):
        return judge([build(None).run()])
    return explore(build, n, strat, d, seed=seed, on_run=on_run)
