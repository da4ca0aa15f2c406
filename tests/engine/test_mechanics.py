"""Mechanics the seed cases touch lightly: BO mappings, eviction of mapped BOs,
retry-off restore, queued faults of a killed process, pinned BOs."""

from __future__ import annotations

from tests.engine.scenarios import KiB, MiB, base
from vmcore.engine import Scenario


def test_a_bo_mapping_is_refaulted_after_its_page_tables_were_reallocated() -> None:
    s = base("bo refault", pt_move="reallocate")
    s.process("app", ["gpu0"])
    s.bo("buf", "gpu0.vram", 64 * KiB, "app")
    s.map("buf", "app", 0x9000_0000)
    s.job("w", "comp0", "app", touches=(0x9000_0000, 8 * KiB), write=True, value=5)
    s.run_until_idle()
    s.evict_page_tables("app", "gpu0")
    s.job("r", "comp0", "app", touches=(0x9000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("metric", "faults", "==", 1)  # the BO's PTEs were lost with their table
    s.expect("reads", 0x9000_0000, 8 * KiB, "app", 5)
    r = s.run()
    assert r.passed, r.summary()
    assert any(a == "resolved" and "mapped" in d for _, _, a, d in r.log)


def test_an_evicted_bo_keeps_its_data_and_its_mapping_follows() -> None:
    s = base("bo eviction", vram=2 * MiB)
    s.process("app", ["gpu0"])
    s.bo("buf", "gpu0.vram", 1 * MiB, "app")
    s.map("buf", "app", 0x9000_0000)
    s.job("w", "comp0", "app", touches=(0x9000_0000, 64 * KiB), write=True, value=8)
    s.run_until_idle()
    s.bo("big", "gpu0.vram", 2 * MiB, "app", contiguous=True)  # all of VRAM: buf must go
    s.job("r", "comp0", "app", touches=(0x9000_0000, 64 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("metric", "evictions", ">=", 1)
    s.expect("metric", "faults", "==", 0)  # the mapping moved with the BO
    s.expect("reads", 0x9000_0000, 64 * KiB, "app", 8)
    s.expect("no stale pte")
    r = s.run()
    assert r.passed, r.summary()


def test_retry_off_migration_stops_the_queues_and_remaps() -> None:
    s = base("xnack off restore")
    s.process("app", ["gpu0"], retry_faults=False)
    s.svm("app", 0x4000_0000, 2 * MiB, "system", access=["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * KiB), takes=50_000, write=True, value=2)
    with s.at(5_000):
        s.migrate("app", 0x4000_0000, 2 * MiB, "gpu0.vram")
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("metric", "faults", "==", 0)
    s.expect("in", 0x4000_0000, 2 * MiB, "app", "gpu0.vram")
    s.expect("reads", 0x4000_0000, 64 * KiB, "app", 2)
    r = s.run()
    assert r.passed, r.summary()


def test_a_killed_process_loses_its_queued_faults_and_new_jobs() -> None:
    s = Scenario("kill queued")
    s.gpu(
        "gpu0",
        vram=16 * MiB,
        engines=[
            ("comp0", "compute", True, False),
            ("comp1", "compute", True, False),
            ("sdma0", "sdma", False, False),
        ],
    )
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 8 * MiB, "system")
    s.job("a", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
    s.job("b", "comp1", "app", touches=(0x4040_0000, 4 * KiB))
    with s.at(500):
        s.kill("app")
        s.job("late", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("killed", "app")
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()
    outcomes = sorted(f.outcome for f in r.monitor.faults)
    assert "dropped" in outcomes
    assert any(a == "job refused" for _, _, a, _ in r.log)


def test_a_pinned_bo_is_never_evicted() -> None:
    s = base("pinned", vram=4 * MiB)
    s.process("app", ["gpu0"])
    s.bo("keep", "gpu0.vram", 2 * MiB, "app", pinned=True)
    s.bo("more", "gpu0.vram", 3 * MiB, "app", contiguous=True)  # needs all 4 MiB: keep is pinned
    s.expect("metric", "alloc_failures", "==", 1)
    s.kill("app")
    s.run_until_idle()
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()
    assert not any(a == "evict" and d.startswith("keep") for _, _, a, d in r.log)
