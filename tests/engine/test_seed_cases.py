"""The cases issue 3 names, each under the policy that breaks it and the one that fixes it."""

from __future__ import annotations

from tests.engine.scenarios import KiB, MiB, base, delayed_entity, fault_path_eviction, pt_eviction


def test_fault_path_eviction_deadlocks_with_evict_lru() -> None:
    s = fault_path_eviction("evict-lru")
    s.expect("deadlock")
    s.expect("potential deadlock")
    r = s.run()
    assert r.passed, r.summary()
    cycle = r.deadlocks[0]
    assert cycle[0] == "fault handler gpu0"
    assert "fence m1" in cycle and "fence c1" in cycle
    assert any(n.startswith("retry fault 0x40000000") for n in cycle)


def test_fault_path_eviction_no_wait_and_emergency_pool_do_not_deadlock() -> None:
    for alloc in ("no-wait", "emergency-pool"):
        s = fault_path_eviction(alloc)
        s.expect("no deadlock")
        s.expect("no potential deadlock")
        s.expect("alive", "app")
        s.expect("in", 0x4000_0000, 4 * KiB, "app", "system")
        r = s.run()
        assert r.passed, (alloc, r.summary())
        assert r.metrics["faults"] == 1


def test_emergency_pool_serves_page_tables_from_its_reserve() -> None:
    s = fault_path_eviction("emergency-pool")
    r = s.run()
    assert r.passed, r.summary()
    # the reserve is pinned VRAM: the rest of VRAM is smaller by its size
    assert r.metrics["pt_allocations"] == 3


def test_cs_fences_on_pt_flagged_by_user_fence_check() -> None:
    s = fault_path_eviction("no-wait")
    s.expect("user fence on page tables")
    r = s.run()
    assert r.passed, r.summary()
    found = r.findings["user fence on page tables"]
    assert "job c1" in found[0].message


def test_kernel_fences_only_keeps_user_fences_off_page_tables() -> None:
    s = fault_path_eviction("no-wait")
    s.policy("pt_fences", "kernel-fences-only")
    s.expect("no user fence on page tables")
    assert s.run().passed


def test_page_table_eviction_waits_on_user_fence_only_with_cs_fences_on_pt() -> None:
    bad = pt_eviction("cs-fences-on-pt")
    bad.expect("deadlock")
    r = bad.run()
    assert r.passed, r.summary()
    assert "fence c1" in r.deadlocks[0]
    good = pt_eviction("kernel-fences-only")
    good.expect("no deadlock")
    good.expect("alive", "app")
    r = good.run()
    assert r.passed, r.summary()
    assert r.metrics["evictions"] >= 1


def test_retry_faults_off_kills_on_the_first_fault() -> None:
    s = base("retry off")
    s.process("app", ["gpu0"], retry_faults=False)
    s.svm("app", 0x4000_0000, 1 * MiB)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("killed", "app")
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()
    assert r.metrics["faults"] == 1
    assert r.monitor.faults[0].retry is False


def test_retry_faults_off_with_access_maps_at_registration() -> None:
    s = base("retry off, mapped at registration")
    s.process("app", ["gpu0"], retry_faults=False)
    s.svm("app", 0x4000_0000, 1 * MiB, access=["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("metric", "faults", "==", 0)
    r = s.run()
    assert r.passed, r.summary()


def test_unmapped_address_kills_the_process() -> None:
    s = base("unmapped address")
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("killed", "app")
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()
    assert r.monitor.faults[0].outcome == "killed"


def test_unmapped_address_with_silence_retry_stalls_instead() -> None:
    s = base("unmapped address, silenced", fault="silence-retry")
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("stall")
    r = s.run()
    assert r.passed, r.summary()


def test_silent_retry_during_migration_leaves_no_stale_pte() -> None:
    s = base("migration with silent retry")
    s.policy("migration", "on-fault", silent_retry=True)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "gpu0.vram")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * KiB), takes=20_000)
    with s.at(5_000):
        s.migrate("app", 0x4000_0000, 2 * MiB, "system")
    s.run_until_idle()
    s.expect("no stale pte")
    s.expect("in", 0x4000_0000, 2 * MiB, "app", "gpu0.vram")
    s.expect("alive", "app")
    r = s.run()
    assert r.passed, r.summary()
    assert r.metrics["migrations"] >= 2
    actions = [(a, d) for _, _, a, d in r.log if a == "pte update"]
    assert any("silent retry" in d for _, d in actions)


def test_killed_with_faults_in_flight_leaks_nothing() -> None:
    s = base("kill with faults in flight")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 8 * MiB, "system")
    for i in range(4):
        s.job(f"c{i}", "comp0", "app", touches=(0x4000_0000 + i * 2 * MiB, 2 * MiB))
    with s.at(1_500):
        s.kill("app")
    s.run_until_idle()
    s.expect("killed", "app")
    s.expect("no leaks")
    s.expect("no deadlock")
    r = s.run()
    assert r.passed, r.summary()
    assert any(f.outcome == "dropped" for f in r.monitor.faults) or any(
        a == "aborted" for _, _, a, _ in r.log
    )


def test_delayed_entity_deadlocks_fault_path_but_split_entities_do_not() -> None:
    bad = delayed_entity("delayed-entity")
    bad.expect("deadlock")
    r = bad.run()
    assert r.passed, r.summary()
    assert any("unmap" in n for n in r.deadlocks[0])
    good = delayed_entity("split-entities")
    good.expect("no deadlock")
    good.expect("alive", "app")
    r = good.run()
    assert r.passed, r.summary()
