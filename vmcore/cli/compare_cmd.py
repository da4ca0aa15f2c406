"""The ``vmcore compare`` command line: options, progress, and which outputs to write."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from vmcore.cli.argtypes import MAX_DEPTH, MAX_SCHEDULES, bounded
from vmcore.cli.compare import (
    DEFAULT_METRICS,
    MAX_SEEDS,
    check_metrics,
    render,
    sweep,
    sweep_choices,
    write_csv,
    write_json,
)
from vmcore.cli.options import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Options, UsageError

HELP = """\
Run every scenario id of PATHS under each combination of the policies listed with
--policy FAMILY=A,B,... (their cross product; the listed families override the
scenarios' own policy statements), over --seeds seeds, and print one table per id: a
row per combination with its verdict (expectations held in every run; deadlock or stall
seen in any run or explored schedule) and each metric as the median (min-max) over the
seeds, the best value of each column marked with *. A row's metrics for a seed are what
`vmcore test --seed S --policy ...` reports for that id.
"""

EPILOG = """\
examples:
  vmcore compare scenarios/workloads/stream.vms --policy evict=lru,mru,random
  vmcore compare scenarios/workloads --policy evict=lru,fifo --policy prefetch=none,sequential \\
      --seeds 3 --plot bars.png --timeline timeline.svg --csv rows.csv
  vmcore compare scenarios/03-fault-path-allocation.vms --policy alloc=no-wait,evict-lru --explore 50

exit codes: 0 every run completed, 1 a run errored, 2 usage or syntax error
"""


def add_parser(sub: Any, command: Callable[[argparse.Namespace], int]) -> None:
    c = sub.add_parser("compare", help="run policies side by side on workloads: a table, JSON, CSV, plots",
                       description=HELP, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_argument("paths", nargs="*", metavar="PATH", help=".vms files or directories (default: scenarios/)")
    c.add_argument("-k", dest="keyword", metavar="EXPR", help="only ids matching EXPR, as in vmcore test")
    c.add_argument("--policy", action="append", metavar="FAMILY=NAME[,NAME...]", required=True,
                   help="the names of FAMILY to compare (NAME or NAME(k=v, ...)); repeat for a cross product")  # fmt: skip
    c.add_argument("--seeds", type=int, default=5, metavar="N", help="run each combination with seeds 0..N-1 (default 5)")
    c.add_argument("--explore", type=bounded("--explore", 1, MAX_SCHEDULES), metavar="N",
                   help="also explore N schedules of each run for the verdict")  # fmt: skip
    c.add_argument("--strategy", choices=["random", "pct", "dfs"], default="random", help="exploration strategy")
    c.add_argument("--depth", type=bounded("--depth", 0, MAX_DEPTH), default=2, metavar="D",
                   help="PCT change points or DFS preemption bound")  # fmt: skip
    c.add_argument("--metrics", metavar="M,...",
                   help=f"the columns, 'M of P' for one process's share (default: {','.join(DEFAULT_METRICS)})")  # fmt: skip
    c.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    c.add_argument("--csv", metavar="FILE", help="write the rows as CSV")
    c.add_argument("--plot", metavar="FILE.png|svg", help="draw grouped bars per metric (needs vmcore[plot])")
    c.add_argument("--timeline", metavar="FILE.png|svg",
                   help="draw VRAM in use, faults and migrations over simulated time per combination")  # fmt: skip
    c.add_argument("-n", dest="numprocesses", metavar="N|auto", help="spread the runs over N processes")
    c.add_argument("-p", dest="plugin", action="append", metavar="MODULE", help="load a plugin module; -p no:NAME blocks one")
    c.add_argument("--allow-path", action="append", metavar="DIR",
                   help="let use and accesses read files under DIR too (default: only the project tree)")  # fmt: skip
    c.set_defaults(func=command)


def run(args: argparse.Namespace, pm: Any, processes: int) -> int:
    """The command; usage errors raise :class:`UsageError` (exit 2)."""
    from rich.console import Console

    from vmcore.cli.plots import check_target, plot_bars, plot_timeline
    from vmcore.cli.session import Session

    if not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds {args.seeds}: between 1 and {MAX_SEEDS}")
    if args.explore is not None and not 1 <= args.explore <= 1_000_000:
        raise UsageError(f"--explore {args.explore}: between 1 and 1,000,000 schedules")
    combos = sweep_choices(args.policy, pm)
    metrics = check_metrics([m.strip() for m in args.metrics.split(",")] if args.metrics else DEFAULT_METRICS, pm)
    for opt, path in (("--plot", args.plot), ("--timeline", args.timeline)):
        if path:
            check_target(path, opt)
    opts = Options(paths=args.paths or ["scenarios"], keyword=args.keyword, allow_paths=args.allow_path or [])
    session = Session(opts, pm, sys.stdout)
    items = session.compile()
    for e in session.errors:
        print(e, file=sys.stderr)
    if session.errors:
        return EXIT_USAGE
    if not items:
        raise UsageError("no scenario selected: an empty sweep (check PATHS and -k)")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    total = len(items) * len(combos) * args.seeds
    print(f"vmcore compare: {len(items)} id(s) x {len(combos)} combination(s) x {args.seeds} seed(s) = {total} runs")
    t0 = time.perf_counter()
    with _progress(total) as tick:
        rows = sweep(
            items, pm, combos, list(range(args.seeds)), explore_runs=args.explore or 0, strategy=args.strategy,
            depth=args.depth, timeline=bool(args.timeline), processes=processes, on_cell=tick,
        )  # fmt: skip
    render(rows, metrics, console)
    status = EXIT_OK
    missing = [m for m in metrics if not any(r.values(m) for r in rows)]
    outputs: list[tuple[str, Callable[[], None]]] = []
    if args.json:
        outputs.append((args.json, lambda: write_json(args.json, rows, metrics)))
    if args.csv:
        outputs.append((args.csv, lambda: write_csv(args.csv, rows, metrics)))
    if args.plot:
        outputs.append((args.plot, lambda: plot_bars(args.plot, rows, [m for m in metrics if m not in missing])))
    if args.timeline:
        outputs.append((args.timeline, lambda: plot_timeline(args.timeline, rows)))
    for path, write in outputs:
        try:
            write()
            print(f"written: {path}")
        except (OSError, UsageError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            print(f"vmcore compare: cannot write {path}: {why}", file=sys.stderr)
            status = EXIT_USAGE
    errors = [(r, e) for r in rows for e in r.errors]
    for r, msg in errors[:5]:
        print(f"error: {r.scenario.id} [{' '.join(map(str, r.combo))}]: {msg.splitlines()[0]}", file=sys.stderr)
    if missing:
        print(f"vmcore compare: no run produced the metric(s) {', '.join(missing)}", file=sys.stderr)
        status = EXIT_USAGE
    print(f"{total} runs in {time.perf_counter() - t0:.2f}s")
    if errors and status == EXIT_OK:
        status = EXIT_FAILED
    return status


class _progress:
    """A rich progress bar over the runs on a terminal (none in CI or a pipe)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.total < 20 or not sys.stdout.isatty() or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("runs", total=self.total)
        return lambda done, total: self.bar.update(task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
