"""``vmcore compare`` as a user runs it (a subprocess), and ``vmcore test --json``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOAD = """\
gpu gpu0 {
    vram 2MiB
    engine comp0 compute retry
    engine sdma0 sdma
}

scenario "random sweep" {
    process app on gpu0
    svm app 0x4000_0000 +3MiB in system {
        granularity 64KiB
    }
    job c on comp0 by app touches 0x4000_0000 +3MiB pattern random passes 2
    run until idle
    expect app alive
}
"""


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vmcore.cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "w.vms").write_text(WORKLOAD, encoding="utf-8")
    return tmp_path


def test_rows_equal_what_vmcore_test_reports_for_the_same_id_policy_and_seed(work: Path) -> None:
    p = run("compare", "w.vms", "--policy", "evict=lru,random(seed=3)", "--seeds", "2", "--json", "rows.json", cwd=work)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = json.loads((work / "rows.json").read_text())["rows"]
    assert [r["policies"] for r in rows] == [{"evict": "lru"}, {"evict": "random(seed=3)"}]
    for row in rows:
        spec = f"evict={row['policies']['evict']}"
        for seed in (0, 1):
            t = run("test", "w.vms", "--policy", spec, "--seed", str(seed), "--json", f"t{seed}.json", cwd=work)
            assert t.returncode == 0, t.stdout + t.stderr
            (rep,) = json.loads((work / f"t{seed}.json").read_text())["reports"]
            for m, agg in row["metrics"].items():
                assert agg["values"][seed] == rep["metrics"][m], (spec, seed, m)
    # the random pattern draws from the seed: the seeds give different runs
    assert len(set(rows[0]["metrics"]["completion_time"]["values"])) == 2


def test_the_table_csv_and_the_best_mark(work: Path) -> None:
    p = run("compare", "w.vms", "--policy", "evict=lru,mru", "--policy", "prefetch=none,sequential",
            "--seeds", "1", "--csv", "rows.csv", "--metrics", "faults,migrations", cwd=work)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "1 id(s) x 4 combination(s) x 1 seed(s) = 4 runs" in p.stdout
    assert "evict=mru prefetch=sequential" in p.stdout and "*" in p.stdout
    rows = list(csv.DictReader((work / "rows.csv").open()))
    assert [(r["evict"], r["prefetch"]) for r in rows] == [
        ("lru", "none"), ("lru", "sequential"), ("mru", "none"), ("mru", "sequential"),
    ]  # fmt: skip
    assert all(float(r["faults_min"]) <= float(r["faults_median"]) <= float(r["faults_max"]) for r in rows)


def test_plots_are_written_as_asked(work: Path) -> None:
    p = run("compare", "w.vms", "--policy", "evict=lru,mru", "--seeds", "1",
            "--plot", "bars.svg", "--timeline", "time.png", cwd=work)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert (work / "bars.svg").read_text().lstrip().startswith("<?xml")
    assert (work / "time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_processes_give_the_same_rows(work: Path) -> None:
    one = run("compare", "w.vms", "--policy", "evict=lru,fifo", "--seeds", "2", "--json", "a.json", cwd=work)
    two = run("compare", "w.vms", "--policy", "evict=lru,fifo", "--seeds", "2", "--json", "b.json", "-n", "2", cwd=work)
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert json.loads((work / "a.json").read_text()) == json.loads((work / "b.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "evcit=lru"], "unknown policy family 'evcit'"),
        (["--policy", "evict=lur"], "unknown evict policy 'lur'"),
        (["--policy", "evict="], "an empty name in the list (an empty sweep)"),
        (["--policy", "evict=random(sed=1)"], "takes no parameter 'sed'"),
        (["--policy", "evict=lru", "--metrics", "faultz"], "unknown metric 'faultz'"),
        (["--policy", "evict=lru", "--plot", "bars.jpg"], "must end in .png or .svg"),
        (["--policy", "evict=lru", "--seeds", "0"], "--seeds 0: between 1 and 1000"),
        (["--policy", "evict=lru", "-k", "nothing-matches"], "no scenario selected"),
    ],
)
def test_bad_input_is_a_usage_error(work: Path, args: list[str], message: str) -> None:
    p = run("compare", "w.vms", *args, cwd=work)
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr


def test_an_unwritable_plot_still_writes_the_rest(work: Path) -> None:
    # a file where a directory must be: the plot cannot be written
    (work / "blocker").write_text("")
    q = run("compare", "w.vms", "--policy", "evict=lru", "--seeds", "1", "--json", "rows2.json",
            "--plot", "blocker/bars.png", cwd=work)  # fmt: skip
    assert q.returncode == 2, q.stdout + q.stderr
    assert "cannot write blocker/bars.png" in q.stderr and "Traceback" not in q.stderr
    assert json.loads((work / "rows2.json").read_text())["rows"]


def test_a_missing_access_list_is_a_usage_error_at_its_clause(tmp_path: Path) -> None:
    (tmp_path / "a.vms").write_text(
        WORKLOAD.replace("touches 0x4000_0000 +3MiB pattern random passes 2", 'accesses "gone.txt"'), encoding="utf-8"
    )
    p = run("compare", "a.vms", "--policy", "evict=lru", cwd=tmp_path)
    assert p.returncode == 2
    assert "a.vms:12:" in p.stderr and "accesses 'gone.txt': cannot read the file" in p.stderr


def test_a_metric_no_run_produced_is_an_error_after_the_outputs(work: Path) -> None:
    (work / "names_only.py").write_text(
        "from vmcore import hookimpl\n\n\n@hookimpl\ndef vmcore_metric_names():\n    return ['ghost']\n",
        encoding="utf-8",
    )
    p = run("compare", "w.vms", "--policy", "evict=lru", "--seeds", "1", "--metrics", "faults,ghost",
            "-p", "names_only", "--json", "rows.json", cwd=work)  # fmt: skip
    assert p.returncode == 2, p.stdout + p.stderr
    assert "no run produced the metric(s) ghost" in p.stderr
    assert (work / "rows.json").exists()
