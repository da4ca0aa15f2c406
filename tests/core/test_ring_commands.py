"""Decoded consumption, and a kernel job moved through an idle ring in one call."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmcore.core import Op, Ring, RingMode, packet_dw
from vmcore.core.ring import Command
from vmcore.errors import InvalidArgument, VmcoreError

LOCKED, LOCKLESS = RingMode.LOCKED, RingMode.LOCKLESS


def dwords(cmds: list[Command]) -> int:
    return sum(packet_dw(c[0]) for c in cmds) + packet_dw(Op.FENCE)


def step_by_step(r: Ring, mode: RingMode, writer: int, cmds: list[Command], fence_addr: int, seq: int) -> int:
    """What the scheduler thread and the SDMA engine do with one job: the reference."""
    if mode is LOCKED:
        r.lock(writer)
    r.reserve(writer, dwords(cmds))
    for code, a, b, c, d, count in cmds:
        if code is Op.PTEPDE:
            r.emit_ptepde(writer, a, b, c, d, count)
        else:
            r.emit_copy(writer, a, b, count)
    r.emit_fence(writer, fence_addr, seq)
    r.commit(writer)
    occ = r.pointers.occupancy
    if mode is LOCKED:
        r.unlock(writer)
    while r.consume() is not None:
        pass
    return occ


def test_consume_command_decodes_every_packet_type() -> None:
    r = Ring(256, LOCKLESS)
    r.reserve(1, packet_dw(Op.PTEPDE) + packet_dw(Op.COPY) + packet_dw(Op.FENCE) + packet_dw(Op.WRITE, 3))
    r.emit_ptepde(1, 0x1_0000_0008, 0x61, 0x2_0000_3000, 4096, 77)
    r.emit_copy(1, 0x5000_1000, 0x7000_2000, 8192)
    r.emit_fence(1, 0x1000, 9)
    r.emit_write(1, 0x40, [1, 2, 3])
    r.commit(1)
    assert r.consume_command() == (Op.PTEPDE, 0x1_0000_0008, 0x61, 0x2_0000_3000, 4096, 77)
    assert r.consume_command() == (Op.COPY, 0x5000_1000, 0x7000_2000, 0, 0, 8192)
    assert r.consume_command() == (Op.FENCE, 0x1000, 0, 0, 0, 9)
    assert r.consume_command() == (Op.WRITE, 0x40, 0, 0, 0, 3)
    assert r.consume_command() is None


COMMAND = st.one_of(
    st.tuples(
        st.just(Op.PTEPDE),
        st.integers(0, 1 << 40).map(lambda x: x * 8),
        st.integers(0, (1 << 64) - 1),
        st.integers(0, (1 << 48) - 1),
        st.sampled_from([0, 4096, 8]),
        st.integers(1, 512),
    ),
    st.tuples(
        st.just(Op.COPY),
        st.integers(0, 1 << 50),
        st.integers(0, 1 << 50),
        st.just(0),
        st.just(0),
        st.integers(1, (1 << 32) - 1),
    ),
)


@settings(max_examples=80, deadline=None)
@given(
    mode=st.sampled_from([LOCKED, LOCKLESS]),
    jobs=st.lists(st.lists(COMMAND, min_size=1, max_size=3), min_size=1, max_size=20),
    race=st.lists(st.integers(1, 3), min_size=2, max_size=3, unique=True),
    sizes=st.lists(st.integers(0, 6), min_size=3, max_size=3),
)
def test_a_skip_leaves_the_ring_as_the_steps_do_for_all_anyone_can_read(
    mode: RingMode, jobs: list[list[Command]], race: list[int], sizes: list[int]
) -> None:
    """The buffer differs, the pointers do not, and nothing the engine or the integrity
    check reads afterwards differs either: a lockless race damages both rings alike."""
    a, b = Ring(64, mode), Ring(64, mode)
    for seq, job in enumerate(jobs):
        got = a.skip(1, dwords(job))
        if got is None:  # too big for half the ring: the scheduler writes it in steps
            assert dwords(job) > 32
            continue
        assert got == step_by_step(b, mode, 1, job, 0x1000, seq)
        assert a.pointers == b.pointers
    if mode is LOCKLESS:
        for r in (a, b):  # writers reserve from the same wptr and overwrite each other
            for w, extra in zip(race, sizes, strict=False):
                r.reserve(w, 10 + extra)
            for w in race:
                r.emit_ptepde(w, 8 * w, w, w, 4096, w)
                r.commit(w)
        assert a.check() == b.check()
        assert a.check() is not None
        assert a.pointers == b.pointers
        got_a: list[object] = []
        got_b: list[object] = []
        for r, out in ((a, got_a), (b, got_b)):
            while True:
                try:
                    c = r.consume_command()
                except VmcoreError as e:
                    out.append(str(e))
                    break
                if c is None:
                    break
                out.append(c)
        assert got_a == got_b


def test_skip_refuses_a_busy_ring() -> None:
    locked = Ring(64, LOCKED)
    locked.lock(2)
    assert locked.skip(1, 10) is None  # the lock is held
    locked.unlock(2)
    assert locked.skip(1, 10) == 10 and locked.pointers.lock_owner == 0
    r = Ring(64, LOCKLESS)
    assert r.skip(1, 33) is None  # more than half the ring
    r.reserve(2, 4)
    assert r.skip(1, 10) is None  # a reservation is open
    r.commit(2)
    assert r.skip(1, 10) is None  # committed, not consumed
    while r.consume() is not None:
        pass
    assert r.skip(1, 10) == 10 and r.pointers.occupancy == 0
    with pytest.raises(InvalidArgument):
        r.skip(1, 0)
    with pytest.raises(InvalidArgument):
        r.skip(0, 4)
