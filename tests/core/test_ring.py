"""The SDMA ring (ring.c through vmcore.core.Ring), against tests.core.ref_ring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.core.ref_ring import RefRing, header, packet, ref_packet_dw
from vmcore.core import Corruption, Damage, Op, Packet, Ring, RingMode, RingPointers, packet_dw
from vmcore.errors import (
    InvalidArgument,
    LockError,
    Misaligned,
    NoSpace,
    OutOfRange,
    RingCorrupt,
    StateError,
    VmcoreError,
)

T = TypeVar("T")
LOCKED, LOCKLESS = RingMode.LOCKED, RingMode.LOCKLESS
FENCE_PKT = [0x0003_3E05, 0x1000, 0, 7]  # FENCE addr=0x1000 seq=7, header worked out by hand


def drain(r: Ring) -> list[Packet]:
    out = []
    while (p := r.consume()) is not None:
        out.append(p)
    return out


def nops(start: int, n: int) -> list[Packet]:
    """The one-dword NOP packets commit pads with."""
    return [Packet(start + i, Op.NOP, ()) for i in range(n)]


# ---------------------------------------------------------------------------------------
# behaviour


def test_create_and_pointers() -> None:
    r = Ring(16, LOCKLESS)
    assert r.pointers == RingPointers(0, 0, 16, 0)
    assert r.pointers.occupancy == 0
    assert r.consume() is None
    assert r.check() is None
    d = Ring()
    assert d.pointers.size_dw == 4096
    with pytest.raises(LockError):
        d.reserve(1, 4)  # the default mode is LOCKED


@pytest.mark.parametrize(
    ("op", "count", "size"),
    [
        (Op.NOP, 0, 1),
        (Op.NOP, 7, 8),
        (Op.NOP, 65535, 65536),
        (Op.COPY, 0, 6),
        (Op.FENCE, 0, 4),
        (Op.PTEPDE, 0, 10),
        (Op.WRITE, 1, 5),
        (Op.WRITE, 2, 6),
        (Op.WRITE, 65532, 65536),
    ],
)
def test_packet_dw(op: Op, count: int, size: int) -> None:
    assert packet_dw(op, count) == size == ref_packet_dw(op, count)


@pytest.mark.parametrize(
    ("op", "count", "cls", "text"),
    [
        (Op.WRITE, 0, OutOfRange, "count=0"),
        (Op.WRITE, 65533, OutOfRange, "count=0xfffd"),
        (Op.NOP, 65536, OutOfRange, "count=0x10000"),
        (3, 0, InvalidArgument, "op=3"),
        (Op.NOP, -1, OutOfRange, "count=-1"),
        (2**40, 0, OutOfRange, "op=1099511627776"),
    ],
)
def test_bad_packet_dw(op: Any, count: int, cls: type[VmcoreError], text: str) -> None:
    with pytest.raises(cls, match=text):
        packet_dw(op, count)
    with pytest.raises(cls):
        ref_packet_dw(op, count)


def test_raw_reserve_write_commit_consume() -> None:
    r = Ring(16, LOCKED)
    r.lock(1)
    r.reserve(1, 4)
    assert r.pointers.wptr == 0  # nothing published before commit
    r.write(1, FENCE_PKT[:2])
    r.write(1, FENCE_PKT[2:])
    r.write(1, [])  # an empty write is allowed
    assert r.consume() is None
    r.commit(1)
    r.unlock(1)
    assert r.pointers == RingPointers(0, 4, 16, 0)
    assert r.check() is None
    assert r.consume() == Packet(0, Op.FENCE, (0x1000, 0, 7))
    assert r.pointers == RingPointers(4, 4, 16, 0)
    assert r.consume() is None


def test_header_encoding_matches_reference() -> None:
    assert packet(Op.FENCE, [0x1000, 0, 7]) == FENCE_PKT
    assert header(Op.NOP, []) == 0
    assert header(Op.NOP, [0]) == 0x0001_A900


def test_every_packet_type_round_trips() -> None:
    r = Ring(64, LOCKLESS)
    r.reserve(5, 45)
    r.emit_nop(5)
    r.emit_nop(5, 3)
    r.emit_write(5, 0x1_2345_6780, [1, 0xFFFF_FFFF])
    r.emit_copy(5, 0xAAAA_BBBB_CCCC, 0x1_0000_0004, 4096)
    r.emit_fence(5, 0xFFFF_0000_0000_1000, 0xFFFF_FFFF)
    r.emit_ptepde(5, 0x8000_0000_0008, 0x73, 0x2_0000_1000, 0x1000, 512)
    r.commit(5)
    assert drain(r) == [
        Packet(0, Op.NOP, ()),
        Packet(1, Op.NOP, (0, 0, 0)),
        Packet(5, Op.WRITE, (0x2345_6780, 1, 2, 1, 0xFFFF_FFFF)),
        Packet(11, Op.COPY, (4096, 0xBBBB_CCCC, 0xAAAA, 4, 1)),
        Packet(17, Op.FENCE, (0x1000, 0xFFFF_0000, 0xFFFF_FFFF)),
        Packet(21, Op.PTEPDE, (0x8, 0x8000, 0x73, 0, 0x1000, 2, 0x1000, 0, 512)),
        *nops(31, 14),
    ]
    assert r.pointers == RingPointers(45, 45, 64, 0)


def test_packet_sizes_match_what_emit_writes() -> None:
    emits: list[tuple[int, Callable[[Ring], None]]] = [
        (packet_dw(Op.NOP, 2), lambda r: r.emit_nop(1, 2)),
        (packet_dw(Op.WRITE, 3), lambda r: r.emit_write(1, 0, [1, 2, 3])),
        (packet_dw(Op.COPY), lambda r: r.emit_copy(1, 0, 0, 1)),
        (packet_dw(Op.FENCE), lambda r: r.emit_fence(1, 0, 1)),
        (packet_dw(Op.PTEPDE), lambda r: r.emit_ptepde(1, 0, 0, 0, 0, 1)),
    ]
    for size, emit in emits:
        r = Ring(16, LOCKLESS)
        r.reserve(1, size)
        emit(r)
        with pytest.raises(OutOfRange):
            r.write(1, [0])  # exactly full
        r.commit(1)
        assert len(drain(r)) == 1


def test_commit_pads_with_nops() -> None:
    r = Ring(16, LOCKED)
    r.lock(2)
    r.reserve(2, 10)
    r.emit_fence(2, 0x1000, 7)
    r.commit(2)
    assert r.pointers.wptr == 10
    assert drain(r) == [Packet(0, Op.FENCE, (0x1000, 0, 7)), *nops(4, 6)]
    r.reserve(2, 3)
    r.commit(2)  # nothing written: all padding
    assert drain(r) == nops(10, 3)


def test_wrap_around_past_the_end() -> None:
    r = Ring(16, LOCKLESS)
    r.reserve(1, 12)
    for seq in range(3):
        r.emit_fence(1, 0x100, seq)
    r.commit(1)
    assert [p.body[2] for p in drain(r)] == [0, 1, 2]
    # 12 dwords used: the next 10-dword packet runs over the end of the buffer.
    r.reserve(1, 10)
    r.emit_write(1, 0x2000, [10, 11, 12, 13, 14, 15])
    r.commit(1)
    assert r.check() is None
    assert r.consume() == Packet(12, Op.WRITE, (0x2000, 0, 6, 10, 11, 12, 13, 14, 15))
    assert r.pointers == RingPointers(22, 22, 16, 0)
    # And again, many times round.
    for seq in range(40):
        r.reserve(1, 7)
        r.emit_fence(1, 0x100, seq)
        r.commit(1)
        assert drain(r) == [Packet(22 + 7 * seq, Op.FENCE, (0x100, 0, seq)), *nops(26 + 7 * seq, 3)]


def test_fill_to_capacity_then_consume_frees_space() -> None:
    r = Ring(16, LOCKLESS)
    r.reserve(1, 16)
    r.commit(1)
    assert r.pointers.occupancy == 16
    with pytest.raises(NoSpace, match="ring overflow: 1 dwords asked, 0 free of 16"):
        r.reserve(2, 1)
    r.consume()
    r.reserve(2, 1)
    r.commit(2)
    assert r.pointers == RingPointers(1, 17, 16, 0)


def test_locked_mode_lock_semantics() -> None:
    r = Ring(32, LOCKED)
    r.lock(1)
    assert r.pointers.lock_owner == 1
    with pytest.raises(LockError, match="held by owner 1"):
        r.lock(2)
    with pytest.raises(StateError, match="already holds the lock"):
        r.lock(1)
    with pytest.raises(LockError, match="writer=2"):
        r.reserve(2, 4)
    r.reserve(1, 4)
    with pytest.raises(StateError, match="commit the open reservation"):
        r.unlock(1)
    with pytest.raises(LockError):
        r.unlock(2)
    r.emit_fence(1, 0, 1)
    r.commit(1)
    r.unlock(1)
    assert r.pointers.lock_owner == 0
    r.lock(2)  # free again
    r.reserve(2, 4)
    r.emit_fence(2, 0, 2)
    r.commit(2)
    r.unlock(2)
    assert [p.body[2] for p in drain(r)] == [1, 2]


def test_lockless_mode_needs_no_lock_but_the_lock_still_excludes() -> None:
    r = Ring(32, LOCKLESS)
    r.reserve(1, 4)
    r.emit_fence(1, 0, 1)
    r.commit(1)
    r.lock(3)
    with pytest.raises(LockError):
        r.lock(4)
    r.reserve(4, 4)  # LOCKLESS: reserve does not look at the lock
    r.emit_fence(4, 0, 2)
    r.commit(4)
    r.unlock(3)
    assert r.check() is None
    assert [p.body[2] for p in drain(r)] == [1, 2]


def test_reservations_in_turn_do_not_overlap_in_lockless_mode() -> None:
    r = Ring(32, LOCKLESS)
    for w in (1, 2, 3):
        r.reserve(w, 5)
        r.emit_fence(w, 0, w)
        r.commit(w)
    assert r.check() is None
    assert [p.body[2] for p in drain(r) if p.opcode is Op.FENCE] == [1, 2, 3]


# -- the race the 2019 thread was about ---------------------------------------------------

RACE: list[tuple[str, int, Callable[[Ring], None]]] = [
    ("reserve", 1, lambda r: r.reserve(1, 8)),
    ("reserve", 2, lambda r: r.reserve(2, 2)),
    ("emit", 1, lambda r: r.emit_write(1, 0x1000, [1, 2, 3, 4])),
    ("emit", 2, lambda r: r.emit_nop(2, 1)),
    ("commit", 1, lambda r: r.commit(1)),
    ("commit", 2, lambda r: r.commit(2)),
]


def test_lockless_race_corrupts_the_ring() -> None:
    r = Ring(32, LOCKLESS)
    for _, _, step in RACE:
        step(r)
    # Both reservations started at wptr 0: writer 2's NOP (2 dwords) landed on writer 1's
    # WRITE header, so the dword at 3 (the WRITE's count, 4) is read as a header.
    assert r.pointers == RingPointers(0, 8, 32, 0)
    assert r.check() == Corruption(3, 4, 0, Damage.OPCODE)
    assert r.consume() == Packet(0, Op.NOP, (0,))
    assert r.consume() == Packet(2, Op.NOP, ())  # the WRITE's dst hi, 0, is a NOP header
    with pytest.raises(RingCorrupt, match="corrupt packet at dword 3: opcode"):
        r.consume()
    with pytest.raises(RingCorrupt):
        r.consume()  # the engine does not step over a corrupt packet
    assert r.pointers.rptr == 3


def test_same_steps_in_locked_mode_are_refused() -> None:
    r = Ring(32, LOCKED)
    r.lock(1)  # writer 1 takes the ring lock, as LOCKED mode requires
    with pytest.raises(LockError, match="held by owner 1"):
        r.lock(2)
    for what, writer, step in RACE:
        if writer == 2:
            with pytest.raises(LockError, match=r"writer=2.*needs the lock"):
                step(r)
        else:
            step(r)
        assert what  # every step ran one way or the other
    r.unlock(1)
    assert r.check() is None
    assert drain(r) == [Packet(0, Op.WRITE, (0x1000, 0, 4, 1, 2, 3, 4))]
    # Writer 2 goes after writer 1 releases the lock, and nothing is lost.
    r.lock(2)
    for what, writer, step in RACE:
        if writer == 2:
            step(r)
        assert what
    r.unlock(2)
    assert r.check() is None
    assert drain(r) == [Packet(8, Op.NOP, (0,))]


def test_lockless_race_partial_writes_break_the_checksum() -> None:
    r = Ring(32, LOCKLESS)
    pkt = packet(Op.WRITE, [0x1000, 0, 4, 1, 2, 3, 4])
    r.reserve(1, 8)
    r.reserve(2, 4)
    r.write(1, pkt[:2])  # writer 1 writes its header and one dword...
    r.emit_fence(2, 0x2000, 9)  # ...writer 2 writes its whole fence over them...
    r.write(1, pkt[2:])  # ...and writer 1 finishes over the fence's body
    r.commit(2)
    r.commit(1)
    bad = r.check()
    assert bad == Corruption(0, Op.FENCE, 3, Damage.CHECKSUM)
    with pytest.raises(RingCorrupt, match="checksum"):
        r.consume()


def test_lockless_race_fully_overwritten_is_lost() -> None:
    r = Ring(32, LOCKLESS)
    r.reserve(1, 4)
    r.reserve(2, 4)
    r.emit_fence(1, 0x1000, 1)
    r.emit_fence(2, 0x1000, 2)  # the same 4 dwords: every packet parses
    r.commit(1)
    r.commit(2)
    assert r.check() == Corruption(4, 0, 4, Damage.LOST)
    assert str(r.check()) == "4 committed dwords lost before wptr 4 (overlapping reservations)"
    assert drain(r) == [Packet(0, Op.FENCE, (0x1000, 0, 2))]  # writer 1's fence is gone
    assert r.check() == Corruption(4, 0, 4, Damage.LOST)  # the loss stays on record


def test_stale_lockless_reservation_commits_behind_wptr() -> None:
    r = Ring(16, LOCKLESS)
    r.reserve(1, 4)  # at 0
    r.reserve(2, 8)  # at 0 as well
    r.emit_fence(2, 0x1000, 2)
    r.commit(2)
    assert drain(r) == [Packet(0, Op.FENCE, (0x1000, 0, 2)), *nops(4, 4)]
    r.emit_fence(1, 0x1000, 1)  # into dwords already consumed
    r.commit(1)
    assert r.pointers == RingPointers(8, 8, 16, 0)  # wptr does not go back
    assert r.check() == Corruption(8, 0, 4, Damage.LOST)


@pytest.mark.parametrize(
    ("dwords", "reserve", "want"),
    [
        ([0x0000_0003], 1, Corruption(0, 3, 0, Damage.OPCODE)),
        ([0x0002_0005, 0, 0], 3, Corruption(0, Op.FENCE, 2, Damage.LENGTH)),  # FENCE needs 3
        ([0x0004_0001, 0, 0, 0, 0], 5, Corruption(0, Op.COPY, 4, Damage.LENGTH)),
        ([0x0003_0002, 0, 0, 0], 4, Corruption(0, Op.WRITE, 3, Damage.LENGTH)),  # WRITE needs 4+
        ([header(Op.WRITE, [0, 0, 2, 9]), 0, 0, 2, 9], 5, Corruption(0, Op.WRITE, 4, Damage.LENGTH)),
        ([FENCE_PKT[0] ^ 0x100, *FENCE_PKT[1:]], 4, Corruption(0, Op.FENCE, 3, Damage.CHECKSUM)),
        ([*FENCE_PKT[:3], 8], 4, Corruption(0, Op.FENCE, 3, Damage.CHECKSUM)),
        ([header(Op.NOP, [0] * 5)], 2, Corruption(0, Op.NOP, 5, Damage.TRUNCATED)),
        ([header(Op.FENCE, [1, 2, 3]), 1, 2], 3, Corruption(0, Op.FENCE, 3, Damage.TRUNCATED)),
    ],
)
def test_check_names_each_kind_of_damage(dwords: list[int], reserve: int, want: Corruption) -> None:
    r = Ring(16, LOCKLESS)
    r.reserve(1, 4)
    r.emit_fence(1, 0, 1)
    r.commit(1)  # one good packet first: the check reports the first bad one
    r.reserve(1, reserve)
    r.write(1, dwords)
    r.commit(1)
    shifted = Corruption(want.offset + 4, want.opcode, want.body_len, want.reason)
    assert r.check() == shifted
    assert r.consume() == Packet(0, Op.FENCE, (0, 0, 1))
    with pytest.raises(RingCorrupt, match=want.reason.name.lower()):
        r.consume()
    assert r.pointers.rptr == 4
    ref = RefRing(16, LOCKLESS)
    ref.reserve(1, 4)
    ref.emit_fence(1, 0, 1)
    ref.commit(1)
    ref.reserve(1, reserve)
    ref.write(1, dwords)
    ref.commit(1)
    assert ref.check() == shifted


def test_context_manager_closes_ring() -> None:
    with Ring(16, LOCKLESS) as r:
        r.reserve(1, 1)
    with pytest.raises(StateError, match="closed"):
        r.commit(1)
    with pytest.raises(StateError, match="closed"):
        r.consume()
    r.close()


# ---------------------------------------------------------------------------------------
# bad inputs: a typed error naming the value, and the ring exactly as it was


def world(mode: RingMode) -> Ring:
    """Two packets published, and writer 1 (holding the lock) half-way through a third."""
    r = Ring(32, mode)
    r.lock(1)
    r.reserve(1, 10)
    r.emit_fence(1, 0x1000, 1)
    r.emit_copy(1, 0x2000, 0x3000, 64)
    r.commit(1)
    r.reserve(1, 10)
    r.emit_fence(1, 0x1000, 2)
    return r


def finish(r: Ring) -> tuple[RingPointers, Corruption | None, list[Packet], Corruption | None]:
    """What the world looks like, then what it yields once writer 1 is done."""
    before = (r.pointers, r.check())
    r.emit_write(1, 0x4000, [5])
    r.commit(1)
    r.unlock(1)
    return (*before, drain(r), r.check())


def unchanged(r: Ring) -> None:
    """r, after some refused calls, looks and finishes exactly as an untouched world does."""
    assert finish(r) == finish(world(LOCKED))


@pytest.mark.parametrize("mode", [LOCKED, LOCKLESS])
def test_bad_commit_without_lock(mode: RingMode) -> None:
    r = world(mode)
    if mode is LOCKED:
        for w in (2, 3):
            with pytest.raises(LockError, match=f"Ring.commit\\(writer={w}\\): a locked ring needs the lock"):
                r.commit(w)
    else:
        with pytest.raises(StateError, match=r"writer=2.*no open reservation"):
            r.commit(2)  # no lock needed, but nothing to commit
    unchanged(r)


def test_bad_write_and_reserve_without_lock() -> None:
    r = world(LOCKED)
    with pytest.raises(LockError, match="writer=2"):
        r.write(2, [0])
    with pytest.raises(LockError, match="writer=2"):
        r.emit_fence(2, 0, 0)
    with pytest.raises(LockError, match="writer=2"):
        r.reserve(2, 4)
    with pytest.raises(LockError, match="owner=2"):
        r.unlock(2)
    with pytest.raises(LockError, match=r"owner=2.*held by owner 1"):
        r.lock(2)
    unchanged(r)


def test_bad_unlock_with_open_reservation() -> None:
    r = world(LOCKED)
    with pytest.raises(StateError, match=r"owner=1.*commit the open reservation"):
        r.unlock(1)
    with pytest.raises(StateError, match=r"owner=1.*already holds"):
        r.lock(1)
    unchanged(r)


@pytest.mark.parametrize("mode", [LOCKED, LOCKLESS])
def test_bad_ring_overflow(mode: RingMode) -> None:
    r = world(mode)
    r2 = Ring(32, mode)
    if mode is LOCKED:
        r2.lock(2)
    r2.reserve(2, 20)
    r2.commit(2)
    with pytest.raises(NoSpace, match=r"n=0xd.*ring overflow: 13 dwords asked, 12 free of 32"):
        r2.reserve(2, 13)
    with pytest.raises(NoSpace, match=r"n=0x21.*ring overflow"):
        r2.reserve(2, 33)  # more than the ring holds
    assert r2.pointers.wptr == 20
    r2.reserve(2, 12)  # exactly what is free is fine
    with pytest.raises(NoSpace, match="n=0x21"):
        r.reserve(1, 33)
    unchanged(r)


def test_bad_write_past_the_reservation() -> None:
    r = world(LOCKED)
    with pytest.raises(OutOfRange, match=r"Ring.write\(writer=1, n=7\): the write runs past the reservation"):
        r.write(1, [0] * 7)  # 4 written of 10: 6 left
    with pytest.raises(OutOfRange, match=r"writer=1.*runs past the reservation"):
        r.emit_write(1, 0, [1, 2, 3])  # 7 dwords
    with pytest.raises(OutOfRange, match="runs past the reservation"):
        r.emit_ptepde(1, 0, 0, 0, 0, 1)
    unchanged(r)  # the failed writes wrote nothing: emit_write of 5 still fits


@pytest.mark.parametrize(
    ("writer", "cls", "text"),
    [
        (0, InvalidArgument, "writer=0 must be in 1..64"),
        (65, InvalidArgument, "writer=65 must be in 1..64"),
        (-1, OutOfRange, "writer=-1 is outside"),
        (2**32 + 1, OutOfRange, "writer=0x100000001 is outside"),
        ("1", InvalidArgument, "writer must be an integer"),
    ],
)
def test_bad_writer_id(writer: Any, cls: type[VmcoreError], text: str) -> None:
    r = world(LOCKED)
    calls: list[Callable[[], None]] = [
        lambda: r.reserve(writer, 1),
        lambda: r.write(writer, [0]),
        lambda: r.commit(writer),
        lambda: r.emit_nop(writer),
        lambda: r.emit_write(writer, 0, [1]),
        lambda: r.emit_copy(writer, 0, 0, 1),
        lambda: r.emit_fence(writer, 0, 0),
        lambda: r.emit_ptepde(writer, 0, 0, 0, 0, 1),
    ]
    for call in calls:
        with pytest.raises(cls, match=text):
            call()
    owner_text = text.replace("writer", "owner")
    with pytest.raises(cls, match=owner_text):
        r.lock(writer)
    with pytest.raises(cls, match=owner_text):
        r.unlock(writer)
    unchanged(r)


@pytest.mark.parametrize(
    ("size", "cls"),
    [(24, InvalidArgument), (100, InvalidArgument), (8, InvalidArgument), (0, InvalidArgument),
     (2**25, InvalidArgument), (2**24 + 2**23, InvalidArgument), (-16, OutOfRange), (2**32, OutOfRange)],
)  # fmt: skip
def test_bad_ring_size(size: int, cls: type[VmcoreError]) -> None:
    with pytest.raises(cls, match=f"size_dw={size}" if cls is InvalidArgument else "size_dw"):
        Ring(size, LOCKED)
    with pytest.raises(cls):
        RefRing(size, LOCKED)


@pytest.mark.parametrize(
    ("mode", "cls", "text"),
    [
        (2, InvalidArgument, "mode=2 is not a RingMode"),
        (-1, InvalidArgument, "mode=-1 is not a RingMode"),
        (2**40, OutOfRange, "mode=1099511627776"),
        ("locked", InvalidArgument, "mode must be an integer"),
    ],
)
def test_bad_ring_mode(mode: Any, cls: type[VmcoreError], text: str) -> None:
    with pytest.raises(cls, match=text):
        Ring(16, mode)
    with pytest.raises(cls):
        RefRing(16, mode)


def test_bad_reservation_state() -> None:
    r = world(LOCKED)
    with pytest.raises(StateError, match=r"writer=1.*already has an open reservation"):
        r.reserve(1, 2)
    with pytest.raises(InvalidArgument, match=r"n=0.*at least 1"):
        r.reserve(1, 0)
    unchanged(r)
    r2 = Ring(16, LOCKLESS)
    with pytest.raises(StateError, match=r"writer=3.*no open reservation"):
        r2.write(3, [1])
    with pytest.raises(StateError, match=r"writer=3.*no open reservation"):
        r2.emit_nop(3)
    with pytest.raises(StateError, match=r"writer=3.*no open reservation"):
        r2.commit(3)
    assert r2.pointers == RingPointers(0, 0, 16, 0)


def test_bad_packet_arguments() -> None:
    r = world(LOCKED)
    with pytest.raises(Misaligned, match="dst=0x1002 is not aligned to 4 bytes"):
        r.emit_write(1, 0x1002, [1])
    with pytest.raises(Misaligned, match="addr=0x1001 is not 4-byte aligned"):
        r.emit_fence(1, 0x1001, 1)
    with pytest.raises(Misaligned, match="pe=0x1004 is not 8-byte aligned"):
        r.emit_ptepde(1, 0x1004, 0, 0, 0, 1)
    with pytest.raises(InvalidArgument, match="nbytes=0"):
        r.emit_copy(1, 0, 0, 0)
    with pytest.raises(InvalidArgument, match="count=0"):
        r.emit_ptepde(1, 0, 0, 0, 0, 0)
    with pytest.raises(OutOfRange, match=r"carries 1..65532 dwords, got 0"):
        r.emit_write(1, 0, [])
    with pytest.raises(OutOfRange, match="data\\[1\\]=0x100000000"):
        r.emit_write(1, 0, [1, 2**32])
    with pytest.raises(OutOfRange, match="pad_dw=65536 is more than 65535"):
        r.emit_nop(1, 65536)
    with pytest.raises(OutOfRange, match="dwords\\[2\\]=-1"):
        r.write(1, [0, 1, -1])
    with pytest.raises(OutOfRange, match="seq=0x100000000"):
        r.emit_fence(1, 0, 2**32)
    with pytest.raises(OutOfRange, match="src=-4"):
        r.emit_copy(1, -4, 0, 4)
    with pytest.raises(OutOfRange, match="flags=0x10000000000000000"):
        r.emit_ptepde(1, 0, 2**64, 0, 0, 1)
    with pytest.raises(OutOfRange, match="n=0x100000000"):
        r.reserve(2, 2**32)
    unchanged(r)


# ---------------------------------------------------------------------------------------
# the C ring and the reference, side by side


def same(real: Callable[[], T], ref: Callable[[], Any]) -> tuple[T | None, Any]:
    """Run both; they must both succeed or both raise the same error class and status."""
    try:
        got, err = real(), None
    except VmcoreError as e:
        got, err = None, e
    try:
        want, ref_err = ref(), None
    except VmcoreError as e:
        want, ref_err = None, e
    assert type(err) is type(ref_err), (err, ref_err)
    if err is not None:
        assert getattr(err, "status", None) == getattr(ref_err, "status", None)
    return got, want


WRITERS = st.sampled_from([1, 2, 3, 1, 2, 3, 0, 65])
DWORD = st.one_of(st.sampled_from([0, 1, 3, 0x0003_0005, 0x0001_A900, 2**32 - 1]), st.integers(0, 2**32 - 1))
RAW = st.one_of(
    st.lists(DWORD, max_size=6),
    st.builds(lambda seq: packet(Op.FENCE, [0x1000, 0, seq]), st.integers(0, 9)),
    st.builds(lambda n: packet(Op.WRITE, [0x40, 0, n, *range(n)]), st.integers(1, 3)),
    st.just([0, 2**32]),  # an invalid dword
)
ADDR = st.sampled_from([0, 0x1000, 0x1004, 0x1002, 0xFFFF_FFFF_FFFF_FFF8, 2**64])


class RingMachine(RuleBasedStateMachine):
    real: Ring
    ref: RefRing

    @initialize(size=st.sampled_from([16, 32]), mode=st.sampled_from([LOCKED, LOCKLESS]))
    def make(self, size: int, mode: RingMode) -> None:
        self.real = Ring(size, mode)
        self.ref = RefRing(size, mode)
        event(f"mode {mode.name}")

    def both(self, call: Callable[[Any], Any]) -> tuple[Any, Any]:
        return same(lambda: call(self.real), lambda: call(self.ref))

    @rule(owner=WRITERS)
    def lock(self, owner: int) -> None:
        self.both(lambda r: r.lock(owner))

    @rule(owner=WRITERS)
    def unlock(self, owner: int) -> None:
        self.both(lambda r: r.unlock(owner))

    @rule(writer=WRITERS, n=st.sampled_from([0, 1, 2, 4, 6, 8, 10, 17, 33]))
    def reserve(self, writer: int, n: int) -> None:
        self.both(lambda r: r.reserve(writer, n))

    @rule(writer=WRITERS, dwords=RAW)
    def write(self, writer: int, dwords: Sequence[int]) -> None:
        self.both(lambda r: r.write(writer, dwords))

    @rule(writer=WRITERS)
    def commit(self, writer: int) -> None:
        self.both(lambda r: r.commit(writer))

    @rule(writer=WRITERS, pad=st.sampled_from([0, 1, 3, 65536]))
    def emit_nop(self, writer: int, pad: int) -> None:
        self.both(lambda r: r.emit_nop(writer, pad))

    @rule(writer=WRITERS, dst=ADDR, data=st.lists(st.sampled_from([0, 7, 2**32 - 1, 2**32]), max_size=3))
    def emit_write(self, writer: int, dst: int, data: list[int]) -> None:
        self.both(lambda r: r.emit_write(writer, dst, data))

    @rule(writer=WRITERS, src=ADDR, dst=ADDR, nbytes=st.sampled_from([0, 1, 4096]))
    def emit_copy(self, writer: int, src: int, dst: int, nbytes: int) -> None:
        self.both(lambda r: r.emit_copy(writer, src, dst, nbytes))

    @rule(writer=WRITERS, addr=ADDR, seq=st.sampled_from([0, 1, 2**32 - 1, 2**32]))
    def emit_fence(self, writer: int, addr: int, seq: int) -> None:
        self.both(lambda r: r.emit_fence(writer, addr, seq))

    @rule(
        writer=WRITERS, pe=ADDR, flags=st.sampled_from([0, 0x73, 2**64 - 1]), count=st.sampled_from([0, 1, 9])
    )
    def emit_ptepde(self, writer: int, pe: int, flags: int, count: int) -> None:
        self.both(lambda r: r.emit_ptepde(writer, pe, flags, 0x20_0000, 0x1000, count))

    @rule(writer=WRITERS, n=st.integers(1, 12), dwords=RAW, lock=st.booleans())
    def transaction(self, writer: int, n: int, dwords: Sequence[int], lock: bool) -> None:
        """lock, reserve, write, commit, unlock: a whole submission (steps may be refused)."""
        if lock:
            self.lock(writer)
        self.reserve(writer, n)
        self.write(writer, dwords)
        self.commit(writer)
        if lock:
            self.unlock(writer)

    @rule(
        a=WRITERS,
        b=WRITERS,
        na=st.integers(1, 10),
        nb=st.integers(1, 10),
        da=RAW,
        db=RAW,
        split=st.integers(0, 6),
        order=st.permutations(range(4)),
    )
    def race(
        self, a: int, b: int, na: int, nb: int, da: list[int], db: list[int], split: int, order: list[int]
    ) -> None:
        """Two writers' reserve/write/write/commit steps interleaved in some order."""
        self.reserve(a, na)
        self.reserve(b, nb)
        steps = [
            lambda: self.write(a, da[:split]),
            lambda: self.write(b, db),
            lambda: self.write(a, da[split:]),
            lambda: self.commit(b),
        ]
        for i in order:
            steps[i]()
        self.commit(a)

    @rule()
    def consume(self) -> None:
        got, want = self.both(lambda r: r.consume())
        assert got == want
        if got is None and self.ref.rptr != self.ref.wptr:
            event("consume: RingCorrupt")

    @rule()
    def consume_all(self) -> None:
        for _ in range(40):
            got, want = self.both(lambda r: r.consume())
            assert got == want
            if got is None:
                break

    @invariant()
    def everything_agrees(self) -> None:
        if not hasattr(self, "real"):
            return
        assert self.real.pointers == self.ref.pointers
        got = self.real.check()
        assert got == self.ref.check()
        p = self.real.pointers
        assert p.rptr <= p.wptr <= p.rptr + p.size_dw
        if got is not None:
            event(f"check: {got.reason.name}")


RingMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
test_ring_machine = RingMachine.TestCase
