"""An SVM range's VRAM is one BO, allocated whole at its first migration and evicted whole
(``svm_range_vram_node_new``, ``svm_range_evict_svm_bo_worker``; issues 13 and 14)."""

from __future__ import annotations

from tests.engine.scenarios import ENGINES, KiB, MiB
from vmcore.engine import Result, Scenario

BASE = 0x4000_0000


def _range_beside_other(name: str) -> Scenario:
    """8 MiB of VRAM (SVM pieces of 2 MiB), ``app`` with a 2 MiB range of 64 KiB granules
    in system memory, and ``other``, which will want VRAM."""
    s = Scenario(name)
    s.gpu("gpu0", vram=8 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"])
    s.process("other", ["gpu0"])
    s.svm("app", BASE, 2 * MiB, "system", granularity=64 * KiB)
    return s


def _touched_then_filled(filler: int) -> Result:
    """``app`` faults 4 granules of 64 KiB of its range into VRAM, then ``other``
    allocates ``filler`` bytes of VRAM."""
    s = _range_beside_other("whole-range BO")
    s.job("c", "comp0", "app", touches=(BASE, 256 * KiB))
    s.run_until_idle()
    s.bo("filler", "gpu0.vram", filler, "other")
    s.run_until_idle()
    s.expect("alive", "app")
    return s.run()


def test_the_first_fault_into_a_range_takes_vram_for_the_whole_range() -> None:
    # 5 MiB fits beside the range's 2 MiB BO: nothing is evicted
    r = _touched_then_filled(5 * MiB)
    assert r.passed, r.summary()
    assert (r.metrics["faults"], r.metrics["migrations"], r.metrics["evictions"]) == (4, 4, 0)
    # 6.5 MiB would fit beside the 256 KiB the four granules hold, but not beside the
    # range's BO: TTM evicts the BO, and with it all four granules
    r = _touched_then_filled(6 * MiB + 512 * KiB)
    assert r.passed, r.summary()
    assert (r.metrics["faults"], r.metrics["migrations"], r.metrics["evictions"]) == (4, 8, 1)


def test_an_eviction_moves_the_whole_range_back_in_one_migration() -> None:
    s = _range_beside_other("evicted whole")
    s.job("w", "comp0", "app", touches=(BASE, 1 * MiB), write=True, value=7)
    s.run_until_idle()
    s.bo("filler", "gpu0.vram", 6 * MiB + 512 * KiB, "other")
    s.run_until_idle()
    s.expect("in", BASE, 1 * MiB, "app", "system")
    s.expect("reads", BASE, 1 * MiB, "app", 7)
    s.expect("metric", "evictions", "==", 1)
    s.expect("metric", "migrations", "==", 32)  # 16 granules in, the same 16 out
    s.expect("no stale pte")
    r = s.run()
    assert r.passed, r.summary()
    moved = [detail for _, _, what, detail in r.log if what == "migrated" and "(eviction)" in detail]
    assert moved == ["app 0x40000000 +0x100000 to system (eviction)"]  # one migration, not 16


def test_a_range_larger_than_vram_stays_in_system_memory() -> None:
    # 2 MiB of VRAM: pieces of 2 MiB, which do not fit beside the page tables
    s = Scenario("too big")
    s.gpu("gpu0", vram=2 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"])
    s.svm("app", BASE, 2 * MiB, "system", granularity=64 * KiB)
    s.job("c", "comp0", "app", touches=(BASE, 64 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("in", BASE, 64 * KiB, "app", "system")
    s.expect("metric", "alloc_failures", "==", 1)
    r = s.run()
    assert r.passed, r.summary()


def test_split_pieces_share_the_bo_until_the_last_leaves() -> None:
    """A munmap of half a range in VRAM keeps the other half in the BO, and its data."""
    s = _range_beside_other("split BO")
    s.job("w", "comp0", "app", touches=(BASE, 2 * MiB), write=True, value=5)
    s.run_until_idle()
    s.munmap("app", BASE, 1 * MiB)
    # still 2 MiB of VRAM held by the half that stays: 6.5 MiB does not fit beside it
    s.bo("filler", "gpu0.vram", 6 * MiB + 512 * KiB, "other")
    s.run_until_idle()
    s.expect("in", BASE + 1 * MiB, 1 * MiB, "app", "system")
    s.expect("reads", BASE + 1 * MiB, 1 * MiB, "app", 5)
    s.expect("metric", "evictions", "==", 1)
    s.expect("no stale pte")
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()
