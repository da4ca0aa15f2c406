"""munmap, evict page tables (migrated or reallocated), CPU access and update paths."""

from __future__ import annotations

from tests.engine.scenarios import KiB, MiB, base


def test_munmap_frees_the_memory_and_a_later_access_is_an_unmapped_address() -> None:
    s = base("munmap")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 4 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * MiB))
    s.run_until_idle()
    s.expect("in", 0x4020_0000, 4 * KiB, "app", "gpu0.vram")
    s.munmap("app", 0x4020_0000, 2 * MiB)
    s.expect("in", 0x4000_0000, 4 * KiB, "app", "gpu0.vram")
    s.job("c2", "comp0", "app", touches=(0x4020_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("killed", "app")
    s.expect("no stale pte")
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()


def test_evicted_page_tables_are_refaulted_or_migrated() -> None:
    for move, evictions in (("reallocate", 1), ("migrate", 1)):
        s = base(f"evict page tables ({move})", pt_move=move)
        s.process("app", ["gpu0"])
        s.svm("app", 0x4000_0000, 2 * MiB, "system", preferred="system")
        s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
        s.run_until_idle()
        s.evict_page_tables("app", "gpu0", 0x4000_0000)
        s.job("c2", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
        s.run_until_idle()
        s.expect("alive", "app")
        s.expect("no stale pte")
        s.expect("metric", "evictions", ">=", evictions)
        # reallocated tables lost their PTEs: the second job faults again; migrated ones did not
        s.expect("metric", "faults", "==", 2 if move == "reallocate" else 1)
        r = s.run()
        assert r.passed, (move, r.summary())


def test_cpu_update_path_and_cpu_writes() -> None:
    s = base("cpu updates", update="cpu")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB), write=True, value=3)
    s.run_until_idle()
    s.cpu("app", "writes", 0x4000_0000, 4 * KiB, value=9)
    s.expect("reads", 0x4000_0000, 4 * KiB, "app", 9)
    s.expect("reads", 0x4000_1000, 4 * KiB, "app", 3)
    s.expect("metric", "cpu_faults", "==", 1)
    r = s.run()
    assert r.passed, r.summary()
    assert "pte update" in [a for _, _, a, _ in r.log]  # applied by the CPU, no ring
    assert r.metrics["ring_occupancy_max"] > 0  # only the migration copies used the ring
