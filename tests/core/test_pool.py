"""Buddy-allocated memory pools in the C core (pool.c through vmcore.core.Pool).

Unit tests pin down rounding, splitting, merging, the statistics, pinning and the error
for each kind of bad input; a stateful hypothesis test then drives the C core and the
pure-Python model in ``ref_pool`` side by side and compares every observable.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from tests.core.ref_pool import MAX_ORDER, RefPool
from vmcore.core import BlockInfo, Pool, PoolStats
from vmcore.core.pool import MAX_BLOCKS, MIN_BLOCK
from vmcore.errors import (
    BadHandle,
    BusyError,
    CoreError,
    InvalidArgument,
    LimitExceeded,
    Misaligned,
    NoSpace,
    OutOfRange,
    StateError,
    VmcoreError,
)

K = MIN_BLOCK  # 4 KiB
LIMIT = MAX_BLOCKS * MIN_BLOCK  # 256 GiB
GARBAGE = (0x7FFF_FFFF << 32) | 1  # a generation no block here reaches


def shown(name: str, value: int) -> str:
    """How an error message shows ``name=value`` (hex for all but tiny integers)."""
    if abs(value) > 9:
        return f"{name}={value:#x}" if value >= 0 else f"{name}=-{-value:#x}"
    return f"{name}={value}"


def raises(cls: type[CoreError], fn: Callable[[], object], *names: str) -> None:
    """Call ``fn``; it must raise exactly ``cls`` with a message containing each of ``names``."""
    with pytest.raises(VmcoreError) as info:
        fn()
    err = info.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert isinstance(err, CoreError) and err.status != 0
    for name in names:
        assert name in str(err), f"{name!r} not in {str(err)!r}"


@contextmanager
def no_unraisable() -> Iterator[None]:
    """Fail if anything inside (or the garbage it leaves) raises in a finalizer."""
    seen: list[object] = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert not seen, [getattr(u, "exc_value", u) for u in seen]


def stats(size: int, free: int, largest: int, pinned: int = 0) -> PoolStats:
    """Expected statistics, with the fragmentation figure computed as the core does
    (parts per million, rounded down inside the 1 - largest/free)."""
    ppm = 1_000_000 - largest * 1_000_000 // free if free else 0
    return PoolStats(size, free, largest, pinned, ppm / 1e6)


@pytest.fixture
def pool() -> Iterator[Pool]:
    with Pool(16 * K) as p:
        yield p


# ---- allocation, splitting, merging ----------------------------------------------------


def test_new_pool_is_one_free_block(pool: Pool) -> None:
    assert pool.stats == PoolStats(16 * K, 16 * K, 16 * K, 0, 0.0)
    assert pool.name == "vram"
    assert Pool(K, name="gtt").name == "gtt"


@pytest.mark.parametrize(
    ("size", "block"),
    [(1, K), (K - 1, K), (K, K), (K + 1, 2 * K), (3 * K, 4 * K), (5 * K, 8 * K), (16 * K, 16 * K)],
)
def test_sizes_round_up_to_a_power_of_two_pages(pool: Pool, size: int, block: int) -> None:
    h = pool.alloc(size)
    assert pool.block(h) == BlockInfo(0, block, False)
    assert pool.stats.free == 16 * K - block


def test_split_keeps_the_low_half_and_frees_the_upper_halves(pool: Pool) -> None:
    a = pool.alloc(K)
    assert pool.block(a).offset == 0
    # 16 pages split into 8 + 4 + 2 + 1 free upper halves
    assert pool.stats == stats(16 * K, 15 * K, 8 * K)
    # the smallest free block that fits is used, not a piece of a larger one
    assert pool.block(pool.alloc(K)).offset == 1 * K
    assert pool.block(pool.alloc(2 * K)).offset == 2 * K
    assert pool.block(pool.alloc(K)).offset == 4 * K  # splits the 4-page block at 4
    assert pool.block(pool.alloc(8 * K)).offset == 8 * K
    assert pool.stats == stats(16 * K, 3 * K, 2 * K)


def test_free_merges_with_free_buddies_only() -> None:
    with Pool(4 * K) as p:
        h = [p.alloc(K) for _ in range(4)]
        assert [p.block(x).offset for x in h] == [0, K, 2 * K, 3 * K]
        assert p.stats == stats(4 * K, 0, 0)
        p.free(h[1])
        p.free(h[2])  # pages 1 and 2 are adjacent but not buddies
        assert p.stats == stats(4 * K, 2 * K, K)
        assert p.stats.fragmentation == 0.5
        p.free(h[0])  # merges with 1; 0-1 cannot merge with 2-3 while 3 is used
        assert p.stats == stats(4 * K, 3 * K, 2 * K)
        p.free(h[3])  # 3 merges with 2, then 2-3 with 0-1
        assert p.stats == stats(4 * K, 4 * K, 4 * K)
        assert p.block(p.alloc(4 * K)).offset == 0


def test_non_power_of_two_pool() -> None:
    with Pool(37 * K) as p:  # carved into 32 + 4 + 1 pages
        assert p.stats == stats(37 * K, 37 * K, 32 * K)
        assert p.stats.fragmentation == pytest.approx(1 - 32 / 37, abs=1e-6)
        one = p.alloc(K)
        four = p.alloc(3 * K)
        big = p.alloc(32 * K)
        assert [p.block(h).offset for h in (one, four, big)] == [36 * K, 32 * K, 0]
        raises(NoSpace, lambda: p.alloc(1), "size=1")
        # no merging across the carve: 36 has no buddy inside the pool
        p.free(one)
        p.free(four)
        assert p.stats == stats(37 * K, 5 * K, 4 * K)
        # all 37 pages are free, but a 37-page request rounds up to 64
        p.free(big)
        raises(NoSpace, lambda: p.alloc(37 * K), shown("size", 37 * K), "largest free 0x20000")
        assert p.block(p.alloc(32 * K)).offset == 0


def test_largest_free_and_fragmentation(pool: Pool) -> None:
    h = [pool.alloc(K) for _ in range(16)]
    for x in h[::2]:  # every other page: 8 free pages, none adjacent to a free buddy
        pool.free(x)
    assert pool.stats == stats(16 * K, 8 * K, K)
    assert pool.stats.fragmentation == pytest.approx(7 / 8)
    pool.free(h[1])  # now pages 0-1 merge
    assert pool.stats == stats(16 * K, 9 * K, 2 * K)
    assert pool.stats.fragmentation == pytest.approx(1 - 2 / 9, abs=1e-6)


def test_full_pool_reports_zero_fragmentation(pool: Pool) -> None:
    pool.alloc(16 * K)
    assert pool.stats == PoolStats(16 * K, 0, 0, 0, 0.0)
    raises(NoSpace, lambda: pool.alloc(K), "largest free 0x0")


def test_pool_at_the_size_limit() -> None:
    with Pool(LIMIT) as p:
        assert p.stats == PoolStats(LIMIT, LIMIT, LIMIT, 0, 0.0)
        h = p.alloc(LIMIT)
        assert p.block(h) == BlockInfo(0, LIMIT, False)
        p.free(h)
        h = p.alloc(K)
        assert p.stats.largest_free == LIMIT // 2
        p.free(h)
        assert p.stats.largest_free == LIMIT  # merged all the way up


# ---- pinning ------------------------------------------------------------------------------


def test_pin_and_unpin(pool: Pool) -> None:
    a = pool.alloc(2 * K)
    b = pool.alloc(K)
    pool.pin(a)
    assert pool.block(a) == BlockInfo(0, 2 * K, True)
    assert pool.block(b).pinned is False
    assert pool.stats.pinned == 2 * K
    raises(StateError, lambda: pool.pin(a), "already pinned", shown("block", a))
    raises(BusyError, lambda: pool.free(a), "pinned", shown("block", a))
    assert pool.block(a) == BlockInfo(0, 2 * K, True)  # still there, still pinned
    assert pool.stats == stats(16 * K, 13 * K, 8 * K, pinned=2 * K)
    pool.unpin(a)
    raises(StateError, lambda: pool.unpin(a), "not pinned", shown("block", a))
    assert pool.stats.pinned == 0
    pool.free(a)
    pool.free(b)
    assert pool.stats == stats(16 * K, 16 * K, 16 * K)


def test_a_reallocated_block_starts_unpinned(pool: Pool) -> None:
    a = pool.alloc(K)
    pool.pin(a)
    pool.unpin(a)
    pool.free(a)
    b = pool.alloc(K)
    assert pool.block(b) == BlockInfo(0, K, False)


# ---- handles -------------------------------------------------------------------------------


def test_double_free(pool: Pool) -> None:
    a = pool.alloc(K)
    pool.free(a)
    raises(BadHandle, lambda: pool.free(a), "already freed", shown("block", a))
    assert pool.stats == stats(16 * K, 16 * K, 16 * K)


def test_freed_handle_is_dead_everywhere(pool: Pool) -> None:
    a = pool.alloc(K)
    keep = pool.alloc(4 * K)
    pool.free(a)
    b = pool.alloc(K)  # same offset as a
    assert pool.block(b).offset == 0
    assert b != a
    calls: list[Callable[[int], object]] = [pool.free, pool.pin, pool.unpin, pool.block]
    for call in calls:
        raises(BadHandle, partial(call, a), shown("block", a))
    assert pool.block(b) == BlockInfo(0, K, False)
    assert pool.block(keep) == BlockInfo(4 * K, 4 * K, False)


def test_handle_of_a_block_interior_is_rejected(pool: Pool) -> None:
    a = pool.alloc(4 * K)
    inner = a + 1  # same generation, the next page: inside a, not a block of its own
    raises(BadHandle, lambda: pool.block(inner))
    raises(BadHandle, lambda: pool.free(inner))
    assert pool.block(a) == BlockInfo(0, 4 * K, False)


def test_closed_pool_refuses_calls() -> None:
    p = Pool(4 * K)
    h = p.alloc(K)
    p.close()
    p.close()
    for call in (
        lambda: p.alloc(K),
        lambda: p.free(h),
        lambda: p.pin(h),
        lambda: p.block(h),
        lambda: p.stats,
    ):
        raises(StateError, call, "closed")


# ---- bad input: one test each, with the pool (and its neighbour) intact afterwards ---------

BAD: list[tuple[str, Callable[[Pool, int, int], object], type[CoreError], tuple[str, ...]]] = [
    ("alloc-zero", lambda p, h, f: p.alloc(0), InvalidArgument, ("size=0", "at least 1 byte")),
    ("alloc-negative", lambda p, h, f: p.alloc(-K), OutOfRange, ("size=-0x1000",)),
    ("alloc-past-64-bits", lambda p, h, f: p.alloc(1 << 64), OutOfRange, (shown("size", 1 << 64),)),
    ("alloc-pool-plus-one", lambda p, h, f: p.alloc(16 * K + 1), NoSpace, (shown("size", 16 * K + 1),)),
    ("alloc-huge", lambda p, h, f: p.alloc((1 << 64) - 1), NoSpace, (shown("size", (1 << 64) - 1),)),
    ("alloc-no-room", lambda p, h, f: p.alloc(8 * K + 1), NoSpace, ("largest free 0x8000",)),
    ("alloc-str", lambda p, h, f: p.alloc("4096"), InvalidArgument, ("size must be an integer",)),  # type: ignore[arg-type]
    ("free-zero", lambda p, h, f: p.free(0), BadHandle, ("block=0",)),
    ("free-garbage", lambda p, h, f: p.free(GARBAGE), BadHandle, (shown("block", GARBAGE),)),
    ("free-index-past-end", lambda p, h, f: p.free(1000), BadHandle, ("block=0x3e8",)),
    ("free-negative", lambda p, h, f: p.free(-1), OutOfRange, ("block=-1",)),
    ("free-past-64-bits", lambda p, h, f: p.free(1 << 64), OutOfRange, (shown("block", 1 << 64),)),
    ("free-freed", lambda p, h, f: p.free(f), BadHandle, ("already freed",)),
    ("free-pinned", lambda p, h, f: p.free(h), BusyError, ("pinned",)),
    ("pin-pinned", lambda p, h, f: p.pin(h), StateError, ("already pinned",)),
    ("pin-freed", lambda p, h, f: p.pin(f), BadHandle, ()),
    ("unpin-freed", lambda p, h, f: p.unpin(f), BadHandle, ()),
    ("block-freed", lambda p, h, f: p.block(f), BadHandle, ()),
    ("block-garbage", lambda p, h, f: p.block(GARBAGE), BadHandle, (shown("block", GARBAGE),)),
]


@pytest.mark.parametrize(("call", "cls", "names"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(
    call: Callable[[Pool, int, int], object], cls: type[CoreError], names: tuple[str, ...]
) -> None:
    with Pool(16 * K) as p, Pool(16 * K) as other:
        pinned = p.alloc(4 * K)
        p.pin(pinned)
        loose = p.alloc(K)
        freed = p.alloc(2 * K)
        p.free(freed)
        other_block = other.alloc(2 * K)

        def snapshot() -> object:
            return (p.stats, p.block(pinned), p.block(loose), other.stats, other.block(other_block))

        before = snapshot()
        raises(cls, lambda: call(p, pinned, freed), *names)
        assert snapshot() == before
        # and the pool still works
        h = p.alloc(2 * K)
        assert p.block(h) == BlockInfo(6 * K, 2 * K, False)
        p.free(h)
        p.free(loose)
        p.unpin(pinned)
        p.free(pinned)
        assert p.stats == stats(16 * K, 16 * K, 16 * K)


@pytest.mark.parametrize(
    ("size", "cls", "name"),
    [
        (0, Misaligned, "size=0"),
        (K - 1, Misaligned, shown("size", K - 1)),
        (K + 1, Misaligned, shown("size", K + 1)),
        (-K, OutOfRange, "size=-0x1000"),
        (LIMIT + K, LimitExceeded, shown("size", LIMIT + K)),
        (1 << 63, LimitExceeded, shown("size", 1 << 63)),
        (1 << 64, OutOfRange, shown("size", 1 << 64)),
    ],
)
def test_bad_pool_size(size: int, cls: type[CoreError], name: str) -> None:
    with Pool(4 * K) as other, no_unraisable():
        h = other.alloc(K)
        raises(cls, lambda: Pool(size), name)  # and the half-built object dies quietly
        assert other.block(h) == BlockInfo(0, K, False)
        assert other.stats == stats(4 * K, 3 * K, 2 * K)


# ---- the reference model on its own ----------------------------------------------------------


def test_reference_agrees_on_a_scripted_session() -> None:
    real, ref = Pool(37 * K), RefPool(37 * K)
    hs: list[tuple[int, int]] = []
    for size in (K, 3 * K, 5 * K, 1, 2 * K, 7 * K):
        hs.append((real.alloc(size), ref.alloc(size)))
    real.pin(hs[2][0])
    ref.pin(hs[2][1])
    for a, b in [hs[i] for i in (1, 3, 4, 5)]:  # all but the first and the pinned one
        real.free(a)
        ref.free(b)
    assert real.stats == ref.stats
    assert [real.block(a) for a, _ in hs[:1] + hs[2:3]] == [ref.block(b) for _, b in hs[:1] + hs[2:3]]
    assert MAX_ORDER == 26 and 1 << MAX_ORDER == MAX_BLOCKS


# ---- stateful: the C core against the model ----------------------------------------------

T = TypeVar("T")
U = TypeVar("U")


def mostly(good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``good`` about six times in seven.  (``one_of`` would not do: it treats repeated
    alternatives as one.)"""
    return st.integers(0, 6).flatmap(lambda i: bad if i == 6 else good)


