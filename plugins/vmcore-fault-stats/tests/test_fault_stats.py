"""Tests of the installed vmcore-fault-stats plugin (``pip install -e plugins/vmcore-fault-stats``)."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest
import vmcore_fault_stats
from vmcore_fault_stats import COUNTER, EventCounter, parse_time

from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.engine import Result, Scenario
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "scenarios" / "fault-stats.vms"
GPU = "gpu gpu0 { vram 16MiB; engine comp0 compute retry; engine sdma0 sdma }\n"


@pytest.fixture(scope="module")
def pm() -> pluggy.PluginManager:
    """Plugins as `vmcore test` loads them: from the entry-point group `vmcore`."""
    return plugin_manager(entry_points=True)


@pytest.fixture(scope="module")
def results(pm: pluggy.PluginManager) -> dict[str, Result]:
    return {cs.id.split("::", 1)[1]: cs.build(pm).run() for cs in Compiler(pm).compile_path(FILE)}


def verdicts(r: Result) -> dict[str, bool]:
    return {str(o.expectation): o.passed for o in r.outcomes}


def test_the_entry_point_adds_the_predicates(pm: pluggy.PluginManager) -> None:
    assert pm.get_plugin("vmcore_fault_stats") is vmcore_fault_stats
    assert {"faults_on", "max_fault_latency_below", "events"} <= Compiler(pm).plugin_predicates


def test_every_bundled_scenario_passes(results: dict[str, Result]) -> None:
    assert len(results) == 6
    for name, r in results.items():
        assert r.passed, f"{name}\n{r.summary()}"


def test_it_catches_what_fault_latency_p99_misses(results: dict[str, Result]) -> None:
    stuck = results["a fault that never resolves is not fast"]
    assert stuck.stalls and stuck.metrics["fault_latency_p99"] == 0
    v = verdicts(stuck)
    assert v["fault_latency_p99 < 5000"]  # the built-in metric: vacuously fast
    assert v["not max_fault_latency_below 5000"]  # the plugin: 64 faults, none mapped
    busy = results["where the fault path spends its time[fault-worker]"]
    assert busy.metrics["fault_latency_p99"] == 1100 and busy.metrics["faults"] == 24


def test_faults_per_gpu(results: dict[str, Result]) -> None:
    on_fault = results["faults per GPU[on-fault]"]
    shared = results["faults per GPU[keep-shared-in-system]"]
    assert on_fault.metrics["faults"] == 4 and verdicts(on_fault)["faults_on gpu1 exactly 2"]
    assert shared.metrics["faults"] == 2 and verdicts(shared)["faults_on gpu1 exactly 1"]


def test_event_counts_start_over_with_every_run(pm: pluggy.PluginManager) -> None:
    cs = next(c for c in Compiler(pm).compile_path(FILE) if c.id.endswith("faults per GPU[on-fault]"))
    for _ in range(3):
        r = cs.build(pm).run()
        assert r.passed, r.summary()
        assert COUNTER.by_action["migrated"] == 7  # VRAM to VRAM goes through system memory


def test_the_counter_starts_over_with_each_run() -> None:
    c = EventCounter()
    for t in (0, 5, 5, 9):
        c.event(t, "gpu0", "fault")
    assert c.by_action["fault"] == 4
    c.reset()
    c.event(0, "gpu0", "fault")
    assert c.by_action["fault"] == 1 and c.by_actor[("gpu0", "fault")] == 1


@pytest.mark.parametrize(("text", "ns"), [("5000", 5000), ("5us", 5000), ("2ms", 2_000_000), ("1_000", 1000)])
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text) == ns


def scenario(pm: pluggy.PluginManager, *expect: str) -> Scenario:
    s = Scenario("stats", plugins=pm)
    s.gpu("gpu0", vram=16 << 20, engines=[("comp0", "compute", True, False), ("sdma0", "sdma", False, False)])
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 << 20)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 << 10))
    s.run_until_idle()
    s.expect("plugin", *expect)
    return s


def test_the_python_api() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(vmcore_fault_stats, name="vmcore_fault_stats")
    assert scenario(pm, "faults_on", "gpu0", "exactly", "1").run().passed
    assert scenario(pm, "max_fault_latency_below", "1ms").run().passed
    assert not scenario(pm, "max_fault_latency_below", "1us").run().passed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("faults_on", "gpu9", "at_most", "1"), ["unknown GPU 'gpu9'"]),
        (("faults_on", "gpu0", "below", "1"), ["expected at_most, at_least or exactly"]),
        (("events", "fault", "at_most", "many"), ["expected a count"]),
        (("max_fault_latency_below", "soon"), ["expected a time such as 5us"]),
    ],
)
def test_bad_arguments_fail_the_scenario_with_a_message(
    pm: pluggy.PluginManager, args: tuple[str, ...], words: list[str]
) -> None:
    r = scenario(pm, *args).run()
    assert not r.passed
    text = "\n".join(r.failures)
    assert f"expect predicate {args[0]!r} raised ValueError" in text
    for w in words:
        assert w in text


def test_a_misspelt_predicate_is_a_compile_error(pm: pluggy.PluginManager) -> None:
    text = GPU + 'scenario "s" {\n    expect fault_on gpu0 at_most 1\n}\n'
    with pytest.raises(VmsError, match="did you mean 'faults_on'"):
        Compiler(pm).compile_text(text, "typo.vms")


def test_the_readme_scenario_runs_as_described(pm: pluggy.PluginManager) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = next(b for b in readme.split("```")[1::2] if b.lstrip().startswith("gpu "))
    results = [cs.build(pm).run() for cs in Compiler(pm).compile_text(text, "README.md")]
    assert results and all(r.passed for r in results), "\n".join(r.summary() for r in results)
