"""Exploration benchmark: schedules per second on the fault-path eviction deadlock.

Run: ``python benchmarks/explore.py [--runs N] [--strategy S]``.  Prints
``schedules_per_s`` (issue 5's target: >= 1,000 on one core) and ``first_witness_ms``,
the time until the first schedule showing the deadlock.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmcore.dsl.compiler import Compiler
from vmcore.engine.explore import explore
from vmcore.engine.scenario import Result
from vmcore.engine.sim import Scheduler
from vmcore.hooks.manager import plugin_manager

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "03-fault-path-allocation.vms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--strategy", default="pct", choices=["random", "pct", "dfs"])
    a = ap.parse_args()
    pm = plugin_manager(entry_points=False)
    item = next(c for c in Compiler(pm).compile_path(SCENARIO) if "deadlocks" in c.id)
    first: list[float] = []
    t0 = time.perf_counter()

    def build(sched: Scheduler | None):  # type: ignore[no-untyped-def]
        s = item.build(pm, {}, scheduler=sched, keep_log=False)
        return s

    def seen(i: int, r: Result) -> None:
        if not first and r.deadlocks:
            first.append(time.perf_counter() - t0)

    ex = explore(build, a.runs, a.strategy, 2, seed=1, on_run=seen)
    dt = time.perf_counter() - t0
    print(f"schedules: {ex.runs}")
    print(f"schedules_per_s: {ex.runs / dt:.0f}")
    print(f"first_witness_ms: {first[0] * 1000:.1f}" if first else "first_witness_ms: none")
    print(f"verdicts: {', '.join('pass' if o.passed else 'fail' for o in ex.outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
