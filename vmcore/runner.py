"""``vmcore test``: collect .vms files, run their scenarios, report like pytest."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import os
import re
import shlex
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pluggy

from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.dsl.errors import VmsError
from vmcore.dsl.parser import number
from vmcore.engine.explore import STRATEGIES, Exploration, explore, judge
from vmcore.engine.scenario import Result
from vmcore.engine.sim import Scheduler
from vmcore.engine.witness import ReplayFile, ReplayScheduler, explain, shrink, signature, trace
from vmcore.errors import VmcoreError
from vmcore.plugins import did_you_mean as plugin_did_you_mean
from vmcore.plugins import policy_classes
from vmcore.policies import PolicyError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(VmcoreError):
    """Bad command-line input."""


def collect(paths: Sequence[str]) -> list[Path]:
    """The .vms files under ``paths`` (files as given, directories recursively, sorted)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out += sorted(x for x in path.rglob("*.vms") if x.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"file or directory not found: {p}")
    seen: set[Path] = set()
    uniq = []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    return uniq


_POLICY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*$")


def parse_value(text: str) -> Any:
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    if len(t) >= 2 and t[0] == t[-1] == '"':
        return t[1:-1]
    try:
        return number(t)[1]
    except ValueError:
        return t


def parse_policy(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``FAMILY=NAME`` or ``FAMILY=NAME(k=v, ...)``."""
    m = _POLICY.match(spec)
    if m is None:
        raise UsageError(f"--policy {spec!r}: expected FAMILY=NAME or FAMILY=NAME(k=v, ...)")
    family, name, args = m.groups()
    params: dict[str, Any] = {}
    if args:
        for part in args.split(","):
            if not part.strip():
                continue
            k, eq, v = part.partition("=")
            if not eq:
                raise UsageError(f"--policy {spec!r}: parameter {part.strip()!r} needs k=v")
            params[k.strip()] = parse_value(v)
    return family, name, params


def keyword_matcher(expr: str) -> Callable[[str], bool]:
    """pytest-style ``-k``: substrings combined with and, or, not and parentheses."""
    tokens: list[str] = re.findall(r"\(|\)|[^\s()]+", expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def orx() -> Callable[[str], bool]:
        left = andx()
        while peek() == "or":
            take()
            right = andx()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def andx() -> Callable[[str], bool]:
        left = notx()
        while peek() == "and":
            take()
            right = notx()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def notx() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = notx()
            return lambda s: not inner(s)
        if peek() == "(":
            take()
            inner = orx()
            if peek() != ")":
                raise UsageError(f"-k {expr!r}: missing ')'")
            take()
            return inner
        t = peek()
        if t is None or t in ("and", "or", ")"):
            raise UsageError(f"-k {expr!r}: expected a word at {t or 'the end'}")
        word = take().lower()
        return lambda s: word in s.lower()

    fn = orx()
    if pos != len(tokens):
        raise UsageError(f"-k {expr!r}: unexpected {tokens[pos]!r}")
    return fn


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


@dataclass
class Options:
    paths: list[str] = field(default_factory=lambda: ["scenarios"])
    keyword: str | None = None
    exitfirst: bool = False
    verbose: int = 0
    seed: int = 0
    policies: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    junitxml: str | None = None
    durations: int | None = None
    explore: int | None = None
    strategy: str | None = None
    depth: int | None = None
    replay: str | None = None
    trace: str | None = None
    graph: str | None = None
    witness_dir: str = ".vmcore/witnesses"
    processes: int = 1
    dask: str | None = None
    """"local" (a LocalCluster on loopback) or a scheduler address."""


class Session:
    """One ``vmcore test`` run: compile, filter, run, report."""

    def __init__(self, opts: Options, pm: pluggy.PluginManager, out: TextIO = sys.stdout) -> None:
        self.opts = opts
        self.pm = pm
        self.out = out
        self.reports: list[Report] = []
        self.errors: list[str] = []
        self._items: list[CompiledScenario] = []
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
        self.out.write(s + "\n")
        self.out.flush()

    def compile(self) -> list[CompiledScenario]:
        comp = Compiler(self.pm)
        paths: list[str] = []
        wanted: dict[Path, set[str]] = {}
        for p in self.opts.paths:
            file, sep, name = p.partition("::")
            paths.append(file)
            if sep:
                wanted.setdefault(Path(file).resolve(), set()).add(name)
        items: list[CompiledScenario] = []
        for f in collect(paths):
            try:
                compiled = comp.compile_path(f)
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
            items = [i for i in items if match(i.id)]
        return items

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
            with _progress(self.out, item.id, runs) as tick:
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
        status = "passed" if ex.passed else "failed"
        rep = Report(item, status, time.perf_counter() - t0, ex, replay=self.replay_command(item))
        if status == "failed":
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
                return item.build(self.pm, self.overrides, scheduler=sched)

            small, res, _ = shrink(build, choices, lambda r: signature(r, line) == want, budget=60)
            if res is not None:
                if len(res.log) < len(chosen.log):
                    rep.shrunk_from = len(chosen.log)
                choices, chosen = small, res
        rep.witness = chosen
        replay = ReplayFile(
            item.path,
            item.id,
            choices,
            self.opts.seed,
            list(self.opts.policies),
            list(self.opts.plugins),
            line,
        )
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.id)[:120] + ".json"
        target = Path(self.opts.witness_dir) / name
        try:
            atomic_write(str(target), replay.dumps().encode("utf-8"))
            rep.witness_file = str(target)
            rep.replay = f"vmcore test --replay {shlex.quote(str(target))}"
        except OSError:
            pass  # a read-only tree: the replay command printed above still reproduces it

    def replay(self, file: str) -> int:
        """Run one saved schedule again, exactly, and tell what it shows."""
        try:
            rf = ReplayFile.load(file)
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.opts.paths = [f"{rf.path}::{rf.id.split('::', 1)[1]}"]
        items = self.compile()
        for msg in self.errors:
            self.write(msg)
        if not items:
            return EXIT_USAGE
        item = items[0]
        t0 = time.perf_counter()
        r = item.build(self.pm, self.overrides, scheduler=ReplayScheduler(rf.choices)).run()
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
        self._summary(time.perf_counter() - t0)
        return EXIT_OK if ex.passed else EXIT_FAILED

    def _reports(self, items: list[CompiledScenario]) -> Iterator[Report]:
        """Reports in item order: run here, over worker processes (-n), or on a Dask cluster."""
        if self.opts.dask:
            yield from self._dask_reports(items)
            return
        n = min(self.opts.processes, len(items))
        if n <= 1:
            for item in items:
                yield self.run_one(item)
            return
        global _SESSION
        _SESSION = self
        ctx = multiprocessing.get_context("fork")  # workers inherit the compiled scenarios
        with ctx.Pool(n) as pool:
            for i, rep in enumerate(pool.imap(_work, range(len(items)))):
                rep.scenario = items[i]
                yield rep

    def _dask_reports(self, items: list[CompiledScenario]) -> Iterator[Report]:
        """Each scenario is a task: the worker compiles its file and runs it as a serial
        session would, so results are identical for the same seeds."""
        try:
            distributed: Any = importlib.import_module("distributed")  # optional: vmcore[dask]
        except ImportError:
            raise UsageError("--dask needs dask.distributed: pip install 'vmcore[dask]'") from None
        Client, LocalCluster = distributed.Client, distributed.LocalCluster
        spec = self.opts.dask
        cluster = None
        if spec == "local":
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            )
            client = Client(cluster)
        else:
            try:
                client = Client(spec, timeout=10)
            except OSError as e:
                raise UsageError(f"--dask {spec}: cannot reach the scheduler ({e})") from None
        try:
            opts = dataclasses.replace(
                self.opts, dask=None, processes=1, junitxml=None, trace=None, graph=None
            )
            futures = [client.submit(_dask_work, opts, item.path, item.id, pure=False) for item in items]
            for item, fut in zip(items, futures, strict=True):
                rep: Report = fut.result()
                rep.scenario = item
                yield rep
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _exports(self) -> None:
        from vmcore.engine.export import chrome_trace, dot_graph

        shown = [
            (r.scenario.id, r.witness or r.exploration.interesting) for r in self.reports if r.exploration
        ]
        if self.opts.trace and shown:
            atomic_write(self.opts.trace, chrome_trace(shown).encode("utf-8"))
            self.write(f"trace written to {self.opts.trace} (open it in https://ui.perfetto.dev)")
        if self.opts.graph and shown:
            name, res = next(((n, x) for n, x in shown if x.deadlocks), shown[0])
            atomic_write(self.opts.graph, dot_graph(name, res).encode("utf-8"))
            self.write(f"wait-for graph of {name} written to {self.opts.graph}")

    def run(self) -> int:
        if self.opts.replay:
            return self.replay(self.opts.replay)
        t0 = time.perf_counter()
        items = self.compile()
        self._items = items
        nfiles = len({i.path for i in items})
        self.write(f"vmcore test: {len(items)} scenario(s) from {nfiles} file(s), seed {self.opts.seed}")
        names = sorted(
            n for n in (self.pm.get_name(p) for p in self.pm.get_plugins()) if n and n != "vmcore.policies"
        )
        if names:
            self.write(f"plugins: {', '.join(names)}")
        for e in self.errors:
            self.write(e)
        interrupted = False
        try:
            for rep in self._reports(items):
                self.reports.append(rep)
                self._line(rep)
                if self.opts.exitfirst and rep.status != "passed":
                    break
        except KeyboardInterrupt:
            interrupted = True
            self.write("\ninterrupted: the summary so far follows")
        self._failures()
        self._exports()
        if self.opts.durations is not None:
            self._durations()
        dt = time.perf_counter() - t0
        self._summary(dt)
        if self.opts.junitxml:
            write_junit(self.opts.junitxml, self.reports, self.errors, dt)
        if interrupted:
            return EXIT_INTERRUPTED
        if self.errors:
            return EXIT_USAGE
        return EXIT_OK if all(r.status == "passed" for r in self.reports) else EXIT_FAILED

    def _line(self, rep: Report) -> None:
        if self.opts.verbose < 0 and rep.status == "passed":
            return
        extra = ""
        ex = rep.exploration
        if ex is not None and ex.runs > 1:
            extra = f" ({ex.runs} schedules, {ex.strategy}"
            if ex.exhausted is not None:
                extra += ", space exhausted" if ex.exhausted else ", space not exhausted"
            extra += ")"
        self.write(f"{rep.scenario.id} {rep.status.upper()}{extra}")
        if self.opts.verbose > 0 and ex is not None:
            for o in ex.outcomes:
                mark = "ok  " if o.passed else "FAIL"
                self.write(f"    {mark} expect {o.expectation} (line {o.expectation.line}): {o.why}")

    def _failures(self) -> None:
        bad = [r for r in self.reports if r.status != "passed"]
        if not bad:
            return
        self.write("")
        self.write("=" * 30 + " FAILURES " + "=" * 30)
        for r in bad:
            self.write(f"___ {r.scenario.id} ___")
            if r.status == "error":
                self.write(f"error: {r.error}")
            if r.exploration is not None:
                self.write(failure_text(r.scenario, r.exploration, tail=0))
            if r.witness is not None:
                shrunk = f", shrunk from {r.shrunk_from} steps" if r.shrunk_from else ""
                self.write(f"witness ({len(r.witness.log)} steps{shrunk}):")
                self.write(trace(r.witness, limit=40))
                self.write("explanation:")
                self.write(explain(r.witness))
            self.write(f"replay: {r.replay}")
            self.write("")

    def _durations(self) -> None:
        n = self.opts.durations or len(self.reports)
        slow = sorted(self.reports, key=lambda r: -r.duration)[:n]
        self.write("=" * 25 + f" slowest {len(slow)} durations " + "=" * 25)
        for r in slow:
            self.write(f"{r.duration:8.3f}s {r.scenario.id}")

    def _summary(self, dt: float) -> None:
        passed = sum(r.status == "passed" for r in self.reports)
        failed = sum(r.status == "failed" for r in self.reports)
        errors = sum(r.status == "error" for r in self.reports) + len(self.errors)
        parts = [f"{passed} passed", f"{failed} failed"]
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        self.write(f"{', '.join(parts)} in {dt:.2f}s")


_SESSION: Session | None = None

PROGRESS_MIN_RUNS = 50
"""Explorations shorter than this finish before a progress bar would help."""


@contextlib.contextmanager
def _progress(out: TextIO, name: str, runs: int) -> Iterator[Callable[[int, Result], None] | None]:
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


def _dask_work(opts: Options, path: str, scenario_id: str) -> Report:
    """A Dask task: compile one scenario and run it as the session's run_one would."""
    from vmcore.plugins import plugin_manager

    session = Session(
        replace_paths(opts, [f"{path}::{scenario_id.split('::', 1)[1]}"]), plugin_manager(opts.plugins)
    )
    items = session.compile()
    if not items:
        raise UsageError(f"{scenario_id}: not found on the worker ({'; '.join(session.errors)})")
    rep = session.run_one(items[0])
    rep.scenario = None  # type: ignore[assignment]
    return rep


def replace_paths(opts: Options, paths: list[str]) -> Options:
    return dataclasses.replace(opts, paths=paths)


def _work(index: int) -> Report:
    """Run one scenario in a worker process; the report travels back without its builder."""
    assert _SESSION is not None
    items = _SESSION._items
    rep = _SESSION.run_one(items[index])
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
        return item.build(pm, overrides or {}, scheduler=sched)

    if n <= 1 and not (runs or plan):
        return judge([build(None).run()])
    return explore(build, n, strat, d, seed=seed, on_run=on_run)


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


def atomic_write(path: str, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_junit(path: str, reports: Iterable[Report], errors: list[str], dt: float) -> None:
    reports = list(reports)
    suite = ET.Element(
        "testsuite",
        name="vmcore",
        tests=str(len(reports) + len(errors)),
        failures=str(sum(r.status == "failed" for r in reports)),
        errors=str(sum(r.status == "error" for r in reports) + len(errors)),
        time=f"{dt:.3f}",
    )
    for r in reports:
        file_part, _, name = r.scenario.id.partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=file_part,
            name=name,
            file=r.scenario.path,
            line=str(r.scenario.line),
            time=f"{r.duration:.3f}",
        )
        if r.status == "failed" and r.exploration is not None:
            msg = "; ".join(
                f"expect {o.expectation}: {o.why}" for o in r.exploration.outcomes if not o.passed
            )
            msg = msg or "; ".join(r.exploration.failures)
            fail = ET.SubElement(case, "failure", message=msg)
            fail.text = f"{msg}\nreplay: {r.replay}"
        elif r.status == "error":
            err = ET.SubElement(case, "error", message=r.error.splitlines()[0] if r.error else "error")
            err.text = r.error
    for e in errors:
        case = ET.SubElement(suite, "testcase", classname="collection", name=e.splitlines()[0][:80])
        err = ET.SubElement(case, "error", message=e.splitlines()[0])
        err.text = e
    atomic_write(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
