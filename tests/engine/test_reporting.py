"""Predicates in words, verdicts of every state predicate, witnesses and their files."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.scenarios import ENGINES, KiB, MiB, base, fault_path_eviction
from vmcore.engine import Scenario, ScenarioError
from vmcore.engine.checks import Predicate
from vmcore.engine.sim import BudgetExceeded, EngineError, Scheduler, Sim, Sleep
from vmcore.engine.witness import ReplayFile, describe_node, explain, signature, trace


def test_predicates_read_like_the_language() -> None:
    cases = {
        Predicate("ring intact", ("sdma0",)): "ring sdma0 intact",
        Predicate("killed", ("app",)): "app killed",
        Predicate("in", (0x1000, 0x2000, "app", "gpu0.vram")): "0x1000 +0x2000 of app in gpu0.vram",
        Predicate("reads", (0x1000, 0x1000, "app", 7)): "0x1000 +0x1000 of app reads 7",
        Predicate(
            "resolved", (0x1000, "app", "gpu0", 5000)
        ): "fault at 0x1000 of app on gpu0 resolved within 5000ns",
        Predicate("resolved", (0x1000, "app", None, None)): "fault at 0x1000 of app resolved",
        Predicate("metric", ("faults", ">=", 2)): "faults >= 2",
        Predicate("plugin", ("quiet", "gpu0")): "quiet gpu0",
        Predicate("no deadlock"): "no deadlock",
    }
    for p, text in cases.items():
        assert str(p) == text
    assert Predicate("ring intact", ("sdma0",)).is_run and not Predicate("killed", ("a",)).is_run


def test_state_predicates_say_why_they_fail() -> None:
    s = base("state predicates")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("alive", "app", negate=True)  # it is alive: this fails
    s.expect("in", 0x5000_0000, 4 * KiB, "app", "system")  # no range there
    s.expect("in", 0x4000_0000, 4 * KiB, "app", "system")  # it moved to VRAM
    s.expect("resolved", 0x4010_0000, "app", None, None)  # no fault there
    s.expect("resolved", 0x4000_0000, "app", "gpu0", 1)  # too slow for 1 ns
    s.expect("resolved", 0x4000_0000, "app", "gpu0", None)
    r = s.run()
    whys = [(o.passed, o.why) for o in r.outcomes]
    assert whys[0] == (False, "app is alive")
    assert whys[1] == (False, "0x50000000 is in no svm range of app")
    assert whys[2] == (False, "0x40000000 of app is in gpu0.vram")
    assert whys[3] == (False, "no fault at 0x40100000 of app was taken")
    assert whys[4][0] is False and "took" in whys[4][1]
    assert whys[5][0] is True and "was resolved in" in whys[5][1]


def test_a_killed_fault_is_not_resolved() -> None:
    s = base("killed fault")
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("resolved", 0x7000_0000, "app", None, None)
    r = s.run()
    assert r.outcomes[0].why == "the fault at 0x70000000 of app ended killed"


def test_result_helpers() -> None:
    r = fault_path_eviction("evict-lru").run()
    around = r.format_log(around=1000, width=2)
    assert "evict" in around and len(around.splitlines()) <= 7
    assert r.summary().startswith("FAIL unexpected deadlock")
    assert signature(r, None)[0] is True
    assert signature(r, 999) == ("missing",)
    assert trace(r, limit=3).splitlines()[0].strip().startswith("... 8 earlier steps")


def test_nodes_in_words() -> None:
    assert describe_node("fault handler gpu0") == "the fault handler of gpu0"
    assert describe_node("comp0 running c1") == "engine comp0, running job c1"
    assert describe_node("retry fault 0x1000 of app on gpu0") == "the retry fault at 0x1000 of app on gpu0"
    assert describe_node("app@gpu0 delayed: map app@gpu0#3").startswith("the delayed entity of app on gpu0")
    assert describe_node("direct update fence map x").startswith("the direct submission of")
    assert describe_node("something else") == "something else"


def test_explain_without_a_deadlock() -> None:
    s = base("quiet", fault="silence-retry")
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 4 * KiB))
    s.run_until_idle()
    text = explain(s.run())
    assert text.startswith("Stall: nothing runnable while job(s) c1 never finished")
    ok = base("fine")
    ok.process("app", ["gpu0"])
    assert explain(ok.run()).startswith("Nothing went wrong")


def test_replay_files_refuse_what_they_cannot_use(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_text("{ not json")
    with pytest.raises(ValueError, match="not a vmcore replay file"):
        ReplayFile.load(f)
    f.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version 1"):
        ReplayFile.load(f)
    f.write_text(json.dumps({"version": 1, "path": "x.vms"}))
    with pytest.raises(ValueError, match="malformed"):
        ReplayFile.load(f)
    good = ReplayFile("x.vms", "x.vms::s", [0, 1, 0], line=3)
    f.write_text(good.dumps())
    assert ReplayFile.load(f) == good


def test_scenario_errors_name_the_line() -> None:
    s = Scenario("errors")
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"], line=3)
    s.job("c1", "comp0", "nobody", touches=(0x1000, 4 * KiB), line=4)
    r = s.run()
    assert r.failures == ["ScenarioError: line 4: unknown process 'nobody'"]
    cases: list[tuple[Callable[[Scenario], None], str]] = [
        (lambda x: x.job("c2", "comp0", "app", after=["c9"], line=5), "unknown job 'c9'"),
        (lambda x: x.job("c2", "comp0", "app", touches=(0x1001, 4 * KiB), line=5), "not page aligned"),
        (lambda x: x.map("nobo", "app", 0x1000, line=5), "unknown BO 'nobo'"),
    ]
    for bad, msg in cases:
        t = Scenario("errors")
        t.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
        t.process("app", ["gpu0"])
        bad(t)
        out = t.run()
        assert any(msg in f for f in out.failures), out.failures
    nested = Scenario("nested")
    with nested.at(10), pytest.raises(ScenarioError, match="do not nest"), nested.at(20):
        pass


def test_the_sim_refuses_what_is_not_a_command_and_stops_runaways() -> None:
    sim = Sim(Scheduler(), max_events=100)

    def bad() -> Generator[Any, Any, None]:
        yield "sleep please"

    sim.spawn("bad", bad())
    with pytest.raises(EngineError, match="not a command"):
        sim.run()
    sim.close()

    sim = Sim(Scheduler(), max_events=50)

    def spin() -> Generator[Any, Any, None]:
        while True:
            yield Sleep(1)

    sim.spawn("spin", spin())
    with pytest.raises(BudgetExceeded, match="event budget of 50"):
        sim.run()
    sim.close()
