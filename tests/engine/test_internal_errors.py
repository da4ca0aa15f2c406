"""A bug inside vmcore is reported as an internal error, never a bare traceback (issue 15).

The error names the scenario and the step (the step count, the simulated time, the actor
running and the statement its thread was at) and carries the traceback; ``vmcore test``
reports it as an ERROR, exits non-zero and still writes the JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from vmcore.engine.gpu.ih import FaultHandler
from vmcore.engine.gpu.svm import Svm
from vmcore.engine.scenario import Scenario
from vmcore.errors import InternalError, LimitExceeded, StateError, VmcoreError

KiB = 1024
MiB = 1024 * KiB
ENGINES = [("comp0", "compute", True, False), ("sdma0", "sdma", False, False)]


def _scenario(name: str) -> Scenario:
    s = Scenario(name)
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"], line=2)
    s.svm("app", 0x4000_0000, 2 * MiB, line=3)
    return s


def _broken_cpu_access(*args: Any, **kwargs: Any) -> Generator[Any, Any, None]:
    raise KeyError("injected bug")
    yield  # a generator, as the method it replaces


def test_an_exception_in_a_statement_is_an_internal_error_naming_scenario_and_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Svm, "cpu_access", _broken_cpu_access)
    s = _scenario("cpu reads hit a bug")
    s.run_for(3000, line=4)
    s.cpu("app", "reads", 0x4000_0000, 4 * KiB, line=5)
    with pytest.raises(InternalError) as info:
        s.run()
    msg = str(info.value)
    first = msg.splitlines()[0]
    assert "internal error in scenario 'cpu reads hit a bug'" in first
    assert "at 3000 ns" in first and "step " in first
    assert "actor 'app'" in first and "line 5: cpu" in first
    assert "KeyError: 'injected bug'" in first
    # the traceback of the bug, as part of the report (no bare Python header)
    assert "_broken_cpu_access" in msg and "bug in vmcore" in msg
    assert "Traceback (most recent call last)" not in msg
    assert isinstance(info.value.cause, KeyError)
    assert isinstance(info.value, VmcoreError)


def _broken_restore(self: FaultHandler, f: Any) -> Generator[Any, Any, str]:
    raise IndexError("injected bug in the fault handler")
    yield


def test_a_bug_in_another_actor_names_it_and_where_the_application_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FaultHandler, "_restore", _broken_restore)
    s = _scenario("a fault hits a bug")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB), line=4)
    s.run_until_idle(line=5)
    with pytest.raises(InternalError) as info:
        s.run()
    first = str(info.value).splitlines()[0]
    assert "'a fault hits a bug'" in first
    assert "actor 'fault handler gpu0'" in first
    assert "while app at line 5: runidle" in first
    assert "IndexError" in first


def _core_refuses(*args: Any, **kwargs: Any) -> Generator[Any, Any, None]:
    raise StateError("PageTable.missing: the page table was closed")
    yield


def _too_much(*args: Any, **kwargs: Any) -> Generator[Any, Any, None]:
    raise LimitExceeded("system memory: more than the simulation's 1 TiB")
    yield


def test_a_core_call_the_engine_should_not_make_is_internal_but_a_capacity_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Svm, "cpu_access", _core_refuses)
    s = _scenario("the core refuses")
    s.cpu("app", "reads", 0x4000_0000, 4 * KiB, line=4)
    with pytest.raises(InternalError, match=r"StateError: PageTable\.missing"):
        s.run()
    monkeypatch.setattr(Svm, "cpu_access", _too_much)
    t = _scenario("too big")
    t.cpu("app", "reads", 0x4000_0000, 4 * KiB, line=4)
    r = t.run()  # a limit of the simulation fails the scenario, as a budget does
    assert r.errors == ["LimitExceeded: system memory: more than the simulation's 1 TiB"]


def test_scenario_errors_stay_scenario_errors() -> None:
    s = _scenario("unknown process in an expectation")
    s.run_until_idle()
    s.expect("reads", 0x4000_0000, 4096, "nobody", 0, line=7)
    s.expect("metric", "migrations", "<", 4, "nobody", line=8)
    r = s.run()
    assert r.errors == ["ScenarioError: line 7: unknown process 'nobody': it does not exist at 0 ns"]
    t = _scenario("unknown process in a metric")
    t.expect("metric", "migrations", "<", 4, "nobody", line=8)
    assert t.run().errors == ["ScenarioError: line 8: unknown process 'nobody': it does not exist at 0 ns"]


BUGGY_PLUGIN = '''
"""A plugin that injects a bug into the engine when it is imported (for the test only)."""
from vmcore.engine.gpu.svm import Svm


def _broken(self, *args, **kwargs):
    raise KeyError("injected by buggy_plugin")
    yield


Svm.cpu_access = _broken
'''

SCENARIO = """gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
}

scenario "fine" {
    process app on gpu0
    run until idle
    expect app alive
}

scenario "reads into a bug" {
    process app on gpu0
    svm app 0x4000_0000 +2MiB in system
    cpu app reads 0x4000_0000 +4KiB
    expect app alive
}
"""


def test_vmcore_test_reports_an_internal_error_and_still_writes_junit(tmp_path: Path) -> None:
    (tmp_path / "buggy_plugin.py").write_text(BUGGY_PLUGIN, encoding="utf-8")
    (tmp_path / "s.vms").write_text(SCENARIO, encoding="utf-8")
    env = {
        **os.environ,
        "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    p = subprocess.run(
        [sys.executable, "-m", "vmcore.cli", "test", "s.vms", "-p", "buggy_plugin", "--junitxml", "out.xml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Traceback (most recent call last)" not in out, out
    assert "s.vms::reads into a bug ERROR" in out, out
    assert "s.vms::fine PASSED" in out, out
    assert "internal error in scenario 'reads into a bug'" in out, out
    assert "line 15: cpu" in out and "KeyError: 'injected by buggy_plugin'" in out, out
    assert "1 passed" in out and "1 error" in out, out
    suite = ET.parse(tmp_path / "out.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    bad = next(c for n, c in cases.items() if n and "reads into a bug" in n)
    err = bad.find("error")
    assert err is not None
    assert "internal error in scenario 'reads into a bug'" in (err.get("message") or "")
    assert "buggy_plugin" in (err.text or "")
    assert any(c.find("error") is None and n and "fine" in n for n, c in cases.items())
