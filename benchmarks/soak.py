"""Soak benchmark: many scenario runs in one process must not grow its memory.

Run: ``python benchmarks/soak.py [--runs N]`` (default 10,000).  Runs the seed scenarios
round-robin, samples the settled resident set every 1,000 runs after a warm-up, and prints
``rss_growth_kib`` (issue 7's target: no growth beyond noise).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from vmcore.dsl.compiler import Compiler
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * 4


def settled_rss_kib() -> int:
    """RSS after a full collection and after glibc hands its free arena memory back.

    Without malloc_trim the resident set swings by megabytes with allocator
    fragmentation, which says nothing about what the runs keep alive."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_kib()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=1_000)
    ap.add_argument("--every", type=int, default=1_000, help="runs between two samples")
    a = ap.parse_args()
    pm = plugin_manager(entry_points=False)
    comp = Compiler(pm)
    # one schedule each (a scenario's own `explore` is not needed to exercise the engine)
    items = [c for f in sorted((ROOT / "scenarios").glob("*.vms")) for c in comp.compile_path(f)]
    t0 = time.perf_counter()
    samples: list[tuple[int, int]] = []  # (settled RSS in KiB, live Python objects)
    for i in range(a.runs):
        if i >= a.warmup and (i - a.warmup) % a.every == 0:
            samples.append((settled_rss_kib(), len(gc.get_objects())))
        r = items[i % len(items)].build(pm, {}).run()
        internal = [f for f in r.failures if f.split(":", 1)[0] in ("EngineError", "CoreError", "StateError")]
        if internal:  # verdicts may differ from an explored run; engine errors may not happen
            print(f"run {i} ({items[i % len(items)].id}): {internal[0]}", file=sys.stderr)
            return 1
    samples.append((settled_rss_kib(), len(gc.get_objects())))
    dt = time.perf_counter() - t0
    k = max(1, min(3, len(samples) // 2))
    first = statistics.median(x for x, _ in samples[:k])
    last = statistics.median(x for x, _ in samples[-k:])
    print(f"runs: {a.runs}")
    print(f"runs_per_s: {a.runs / dt:.0f}")
    print(f"rss_samples_kib: {' '.join(str(x) for x, _ in samples)}")
    print(f"rss_growth_kib: {last - first:.0f}  # median of the last {k} samples minus the first {k}")
    print(f"object_growth: {samples[-1][1] - samples[0][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
