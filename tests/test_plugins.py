"""The plugin packages under plugins/, loaded from their source files (not installed).

Each package has its own tests, run after ``pip install -e plugins/<pkg>``; these check
from the main suite that each plugin, registered by hand into a plugin manager without
entry points, changes its scenario's outcome against vmcore's built-in default as its
README claims, and that ``vmcore plugins`` / ``vmcore test`` pick a plugin up with
``-p MODULE``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from vmcore.dsl.compiler import Compiler
from vmcore.engine import Result, Scenario
from vmcore.hooks.manager import plugin_manager, policy_classes

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
PACKAGES = {
    "vmcore_emergency_pool": "vmcore-emergency-pool",
    "vmcore_hint_migration": "vmcore-hint-migration",
    "vmcore_fault_stats": "vmcore-fault-stats",
}


def src_of(module: str) -> Path:
    return PLUGINS / PACKAGES[module] / "src"


def load(module: str) -> ModuleType:
    """Import a plugin package from its source file, whether or not it is installed."""
    init = (src_of(module) / module / "__init__.py").resolve()
    got = sys.modules.get(module)
    if got is not None and Path(str(got.__file__)).resolve() == init:
        return got
    spec = importlib.util.spec_from_file_location(module, init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return mod


def manager(module: str) -> pluggy.PluginManager:
    """Built-in policies and this one plugin: nothing from entry points."""
    pm = plugin_manager(entry_points=False)
    pm.register(load(module), name=module)
    return pm


def run_file(module: str, name: str) -> dict[str, Result]:
    pm = manager(module)
    path = PLUGINS / PACKAGES[module] / "scenarios" / name
    return {cs.id.split("::", 1)[1]: cs.build(pm).run() for cs in Compiler(pm).compile_path(path)}


def verdicts(r: Result) -> dict[str, bool]:
    return {str(o.expectation): o.passed for o in r.outcomes}


def two_gpus(pm: pluggy.PluginManager, name: str) -> Scenario:
    s = Scenario(name, plugins=pm)
    for i in (0, 1):
        s.gpu(
            f"gpu{i}",
            vram=16 << 20,
            engines=[(f"comp{i}", "compute", True, False), (f"sdma{i}", "sdma", False, False)],
        )
    return s


# -- vmcore-emergency-pool ----------------------------------------------------------------
def test_reserve_pool_is_a_new_name_beside_emergency_pool() -> None:
    alloc = policy_classes(manager("vmcore_emergency_pool"))["alloc"]
    assert {"reserve-pool", "emergency-pool", "no-wait", "evict-lru"} <= set(alloc)
    assert alloc["reserve-pool"].__module__ == "vmcore_emergency_pool"


def test_reserve_pool_avoids_the_fault_path_deadlock_and_the_no_wait_stall() -> None:
    results = run_file("vmcore_emergency_pool", "reserve-pool.vms")
    assert all(r.passed for r in results.values()), {
        k: r.summary() for k, r in results.items() if not r.passed
    }
    lru = results["the fault handler never waits on user work[evict-lru]"]
    pool = results["the fault handler never waits on user work[reserve-pool]"]
    assert lru.deadlocks and not pool.deadlocks and not pool.stalls
    no_wait = results["a full VRAM still has room for page tables[no-wait]"]
    full = results["a full VRAM still has room for page tables[reserve-pool]"]
    assert no_wait.stalls and no_wait.metrics["retries"] == 63
    assert not full.stalls and full.metrics["retries"] == 0

    def ml_done(r: Result) -> int:
        last = [f for f in r.monitor.faults if f.process == "ml"][-1]
        assert last.outcome == "mapped" and last.resolved is not None
        return last.resolved

    shared = ml_done(results["the reserve is kept for the process that needs it[*]"])
    kept = ml_done(results["the reserve is kept for the process that needs it[ml]"])
    assert kept < 25_000 < 1_000_000 < shared


def test_seed_scenario_03_under_reserve_pool() -> None:
    """The repository's case-3 scenario, its `policy` statement aside, under the plugin."""
    pm = manager("vmcore_emergency_pool")
    text = (ROOT / "scenarios" / "03-fault-path-allocation.vms").read_text(encoding="utf-8")
    text = text.replace('policy alloc = "evict-lru"', 'policy alloc = "reserve-pool"(size = 64KiB)')
    text = text.replace("expect deadlock", "expect no deadlock").replace(
        "expect potential deadlock", "expect no potential deadlock"
    )
    compiled = Compiler(pm).compile_text(text, str(ROOT / "scenarios" / "03.vms"))
    r = compiled[0].build(pm).run()
    assert r.passed, r.summary()
    assert "reserve-pool" in r.policies["alloc"]


