"""Pool.alloc_bo: a BO's buddy blocks in one core call, as the engine once took them one by one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmcore.core import Pool
from vmcore.errors import InvalidArgument

PAGE = 4096


def reference(pool: Pool, size: int, contiguous: bool) -> list[tuple[int, int, int]] | None:
    """The algorithm as the engine wrote it in Python, one core call per block."""
    size = (size + PAGE - 1) // PAGE * PAGE
    stats = pool.stats
    if contiguous:
        want = 1 << (size - 1).bit_length() if size > PAGE else PAGE
        if want > stats.largest_free:
            return None
        h = pool.alloc(want)
        return [(h, pool.block(h).offset, size)]
    if size > stats.free:
        return None
    out = []
    remaining = size
    while remaining:
        chunk = min(1 << (remaining.bit_length() - 1), pool.stats.largest_free)
        h = pool.alloc(chunk)
        info = pool.block(h)
        out.append((h, info.offset, info.size))
        remaining -= info.size
    return out


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 300 * PAGE), st.booleans()),
        st.tuples(st.just("free"), st.integers(0, 1000), st.just(False)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_alloc_bo_takes_the_blocks_the_python_loop_took(ops: list[tuple[str, int, bool]]) -> None:
    a, b = Pool(1 << 20), Pool(1 << 20)  # 256 pages: small enough to fragment and fill up
    live: list[tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]] = []
    for kind, arg, contiguous in ops:
        if kind == "alloc":
            got, want = a.alloc_bo(arg, contiguous), reference(b, arg, contiguous)
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert [(o, n) for _, o, n in got] == [(o, n) for _, o, n in want]
                live.append((got, want))
        elif live:
            got, want = live.pop(arg % len(live))
            for h, _, _ in got:
                a.free(h)
            for h, _, _ in want:
                b.free(h)
        assert a.stats == b.stats


def test_alloc_bo_of_many_blocks_asks_the_core_again_for_the_rest() -> None:
    p = Pool(512 * PAGE)
    singles = [p.alloc(PAGE) for _ in range(512)]
    for h in singles[::2]:
        p.free(h)  # 256 free pages, none of them adjacent
    got = p.alloc_bo(200 * PAGE, contiguous=False)
    assert got is not None and len(got) == 200 and all(n == PAGE for _, _, n in got)
    assert p.alloc_bo(57 * PAGE, contiguous=False) is None  # 56 left: nothing taken
    assert p.stats.free == 56 * PAGE
    assert p.alloc_bo(2 * PAGE, contiguous=True) is None


def test_alloc_bo_refuses_a_zero_size() -> None:
    with pytest.raises(InvalidArgument, match="at least 1 byte"):
        Pool(1 << 20).alloc_bo(0, False)
