"""Compare benchmark: a policy sweep through ``vmcore compare``, as a user runs it.

Run: ``python benchmarks/compare.py [--seeds N] [--evict A,B,...] [--prefetch A,B,...]``.
By default the sweep of issue 13: ``--policy evict=lru,fifo,lfu,mru,random --policy
prefetch=none,sequential,neighbourhood --seeds 3`` over the bundled stream workload
(scenarios/workloads/stream.vms). Prints ``compare_runs`` and ``compare_s`` (wall
seconds of the whole command, start-up included; the floor is 60 s on a 2-core machine)
and ``compare_runs_per_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STREAM = ROOT / "scenarios" / "workloads" / "stream.vms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--evict", default="lru,fifo,lfu,mru,random")
    ap.add_argument("--prefetch", default="none,sequential,neighbourhood")
    ap.add_argument("-n", default="1", help="processes for vmcore compare (default 1)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [
            sys.executable, "-m", "vmcore.cli", "compare", str(STREAM),
            "--policy", f"evict={a.evict}", "--policy", f"prefetch={a.prefetch}",
            "--seeds", str(a.seeds), "--json", str(out), "-n", a.n,
        ]  # fmt: skip
        env = {**os.environ, "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            print(p.stdout + p.stderr, file=sys.stderr)
            return p.returncode
        rows = json.loads(out.read_text())["rows"]
    runs = sum(r["seeds"] for r in rows)
    print(f"compare_rows: {len(rows)}")
    print(f"compare_runs: {runs}")
    print(f"compare_s: {dt:.2f}  # floor 60")
    print(f"compare_runs_per_s: {runs / dt:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
