"""benchmarks/language.py runs and prints the figures issue 4 names (small sizes here;
the figures themselves are checked by running the benchmark, not by a timed test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_language_benchmark_prints_its_figures() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "language.py"),
            "--scenarios",
            "20",
            "--repeat",
            "1",
            "--passes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = dict(line.split("#")[0].strip().split(": ", 1) for line in out.splitlines() if ": " in line)
    assert int(figures["scenarios"]) == 20
    assert (
        int(figures["parse_compile_scenarios_per_s"])
        >= int(figures["parse_compile_scenarios_per_s_median"])
        > 0
    )
    assert 0 < int(figures["startup_ms"]) < 60_000
    assert figures["startup_bytecode_cached"] in {"yes", "no", "partly"}
