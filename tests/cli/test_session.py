"""The test session in-process: parallel runs, replay files, exports."""

from __future__ import annotations

import io
import json
from pathlib import Path

from vmcore.cli.session import Options, Session
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIOS = str(ROOT / "scenarios")

DEADLOCK = """
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
    engine vcn0 mm
    engine sdma0 sdma
}
scenario "fault-path eviction" {
    explore 8 strategy pct depth 2
    policy queues = "cs"
    policy alloc = "evict-lru"
    process app on gpu0
    svm app 0x4000_0000 +1MiB in system
    bo video in gpu0.vram size 15MiB owner app
    job c1 on comp0 by app touches 0x4000_0000 +64KiB
    job m1 on vcn0 by app uses video write after c1
    run until idle
    expect no deadlock
}
"""


def run(opts: Options) -> tuple[int, str, Session]:
    out = io.StringIO()
    s = Session(opts, plugin_manager(entry_points=False), out)
    return s.run(), out.getvalue(), s


def test_parallel_run_gives_the_same_results_in_the_same_order() -> None:
    rc1, out1, s1 = run(Options(paths=[SCENARIOS]))
    rc2, out2, s2 = run(Options(paths=[SCENARIOS], processes=2))
    assert rc1 == rc2 == 0
    assert [r.scenario.id for r in s1.reports] == [r.scenario.id for r in s2.reports]
    assert [r.status for r in s1.reports] == [r.status for r in s2.reports]
    strip = [ln for ln in out1.splitlines() if " in " not in ln]
    assert strip == [ln for ln in out2.splitlines() if " in " not in ln]


def test_failure_saves_a_replay_file_that_reproduces_it(tmp_path: Path) -> None:
    f = tmp_path / "dl.vms"
    f.write_text(DEADLOCK)
    wdir = tmp_path / "w"
    rc, out, s = run(Options(paths=[str(f)], witness_dir=str(wdir)))
    assert rc == 1
    assert "witness (" in out and "explanation:" in out and "The fault handler of gpu0 waits" in out
    files = list(wdir.glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["id"] == "dl.vms::fault-path eviction" and data["line"] == 18
    rc2, out2, s2 = run(Options(replay=str(files[0])))
    assert rc2 == 1
    assert "FAIL expect no deadlock (line 18)" in out2
    assert s2.reports[0].witness is not None
    assert s2.reports[0].witness.log == s.reports[0].witness.log  # type: ignore[union-attr]


def test_trace_and_graph_exports(tmp_path: Path) -> None:
    f = tmp_path / "dl.vms"
    f.write_text(DEADLOCK)
    tr, gr = tmp_path / "t.json", tmp_path / "g.dot"
    run(Options(paths=[str(f)], witness_dir=str(tmp_path / "w"), trace=str(tr), graph=str(gr)))
    events = json.loads(tr.read_text())["traceEvents"]
    assert any(e.get("name") == "thread_name" and e["args"]["name"] == "fault handler gpu0" for e in events)
    assert "color=red" in gr.read_text()


def test_junit_report_is_written_even_when_scenarios_fail(tmp_path: Path) -> None:
    f = tmp_path / "dl.vms"
    f.write_text(DEADLOCK)
    xml = tmp_path / "out" / "junit.xml"
    rc, _, _ = run(Options(paths=[str(f)], witness_dir=str(tmp_path / "w"), junitxml=str(xml)))
    assert rc == 1
    text = xml.read_text()
    assert "<failure" in text and "expect no deadlock" in text
    assert not list(xml.parent.glob(".junit.xml.*"))  # the temporary file was renamed away


def test_a_crashing_plugin_still_gets_its_junit_xml_written(tmp_path: Path) -> None:
    from vmcore.hooks.decisions import FaultAction, FaultInfo
    from vmcore.hooks.hookspecs import hookimpl
    from vmcore.hooks.policies import Policy

    class Crashes(Policy):
        family = "fault"
        name = "crashes"

        @hookimpl
        def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
            raise ZeroDivisionError("plugin bug")

    class Plugin:
        @hookimpl
        def vmcore_policies(self) -> list[type[Policy]]:
            return [Crashes]

    f = tmp_path / "crash.vms"
    f.write_text(
        "gpu gpu0 {\n    vram 16MiB\n    engine comp0 compute retry\n}\n"
        'scenario "stray" {\n    policy fault = "crashes"\n    process app on gpu0\n'
        "    job c1 on comp0 by app touches 0x7000_0000 +4KiB\n    run until idle\n    expect app killed\n}\n"
        'scenario "fine" {\n    process app on gpu0\n    expect app alive\n}\n'
    )
    pm = plugin_manager(entry_points=False)
    pm.register(Plugin(), name="crashing-plugin")
    xml = tmp_path / "junit.xml"
    out = io.StringIO()
    s = Session(Options(paths=[str(f)], junitxml=str(xml), witness_dir=str(tmp_path / "w")), pm, out)
    assert s.run() == 1
    assert [r.status for r in s.reports] == ["error", "passed"]  # an ERROR, and the other scenario still ran
    text = xml.read_text()
    assert "ZeroDivisionError: plugin bug" in text and "vmcore_fault_action" in text
