"""benchmarks/workloads.py runs and prints its figures (small sizes: a smoke test, not a timing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str, timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run benchmarks/workloads.py with ``args``; its output as text."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "workloads.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_the_workload_benchmark_prints_every_figure() -> None:
    r = _bench("--sizes", "1,2", "--base-4k", "4", "--base-2m", "16", timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    figures = dict(line.split(": ", 1) for line in out.splitlines())
    for wl in ("stream_4k", "stream_2m", "random_4k"):
        for n in (1, 2):
            assert int(figures[f"{wl}_{n}x_faults"]) > 0
            assert int(figures[f"{wl}_{n}x_evictions"]) > 0  # 4x oversubscribed: it evicts
            assert float(figures[f"{wl}_{n}x_faults_per_s"]) > 0
    # two passes over 4x VRAM in 4 KiB granules: one fault per page per pass
    assert int(figures["stream_4k_1x_faults"]) == 2 * 4 * (4 << 20) // 4096
    assert float(figures["oversub_faults_per_s"]) > 0 and float(figures["oversub_cost_growth"]) > 0
    assert "oversub_64m_s" not in figures  # only at the default base


def test_the_workload_benchmark_refuses_bad_sizes() -> None:
    r = _bench("--sizes", "0", timeout=60)
    assert r.returncode == 2 and "at least 1" in r.stderr and "Traceback" not in r.stderr


def test_a_run_over_its_budget_is_reported_and_the_others_still_run() -> None:
    # each 1x run takes about a second
    budget = {**os.environ, "VMCORE_RUN_TIMEOUT": "0.05"}
    r = _bench("--only", "stream_4k", "--only", "random_4k", "--sizes", "1,2", timeout=120, env=budget)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    # the failed workload skips its larger sizes; the next workload still runs
    assert lines == ["stream_4k_1x_failed: 1", "random_4k_1x_failed: 1"], r.stdout
    assert "stream_4k_1x: run failed after" in r.stderr and "wall-clock budget of 0.05 s exceeded" in r.stderr
    assert r.stderr.rstrip().endswith("failed: stream_4k_1x, random_4k_1x")
