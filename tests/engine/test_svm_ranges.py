"""SVM ranges as KFD keeps them: pieces of at most max_svm_range_pages, cut by munmap and
prefetch with data, attributes and mappings kept (issue 14)."""

from __future__ import annotations

from tests.engine.scenarios import ENGINES, KiB, MiB
from vmcore.engine import Scenario
from vmcore.engine.gpu.svm_split import max_range_bytes, pieces
from vmcore.engine.model import Domain, Gpu, Granule, Placement, Process, SvmRange


def test_max_range_is_a_32nd_of_the_smallest_vram_clamped_and_a_power_of_two() -> None:
    def gpus(*sizes: int) -> list[Gpu]:
        return [Gpu(f"g{i}", s, 1 << 30) for i, s in enumerate(sizes)]

    assert max_range_bytes(gpus(16 * MiB)) == 2 * MiB  # 512 KiB, clamped up to 2 MiB
    assert max_range_bytes(gpus(8 << 30)) == 256 * MiB
    assert max_range_bytes(gpus(8 << 30, 3 << 30)) == 64 * MiB  # 96 MiB, rounded down
    assert max_range_bytes(gpus(1 << 40)) == 1 << 30  # clamped to 1 GiB
    assert pieces(0x4010_0000, 5 * MiB, 2 * MiB) == [
        (0x4010_0000, 1 * MiB),
        (0x4020_0000, 2 * MiB),
        (0x4040_0000, 2 * MiB),
    ]


def sequential_prefetch_at(va: int) -> float:
    """64 KiB granules; the fault at ``va`` brings the next 128 KiB along, inside its range."""
    s = Scenario("pieces")
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.policy("prefetch", "sequential", size=128 * KiB)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 4 * MiB, "system", granularity=64 * KiB)
    s.job("c", "comp0", "app", touches=(va, 4 * KiB))
    s.run_until_idle()
    return s.run().metrics["prefetched"]


def test_a_registered_range_is_cut_into_pieces_that_bound_what_a_fault_brings() -> None:
    # 16 MiB of VRAM: pieces of 2 MiB; the last granule of the first piece has nothing
    # after it in its range, one in the middle has two
    assert sequential_prefetch_at(0x4000_0000 + 1 * MiB) == 2
    assert sequential_prefetch_at(0x4000_0000 + 2 * MiB - 64 * KiB) == 0


def test_a_munmap_inside_one_granule_leaves_both_sides_mapped_and_intact() -> None:
    s = Scenario("hole in a granule")
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("w", "comp0", "app", touches=(0x4000_0000, 2 * MiB), write=True, value=3)
    s.run_until_idle()
    s.munmap("app", 0x4008_0000, 64 * KiB)
    s.job("r", "comp0", "app", touches=(0x4000_0000, 512 * KiB))
    s.job("r2", "comp0", "app", touches=(0x4009_0000, 1 * MiB), after=["r"])
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("reads", 0x4000_0000, 512 * KiB, "app", 3)
    s.expect("reads", 0x4009_0000, 1 * MiB, "app", 3)
    s.expect("in", 0x4009_0000, 1 * MiB, "app", "gpu0.vram")
    s.expect("metric", "faults", "==", 1)  # the two sides kept their mappings: no new fault
    r = s.run()
    assert r.passed, r.summary()


def test_access_adds_to_the_default_set_rather_than_replacing_it() -> None:
    """With retry faults on every GPU starts in ``access``; naming gpu0 leaves gpu1 there
    (``svm_range_apply_attrs``), so gpu1's fault migrates the data to itself instead of
    being refused as a GPU without access (a no-retry fault that kills)."""
    s = Scenario("access bits")
    s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False), ("sdma0", "sdma", False, False)])
    s.gpu("gpu1", vram=16 * MiB, engines=[("comp1", "compute", True, False), ("sdma1", "sdma", False, False)])
    s.process("app", ["gpu0", "gpu1"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system", access=["gpu0"])
    s.job("c", "comp1", "app", touches=(0x4000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    s.expect("in", 0x4000_0000, 4 * KiB, "app", "gpu1.vram")
    r = s.run()
    assert r.passed, r.summary()


def test_sixteen_gpus_and_more_have_vram_of_their_own_up_to_the_limit() -> None:
    """GPU 15's VRAM used to start where system memory does (an internal error for every
    scenario with 16 GPUs or more); it now sits above the system window (issue 15)."""
    from vmcore.engine.gpu.memory import MAX_GPUS

    def many(n: int) -> Scenario:
        s = Scenario(f"{n} GPUs")
        for i in range(n):
            s.gpu(f"g{i}", vram=16 * MiB, engines=[(f"c{i}", "compute", True, False), (f"s{i}", "sdma", False, False)])
        last = n - 1
        s.process("app", [f"g{last}"])
        s.svm("app", 0x4000_0000, 2 * MiB, "system")
        s.job("j", f"c{last}", "app", touches=(0x4000_0000, 4 * KiB), write=True, value=4)
        s.run_until_idle()
        s.expect("in", 0x4000_0000, 4 * KiB, "app", f"g{last}.vram")
        s.expect("reads", 0x4000_0000, 4 * KiB, "app", 4)
        return s

    for n in (16, 17, MAX_GPUS):
        r = many(n).run()
        assert r.passed, (n, r.summary())
    r = many(MAX_GPUS + 1).run()
    assert not r.passed and any(f"at most {MAX_GPUS} GPUs" in f for f in r.failures), r.failures


def test_range_at_follows_splits_and_munmaps_of_the_range_it_found_last() -> None:
    """range_at keeps the range it found last; a split that shrinks it, or a munmap that
    takes it out of the process, must not make it answer for addresses it lost."""
    proc = Process("app", 1, [])

    def add(start: int, size: int) -> SvmRange:
        r = SvmRange(proc, start, size, granularity=64 * KiB)
        for k, va in enumerate(range(start, start + size, 64 * KiB)):
            r.granules.append(Granule(r, k, va, 64 * KiB, Placement(Domain.SYSTEM, None)))
        proc.ranges.append(r)
        return r

    b = add(0x2000_0000, 1 * MiB)  # registered out of address order
    a = add(0x1000_0000, 1 * MiB)
    assert proc.range_at(0x1000_0000) is a
    assert proc.range_at(0x100F_FFFF) is a
    assert proc.range_at(0x1010_0000) is None  # just past a, which it found last
    assert proc.range_at(0x2008_0000) is b
    # split b at +512 KiB as split_range does: b shrinks, the tail follows it in the list
    tail = SvmRange(proc, 0x2008_0000, 512 * KiB, granularity=64 * KiB)
    tail.granules = [g for g in b.granules if g.va >= tail.start]
    b.granules = [g for g in b.granules if g.va < tail.start]
    b.size = 512 * KiB
    proc.ranges.insert(proc.ranges.index(b) + 1, tail)
    assert proc.range_at(0x2008_0000) is tail
    assert proc.range_at(0x2000_0000) is b
    # munmap the tail: out of the ranges, marked unmapped
    assert proc.range_at(0x200C_0000) is tail
    proc.ranges.remove(tail)
    tail.unmapped = True
    assert proc.range_at(0x200C_0000) is None
    assert proc.range_at(0x2007_0000) is b
    # a hole inside a range (a munmap of part of a granule list)
    b.granules.pop(1)
    assert proc.range_at(0x2001_0000) is None
    assert proc.range_at(0x2002_0000) is b
