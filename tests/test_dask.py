"""Scenarios spread over a dask.distributed LocalCluster on loopback give the serial results."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from vmcore.cli.session import Options, Session
from vmcore.hooks.manager import plugin_manager

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


def test_dask_local_cluster_matches_the_serial_run(tmp_path: Path) -> None:
    paths = [
        str(ROOT / "scenarios" / "03-fault-path-allocation.vms"),
        str(ROOT / "scenarios" / "05-direct-submission.vms"),
    ]
    out1, out2 = io.StringIO(), io.StringIO()
    s1 = Session(Options(paths=paths, witness_dir=str(tmp_path)), plugin_manager(entry_points=False), out1)
    s2 = Session(
        Options(paths=paths, witness_dir=str(tmp_path), dask="local"),
        plugin_manager(entry_points=False),
        out2,
    )
    assert s1.run() == s2.run() == 0
    assert [r.scenario.id for r in s1.reports] == [r.scenario.id for r in s2.reports]
    for a, b in zip(s1.reports, s2.reports, strict=True):
        assert a.status == b.status
        assert a.exploration is not None and b.exploration is not None
        assert a.exploration.runs == b.exploration.runs
        assert [o.passed for o in a.exploration.outcomes] == [o.passed for o in b.exploration.outcomes]
        assert a.exploration.interesting.log == b.exploration.interesting.log
