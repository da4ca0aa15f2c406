"""Tests of the installed vmcore-emergency-pool plugin (``pip install -e plugins/vmcore-emergency-pool``)."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest
import vmcore_emergency_pool
from vmcore_emergency_pool import ReservePool

from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.engine import Result, Scenario
from vmcore.hooks.decisions import AllocMode, AllocRequest
from vmcore.hooks.manager import plugin_manager, policy_classes
from vmcore.hooks.policies import PolicyError

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILE = SCENARIOS / "reserve-pool.vms"


@pytest.fixture(scope="module")
def pm() -> pluggy.PluginManager:
    """Plugins as `vmcore test` loads them: from the entry-point group `vmcore`."""
    return plugin_manager(entry_points=True)


def run_all(pm: pluggy.PluginManager) -> dict[str, Result]:
    return {cs.id.split("::", 1)[1]: cs.build(pm).run() for cs in Compiler(pm).compile_path(FILE)}


def test_the_entry_point_adds_reserve_pool_beside_the_builtin(pm: pluggy.PluginManager) -> None:
    alloc = policy_classes(pm)["alloc"]
    assert alloc["reserve-pool"] is ReservePool
    assert "emergency-pool" in alloc  # the built-in is still there: no clash
    assert pm.get_plugin("vmcore_emergency_pool") is vmcore_emergency_pool


def test_every_bundled_scenario_passes(pm: pluggy.PluginManager) -> None:
    results = run_all(pm)
    assert len(results) == 6
    for name, r in results.items():
        assert r.passed, f"{name}\n{r.summary()}"


def test_reserve_pool_avoids_the_evict_lru_deadlock(pm: pluggy.PluginManager) -> None:
    results = run_all(pm)
    bad = results["the fault handler never waits on user work[evict-lru]"]
    good = results["the fault handler never waits on user work[reserve-pool]"]
    assert bad.deadlocks and "fault handler gpu0" in bad.deadlocks[0]
    assert not good.deadlocks and not good.stalls
    assert good.metrics["pt_allocations"] == 3


def test_a_full_vram_stalls_no_wait_but_not_the_reserve(pm: pluggy.PluginManager) -> None:
    results = run_all(pm)
    no_wait = results["a full VRAM still has room for page tables[no-wait]"]
    reserve = results["a full VRAM still has room for page tables[reserve-pool]"]
    assert no_wait.stalls and no_wait.metrics["retries"] == 63
    assert not reserve.stalls and reserve.metrics["retries"] == 0


def test_reserve_only_for_decides_who_waits(pm: pluggy.PluginManager) -> None:
    results = run_all(pm)

    def ml_latency(r: Result) -> int:
        last = [f for f in r.monitor.faults if f.process == "ml"][-1]
        assert last.resolved is not None and last.outcome == "mapped"
        first = next(f for f in r.monitor.faults if f.process == "ml")
        return last.resolved - first.posted

    shared = ml_latency(results["the reserve is kept for the process that needs it[*]"])
    kept = ml_latency(results["the reserve is kept for the process that needs it[ml]"])
    assert kept == 1100
    assert shared > 100_000  # until video went idle at 100us and was evicted


def test_the_python_api() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(vmcore_emergency_pool, name="vmcore_emergency_pool")
    s = Scenario("fault path with a reserve", plugins=pm)
    s.gpu(
        "gpu0",
        vram=16 << 20,
        engines=[
            ("comp0", "compute", True, False),
            ("vcn0", "mm", False, False),
            ("sdma0", "sdma", False, False),
        ],
    )
    s.policy("alloc", "reserve-pool", size=64 << 10)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 1 << 20)
    s.bo("video", "gpu0.vram", (16 << 20) - (64 << 10) - 4096, "app")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 << 10))
    s.job("m1", "vcn0", "app", uses=[("video", True)], after=["c1"])
    s.run_until_idle()
    s.expect("no stall")
    s.expect("alive", "app")
    r = s.run()
    assert r.passed, r.summary()
    assert "reserve-pool" in r.policies["alloc"]


@pytest.mark.parametrize(
    ("process", "purpose", "only", "fallback", "mode"),
    [
        ("app", "pt", "*", "no-wait", AllocMode.RESERVE),
        ("app", "migration", "*", "no-wait", AllocMode.NO_WAIT),
        ("app", "migration", "*", "fail", AllocMode.FAIL),
        ("app", "pt", "ml, app", "no-wait", AllocMode.RESERVE),
        ("batch", "pt", "ml, app", "no-wait", AllocMode.NO_WAIT),
        ("batch", "pt", "ml", "fail", AllocMode.FAIL),
    ],
)
def test_alloc_mode(process: str, purpose: str, only: str, fallback: str, mode: AllocMode) -> None:
    pol = ReservePool(reserve_only_for=only, fallback=fallback)
    assert pol.vmcore_alloc_mode(AllocRequest("gpu0", purpose, 4096, process)) is mode
    assert pol.vmcore_pt_reserve("gpu0", 16 << 20) == 256 << 10


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"fallback": "wait"}, ["fallback must be one of", "deadlock"]),
        ({"reserve_only_for": " , "}, ["names no process"]),
        ({"reserve_only_for": 3}, ["must be a string"]),
        ({"size": -1}, ["non-negative integer"]),
        ({"sizes": 1}, ["takes no parameter 'sizes'"]),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(PolicyError) as e:
        ReservePool(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_a_bad_parameter_in_a_scenario_is_a_compile_error(pm: pluggy.PluginManager) -> None:
    text = (
        "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n"
        'scenario "s" {\n    policy alloc = "reserve-pool"(fallback = "wait")\n}\n'
    )
    with pytest.raises(VmsError) as e:
        Compiler(pm).compile_text(text, "bad.vms")
    assert "bad.vms:3:" in str(e.value)
    assert "fallback must be one of" in str(e.value)


def test_the_readme_scenario_runs_as_described(pm: pluggy.PluginManager) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```")
    text = next(b for b in blocks[1::2] if b.lstrip().startswith("gpu "))
    results = {cs.param: cs.build(pm).run() for cs in Compiler(pm).compile_text(text, "README.md")}
    assert set(results) == {"evict-lru", "reserve-pool"}
    assert all(r.passed for r in results.values())
    assert results["evict-lru"].deadlocks and not results["reserve-pool"].deadlocks
