"""Tests of the installed vmcore-hint-migration plugin (``pip install -e plugins/vmcore-hint-migration``)."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest
import vmcore_hint_migration
from vmcore_hint_migration import NoPingPong

from vmcore.cli.session import run_compiled
from vmcore.dsl.compiler import Compiler
from vmcore.engine import Result, Scenario
from vmcore.hooks.decisions import MigrationRequest
from vmcore.hooks.manager import plugin_manager, policy_classes
from vmcore.hooks.policies import PolicyError

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "scenarios" / "no-ping-pong.vms"
TURNS = "two GPUs take turns on one granule"


@pytest.fixture(scope="module")
def pm() -> pluggy.PluginManager:
    """Plugins as `vmcore test` loads them: from the entry-point group `vmcore`."""
    return plugin_manager(entry_points=True)


@pytest.fixture(scope="module")
def results(pm: pluggy.PluginManager) -> dict[str, Result]:
    return {cs.id.split("::", 1)[1]: cs.build(pm).run() for cs in Compiler(pm).compile_path(FILE)}


def test_the_entry_point_adds_no_ping_pong(pm: pluggy.PluginManager) -> None:
    assert policy_classes(pm)["migration"]["no-ping-pong"] is NoPingPong
    assert pm.get_plugin("vmcore_hint_migration") is vmcore_hint_migration


def test_every_bundled_scenario_passes(results: dict[str, Result]) -> None:
    assert len(results) == 6
    for name, r in results.items():
        assert r.passed, f"{name}\n{r.summary()}"


def test_migrations_drop_compared_with_on_fault(results: dict[str, Result]) -> None:
    upstream = results[f"{TURNS}[on-fault]"].metrics
    plugin = results[f"{TURNS}[no-ping-pong]"].metrics
    # each bounce from one VRAM to the other goes through system memory
    assert (upstream["migrations"], upstream["faults"]) == (11, 6)
    assert (plugin["migrations"], plugin["faults"]) == (2, 3)
    assert plugin["bytes_moved"] < upstream["bytes_moved"]


def test_settle_stay_keeps_it_in_the_hive(results: dict[str, Result]) -> None:
    assert results["a hive peer maps it in place[on-fault]"].metrics["migrations"] == 7
    assert results["a hive peer maps it in place[no-ping-pong]"].metrics["migrations"] == 1


def test_every_run_starts_with_an_empty_history(pm: pluggy.PluginManager) -> None:
    """vmcore reuses the active policy for every run with the same plugin manager."""
    cs = next(c for c in Compiler(pm).compile_path(FILE) if c.id.endswith(f"{TURNS}[no-ping-pong]"))
    runs = [cs.build(pm).run().metrics["migrations"] for _ in range(3)]
    assert runs == [2, 2, 2]
    ex = run_compiled(cs, pm, runs=20, strategy="random")
    assert ex.passed


def request(gpu: str, location: str = "system", **kw: object) -> MigrationRequest:
    fields: dict[str, object] = {
        "gpu": gpu,
        "process": "app",
        "address": 0x4000_0000,
        "granule_start": 0x4000_0000,
        "granule_size": 2 << 20,
        "location": location,
        "preferred": None,
        "access": ("gpu0", "gpu1"),
        "in_place": (),
        "hives": (("gpu0", "gpu0"), ("gpu1", "gpu1")),
        "retry_faults": True,
        **kw,
    }
    return MigrationRequest(**fields)  # type: ignore[arg-type]


def test_the_granule_settles_after_max_bounces() -> None:
    pol = NoPingPong(max_bounces=1)
    assert pol.vmcore_migration(request("gpu0")).target == "gpu0.vram"
    assert pol.vmcore_migration(request("gpu1", "gpu0.vram")).target == "gpu1.vram"  # bounce 1: allowed
    assert pol.vmcore_migration(request("gpu0", "gpu1.vram")).target == "system"  # bounce 2: settles
    assert pol.vmcore_migration(request("gpu1", "system")).target == "system"
    h = pol.history[("app", 0x4000_0000)]
    assert (h.faults, h.bounces, h.settled) == (["gpu0", "gpu1", "gpu0", "gpu1"], 2, True)
    pol.vmcore_run_started("next run")  # a new run starts
    assert pol.history == {}


def test_a_preferred_location_or_in_place_wins() -> None:
    pol = NoPingPong()
    pol.vmcore_migration(request("gpu0"))
    assert pol.vmcore_migration(request("gpu1", "gpu0.vram", preferred="gpu1.vram")).target == "gpu1.vram"
    got = pol.vmcore_migration(request("gpu1", "gpu0.vram", access=("gpu0",), in_place=("gpu1",)))
    assert got.target == "system"  # upstream's choice for an in_place GPU outside the hive


def test_settle_stay_outside_the_hive_goes_to_system() -> None:
    pol = NoPingPong(settle="stay")
    pol.vmcore_migration(request("gpu0"))
    assert pol.vmcore_migration(request("gpu1", "gpu0.vram")).target == "system"
    hive = (("gpu0", "h"), ("gpu1", "h"))
    pol = NoPingPong(settle="stay", silent_retry=True)
    pol.vmcore_migration(request("gpu0", hives=hive))
    got = pol.vmcore_migration(request("gpu1", "gpu0.vram", hives=hive))
    assert (got.target, got.in_fault_handler, got.silent_retry) == ("gpu0.vram", True, True)


def test_a_bad_settle_is_refused() -> None:
    with pytest.raises(PolicyError, match="settle must be one of 'system', 'stay'"):
        NoPingPong(settle="vram")


def test_the_python_api() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(vmcore_hint_migration, name="vmcore_hint_migration")
    s = Scenario("ping-pong", plugins=pm)
    for i in range(2):
        s.gpu(
            f"gpu{i}",
            vram=16 << 20,
            engines=[(f"comp{i}", "compute", True, False), (f"sdma{i}", "sdma", False, False)],
        )
    s.policy("migration", "no-ping-pong")
    s.process("app", ["gpu0", "gpu1"])
    s.svm("app", 0x4000_0000, 2 << 20)
    prev: list[str] = []
    for turn in range(8):
        name = f"j{turn}"
        s.job(name, f"comp{turn % 2}", "app", touches=(0x4000_0000, 4096), after=prev)
        prev = [name]
    s.run_until_idle()
    s.expect("metric", "migrations", "==", 2)
    r = s.run()
    assert r.passed, r.summary()


def test_the_readme_scenario_runs_as_described(pm: pluggy.PluginManager) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = next(b for b in readme.split("```")[1::2] if b.lstrip().startswith("gpu "))
    results = {cs.param: cs.build(pm).run() for cs in Compiler(pm).compile_text(text, "README.md")}
    assert set(results) == {"on-fault", "no-ping-pong"}
    assert all(r.passed for r in results.values())
    assert results["on-fault"].metrics["migrations"] == 7
    assert results["no-ping-pong"].metrics["migrations"] == 2
