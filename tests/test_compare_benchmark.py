"""benchmarks/compare.py runs the sweep and prints its figures (a smoke test on a small
sweep, not a timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_compare_benchmark_prints_its_figures() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--seeds", "1", "--evict", "lru,mru",
         "--prefetch", "none"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    figures = dict(line.split(": ", 1) for line in out.splitlines())
    assert figures["compare_rows"] == "2" and figures["compare_runs"] == "2"
    assert float(figures["compare_s"].split()[0]) > 0