# -- vmcore-hint-migration ----------------------------------------------------------------
def test_no_ping_pong_migrates_less_than_on_fault() -> None:
    results = run_file("vmcore_hint_migration", "no-ping-pong.vms")
    assert all(r.passed for r in results.values()), {
        k: r.summary() for k, r in results.items() if not r.passed
    }
    upstream = results["two GPUs take turns on one granule[on-fault]"].metrics
    plugin = results["two GPUs take turns on one granule[no-ping-pong]"].metrics
    # upstream: each bounce from one VRAM to the other goes through system memory
    assert (upstream["migrations"], plugin["migrations"]) == (11, 2)
    assert (upstream["faults"], plugin["faults"]) == (6, 3)


@pytest.mark.parametrize(("policy", "migrations"), [("on-fault", 7), ("no-ping-pong", 2)])
def test_the_multi_gpu_seed_case(policy: str, migrations: int) -> None:
    """scenarios/10-multi-gpu.vms's first scenario, built with the Python API."""
    pm = manager("vmcore_hint_migration")
    s = two_gpus(pm, "two GPUs take turns on one granule")
    s.policy("migration", policy)
    s.process("app", ["gpu0", "gpu1"])
    s.svm("app", 0x4000_0000, 2 << 20)
    after: list[str] = []
    for i, gpu in enumerate("0101"):
        s.job(f"j{i}", f"comp{gpu}", "app", touches=(0x4000_0000, 4096), write=True, value=i + 1, after=after)
        after = [f"j{i}"]
    s.run_until_idle()
    s.expect("reads", 0x4000_0000, 4096, "app", 4)
    s.expect("no deadlock")
    # the same Scenario twice: the policy's per-granule history must not leak across runs
    first, second = s.run(), s.run()
    for r in (first, second):
        assert r.passed, r.summary()
        assert r.metrics["migrations"] == migrations


# -- vmcore-fault-stats -------------------------------------------------------------------
def test_fault_stats_predicates_see_what_the_builtin_metrics_miss() -> None:
    results = run_file("vmcore_fault_stats", "fault-stats.vms")
    assert all(r.passed for r in results.values()), {
        k: r.summary() for k, r in results.items() if not r.passed
    }
    stuck = verdicts(results["a fault that never resolves is not fast"])
    assert stuck["fault_latency_p99 < 5000"] and stuck["not max_fault_latency_below 5000"]
    worker = verdicts(results["where the fault path spends its time[fault-worker]"])
    assert worker["fault_latency_p99 < 2000"] and worker["not max_fault_latency_below 2000"]
    assert verdicts(results["faults per GPU[on-fault]"])["faults_on gpu1 exactly 2"]
    assert verdicts(results["faults per GPU[keep-shared-in-system]"])["faults_on gpu1 exactly 1"]


def test_a_plugin_predicate_is_unknown_without_the_plugin() -> None:
    from vmcore.dsl.errors import VmsError

    text = (PLUGINS / "vmcore-fault-stats" / "scenarios" / "fault-stats.vms").read_text(encoding="utf-8")
    with pytest.raises(VmsError, match="unknown expectation"):
        Compiler(plugin_manager(entry_points=False)).compile_text(text, "fault-stats.vms")


# -- the command line ---------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [*(str(src_of(m)) for m in PACKAGES), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["VMCORE_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only what -p loads, installed or not
    return subprocess.run(
        [sys.executable, "-m", "vmcore.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_vmcore_plugins_json_lists_plugins_loaded_with_p() -> None:
    p = cli("plugins", "--json", *(a for m in PACKAGES for a in ("-p", m)))
    assert p.returncode == 0, p.stderr
    rows: dict[str, dict[str, Any]] = {r["name"]: r for r in json.loads(p.stdout)}
    assert set(rows) == {"vmcore.policies", *PACKAGES}
    pool, mig, stats = (rows[m] for m in PACKAGES)
    assert pool["policies"] == ["alloc=reserve-pool"] and pool["hooks"] == ["vmcore_policies"]
    assert mig["policies"] == ["migration=no-ping-pong"]
    assert stats["policies"] == []
    assert {"vmcore_event", "vmcore_expect_predicates"} <= set(stats["hooks"])
    for m in PACKAGES:
        assert Path(rows[m]["path"]).resolve() == (src_of(m) / m / "__init__.py").resolve()


def test_vmcore_test_runs_every_plugin_scenario_with_p() -> None:
    dirs = [str(PLUGINS / pkg / "scenarios") for pkg in PACKAGES.values()]
    p = cli("test", *dirs, *(a for m in PACKAGES for a in ("-p", m)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "18 passed, 0 failed" in p.stdout
    header = next(line for line in p.stdout.splitlines() if line.startswith("plugins:"))
    assert all(m in header for m in PACKAGES)