POOL_PAGES = [1, 3, 6, 16, 37, 64, 100]
size_s = mostly(
    st.one_of(st.integers(1, 8).map(lambda n: n * K), st.integers(1, 32 * K)),  # pages, or any bytes
    st.sampled_from([0, -1, -K, 1 << 64, (1 << 64) - 1, 40 * K + 1, 200 * K]),  # bad or too big
)
bad_blocks = st.sampled_from([0, GARBAGE, 1000, -1, 1 << 64]).map(lambda h: (h, h))
ops = ["free", "pin", "unpin", "block"]


@settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
class PoolMachine(RuleBasedStateMachine):
    """Pool and RefPool take the same calls; stats and every block must agree."""

    blocks: Bundle[tuple[int, int]] = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.real = Pool(K)
        self.ref = RefPool(K)
        self.live: dict[int, int] = {}  # C handle -> model handle, for blocks not freed

    @initialize(pages=st.sampled_from(POOL_PAGES))
    def start(self, pages: int) -> None:
        self.real.close()
        self.real = Pool(pages * K)
        self.ref = RefPool(pages * K)

    def teardown(self) -> None:
        self.real.close()

    def both(self, real: Callable[[], T], ref: Callable[[], U]) -> tuple[bool, T | None, U | None]:
        """Run both calls: either both fail with the same error class, or both succeed."""
        try:
            a: T | None = real()
        except VmcoreError as e:
            ea: VmcoreError | None = e
            a = None
        else:
            ea = None
        try:
            b: U | None = ref()
        except VmcoreError as e:
            eb: VmcoreError | None = e
            b = None
        else:
            eb = None
        assert type(ea) is type(eb), f"C core: {ea!r}, model: {eb!r}"
        if isinstance(ea, CoreError) and isinstance(eb, CoreError):
            assert ea.status == eb.status
        return ea is None, a, b

    @rule(target=blocks, size=size_s)
    def alloc(self, size: int) -> MultipleResults[tuple[int, int]] | tuple[int, int]:
        ok, a, b = self.both(lambda: self.real.alloc(size), lambda: self.ref.alloc(size))
        if not ok or a is None or b is None:
            return multiple()
        assert a not in self.live, "a live handle was handed out again"
        self.live[a] = b
        return (a, b)

    def call(self, op: str, h: tuple[int, int]) -> None:
        """``op`` on both; handles from the bundle may be live, pinned or freed."""
        ok, a, b = self.both(lambda: getattr(self.real, op)(h[0]), lambda: getattr(self.ref, op)(h[1]))
        assert a == b
        if ok and op == "free":
            del self.live[h[0]]

    @rule(h=blocks, op=st.sampled_from(ops), bad=mostly(st.none(), bad_blocks))
    def use(self, h: tuple[int, int], op: str, bad: tuple[int, int] | None) -> None:
        """``op`` on a handle from the bundle or, now and then, on a bad one."""
        self.call(op, bad or h)

    @rule(data=st.data(), unpin_first=st.booleans())
    def free_live(self, data: st.DataObject, unpin_first: bool) -> None:
        """Free a block that is still allocated (bundle draws are often freed ones)."""
        if self.live:
            # ordered by the model's handles: the C handles carry a per-pool tag that
            # differs from run to run, and hypothesis replays draws by position
            h = data.draw(st.sampled_from(sorted(self.live.items(), key=lambda kv: kv[1])))
            if unpin_first and self.real.block(h[0]).pinned:
                self.call("unpin", h)
            self.call("free", h)

    @invariant()
    def same_stats(self) -> None:
        assert self.real.stats == self.ref.stats

    @invariant()
    def same_blocks_tiling_the_pool(self) -> None:
        infos = [self.real.block(a) for a in self.live]
        assert infos == [self.ref.block(b) for b in self.live.values()]
        s = self.real.stats
        spans = sorted((i.offset, i.offset + i.size) for i in infos)
        # used blocks are aligned to their size, lie inside the pool and do not overlap
        assert all(lo % (hi - lo) == 0 and hi <= s.size for lo, hi in spans)
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
        assert s.free == s.size - sum(i.size for i in infos)
        assert s.pinned == sum(i.size for i in infos if i.pinned)
        assert s.largest_free <= s.free


test_pool_matches_reference = PoolMachine.TestCase


def test_a_block_of_another_pool_is_refused_not_freed() -> None:
    with Pool(1 << 20) as a, Pool(1 << 20) as b:
        ha, hb = a.alloc(4096), b.alloc(4096)
        assert ha & 0xFFFF_FFFF == hb & 0xFFFF_FFFF  # the same first page in both pools
        with pytest.raises(BadHandle):
            b.free(ha)
        assert b.block(hb).size == 4096  # b's own block is still allocated
