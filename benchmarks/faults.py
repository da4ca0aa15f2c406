"""Fault benchmark: a synthetic replay of retry faults from 4 GPUs over 16 GiB of SVM ranges.

Run: ``python benchmarks/faults.py [--faults N]``.  Default policies throughout.  Each GPU
faults on pages of its own quarter of the ranges (so the first fault on a granule
migrates it to that GPU and maps it, later ones find it mapped), in a seeded random order.
Prints ``faults_per_s`` and the per-fault time split between the engine, the policy
hooks and the C core (the split comes from a second, profiled run on a tenth of the trace).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmcore.engine import Scenario

GiB = 1 << 30
BASE = 0x10_0000_0000
GPUS = [f"gpu{i}" for i in range(4)]


def scenario(nfaults: int, seed: int) -> Scenario:
    s = Scenario("fault replay", max_events=50 * nfaults + 1_000_000, max_time=10**15, keep_log=False)
    for g in GPUS:
        s.gpu(
            g,
            vram=8 * GiB,
            engines=[(f"{g}.comp", "compute", True, False), (f"{g}.sdma", "sdma", False, False)],
        )
    s.process("app", GPUS)
    s.svm("app", BASE, 16 * GiB, "system")
    rng = random.Random(seed)
    quarter = 4 * GiB
    trace = []
    for i in range(nfaults):
        k = i % 4
        va = BASE + k * quarter + rng.randrange(quarter // 4096) * 4096
        trace.append((GPUS[k], va, bool(i & 1)))
    s.replay_faults("app", trace)
    s.run_until_idle()
    s.expect("metric", "faults", "<=", nfaults)
    return s


def split(nfaults: int, seed: int) -> dict[str, float]:
    s = scenario(nfaults, seed)
    prof = cProfile.Profile()
    prof.enable()
    s.run()
    prof.disable()
    st = pstats.Stats(prof)
    parts = {"engine": 0.0, "hooks": 0.0, "core": 0.0}
    for (file, _line, _fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        if "/pluggy/" in file or "/vmcore/hooks/" in file:
            parts["hooks"] += tt
        elif "/vmcore/core/" in file or file == "~":
            parts["core"] += tt
        else:
            parts["engine"] += tt
    total = sum(parts.values()) or 1.0
    return {k: v / total for k, v in parts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    s = scenario(a.faults, a.seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    r = s.run()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if not r.passed:
        print(r.summary(), file=sys.stderr)
        return 1
    print(f"faults: {int(r.metrics['faults'])}")
    print(f"migrations: {int(r.metrics['migrations'])}")
    print(f"seconds: {dt:.2f}")
    print(f"faults_per_s: {a.faults / dt:.0f}")
    print(f"faults_per_cpu_s: {a.faults / cpu:.0f}  # one core's worth, whatever else the machine runs")
    print(f"simulated_ns: {r.end_time}")
    shares = split(max(1000, a.faults // 10), a.seed)
    for k, v in shares.items():
        print(f"time_share_{k}: {v:.2f}")
        print(f"us_per_fault_{k}: {v * dt / a.faults * 1e6:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
