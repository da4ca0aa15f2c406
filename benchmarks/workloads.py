"""Workload benchmark: oversubscribed workloads through the whole engine, default policies.

Run: ``python benchmarks/workloads.py [--sizes 1,4,16] [--only NAME]``.

Every workload makes one process stream twice over an SVM range four times the size of
VRAM, so every fault migrates a granule in. KFD cuts the range into pieces of
``max_svm_range_pages`` (2 MiB here, 1/32 of VRAM for the 2 MiB-granule stream) and a
piece's VRAM is one BO, allocated whole at its first fault: once VRAM is full, each new
piece evicts an old one whole, all its granules in one migration (``svm_bo``):

* ``stream_4k_Nx``: 4 KiB granules, VRAM ``N`` x 4 MiB, two jobs, one pass each, in
  address order (``stream_4k_4x`` is the 64 MiB-over-16 MiB stream);
* ``stream_2m_Nx``: 2 MiB granules (KFD's default), VRAM ``N`` x 1 GiB;
* ``random_4k_Nx``: the 4 KiB stream's range and VRAM, its pages faulted in a seeded
  random order, twice (replayed retry faults drained by the fault handler: no job).

Prints one ``name: value`` line per figure: per workload its faults, migrations,
evictions, wall seconds, ``faults_per_s`` and ``us_per_fault``; then

* ``oversub_faults_per_s``: ``stream_4k`` at the largest size;
* ``oversub_cost_growth``: its time per fault at the largest size over the smallest;
* ``oversub_64m_s``: wall seconds of ``stream_4k_4x``.

A run that fails (over its wall-clock budget, ``VMCORE_RUN_TIMEOUT``, 60 s by default)
is said on stderr and printed as ``NAME_failed: 1``; the workload's larger sizes are
skipped, the other workloads still run, the summary lines still come, and the exit status
is 1.

Issue 11's floors on this 2-core machine: 20,000 faults/s, growth <= 1.5, 64 MiB <= 5 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmcore.engine import Result, Scenario

KiB, MiB = 1 << 10, 1 << 20
BASE = 0x10_0000_0000
ENGINES = [("comp0", "compute", True, False), ("sdma0", "sdma", False, False)]


def _gpu(name: str, vram: int, nfaults: int) -> Scenario:
    s = Scenario(name, keep_log=False, max_events=100 * nfaults + 1_000_000, max_time=10**15)
    s.gpu("gpu0", vram=vram, engines=ENGINES)
    s.process("app", ["gpu0"])
    return s


def stream(vram: int, granule: int) -> Scenario:
    size = 4 * vram
    s = _gpu("stream", vram, 2 * size // granule)
    s.svm("app", BASE, size, "system", granularity=granule)
    s.job("p1", "comp0", "app", touches=(BASE, size))
    s.job("p2", "comp0", "app", touches=(BASE, size), after=["p1"])
    s.run_until_idle()
    return s


def random_order(vram: int, seed: int = 1) -> Scenario:
    size = 4 * vram
    pages = size // (4 * KiB)
    s = _gpu("random", vram, 2 * pages)
    s.svm("app", BASE, size, "system", granularity=4 * KiB)
    rng = random.Random(seed)
    trace = []
    for _ in range(2):
        order = list(range(pages))
        rng.shuffle(order)
        trace += [("gpu0", BASE + p * 4 * KiB, False) for p in order]
    s.replay_faults("app", trace)
    s.run_until_idle()
    return s


BASE_4K = 4 * MiB
"""VRAM of the 1x 4 KiB-granule workloads (``--base-4k``)."""
BASE_2M = 1024 * MiB
"""VRAM of the 1x 2 MiB-granule stream (``--base-2m``)."""


def workloads(base_4k: int, base_2m: int) -> dict[str, Callable[[int], Scenario]]:
    return {
        "stream_4k": lambda n: stream(n * base_4k, 4 * KiB),
        "stream_2m": lambda n: stream(n * base_2m, 2 * MiB),
        "random_4k": lambda n: random_order(n * base_4k),
    }


def run(name: str, build: Callable[[], Scenario]) -> tuple[Result, float] | None:
    """Run one workload; None (said on stderr) when the run failed, e.g. over its budget."""
    s = build()
    t0 = time.perf_counter()
    r = s.run()
    dt = time.perf_counter() - t0
    if r.failures:
        print(f"{name}: run failed after {dt:.1f} s: {r.failures[0]}", file=sys.stderr, flush=True)
        return None
    return r, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,16", help="multiples of the base size (default 1,4,16)")
    ap.add_argument(
        "--only", choices=["random_4k", "stream_2m", "stream_4k"], action="append", help="run only these"
    )
    ap.add_argument(
        "--base-4k", type=int, default=BASE_4K // MiB, metavar="MiB", help="VRAM at 1x, 4 KiB granules"
    )
    ap.add_argument(
        "--base-2m", type=int, default=BASE_2M // MiB, metavar="MiB", help="VRAM at 1x, 2 MiB granules"
    )
    a = ap.parse_args()
    if a.base_4k < 4 or a.base_2m < 4:
        ap.error("--base-4k and --base-2m must be at least 4 MiB (room for a 2 MiB range piece's BO)")
    wls = workloads(a.base_4k * MiB, a.base_2m * MiB)
    try:
        sizes = sorted({int(x) for x in a.sizes.split(",")})
    except ValueError:
        ap.error(f"--sizes {a.sizes!r}: expected multiples such as 1,4,16")
    if not sizes or sizes[0] < 1:
        ap.error("--sizes: every multiple must be at least 1")
    per_fault: dict[tuple[str, int], float] = {}
    seconds: dict[tuple[str, int], float] = {}
    failed = []
    for wl in a.only or list(wls):
        for n in sizes:
            name = f"{wl}_{n}x"
            got = run(name, lambda wl=wl, n=n: wls[wl](n))  # type: ignore[misc]
            if got is None:
                failed.append(name)
                print(f"{name}_failed: 1", flush=True)
                break  # its larger sizes would fail the same way; the other workloads still run
            r, dt = got
            faults = int(r.metrics["faults"])
            print(f"{name}_faults: {faults}")
            print(f"{name}_migrations: {int(r.metrics['migrations'])}")
            print(f"{name}_evictions: {int(r.metrics['evictions'])}")
            print(f"{name}_s: {dt:.2f}")
            print(f"{name}_faults_per_s: {faults / dt:.0f}")
            print(f"{name}_us_per_fault: {dt / faults * 1e6:.1f}", flush=True)
            per_fault[wl, n] = dt / faults
            seconds[wl, n] = dt
    if ("stream_4k", sizes[-1]) in per_fault:
        big, small = per_fault["stream_4k", sizes[-1]], per_fault["stream_4k", sizes[0]]
        print(f"oversub_faults_per_s: {1 / big:.0f}")
        print(f"oversub_cost_growth: {big / small:.2f}")
    if ("stream_4k", 4) in seconds and a.base_4k * MiB == BASE_4K:
        print(f"oversub_64m_s: {seconds['stream_4k', 4]:.2f}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
