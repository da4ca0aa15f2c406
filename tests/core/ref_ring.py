"""Pure-Python reference model of the SDMA ring (:class:`vmcore.core.Ring`).

Same packet encoding as ``ring.c``: header = opcode | checksum(body) << 8 | body_len << 16,
the same checksum, commit pads the rest of a reservation with one-dword NOP packets
(header 0), and the integrity check walks rptr..wptr reporting the first corrupt packet,
then LOST when more dwords were committed than the write pointer covers.

LOCKED mode: reserve, write and commit need the caller to hold the ring lock.  LOCKLESS
mode: a reservation starts at the published write pointer as the writer read it, so two
reservations taken before either commits cover the same dwords and overwrite each other.

Public methods, argument checks (in the same order) and exceptions mirror the real class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tests.core.ref_fences import (
    E_ALIGN,
    E_INVAL,
    E_LOCK,
    E_NOSPACE,
    E_RANGE,
    E_STATE,
    check_sint,
    check_uint,
)
from vmcore.core import Corruption, Damage, Op, Packet, RingMode, RingPointers
from vmcore.errors import (
    InvalidArgument,
    LockError,
    Misaligned,
    NoSpace,
    OutOfRange,
    RingCorrupt,
    StateError,
)

MAX_WRITERS: Final = 64
MAX_BODY: Final = 65535
MIN_DW: Final = 16
MAX_DW: Final = 1 << 24
_M32: Final = 0xFFFF_FFFF


def checksum(body: Sequence[int]) -> int:
    """ring.c's body checksum (8 bits)."""
    x = 0
    for d in body:
        x = (x * 31 + d + 0x9E37) & _M32
    return (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24)) & 0xFF


def header(op: int, body: Sequence[int]) -> int:
    return op | checksum(body) << 8 | len(body) << 16


def packet(op: int, body: Sequence[int]) -> list[int]:
    """A whole packet: header then body."""
    return [header(op, body), *body]


def ref_packet_dw(op: Op | int, count: int = 0) -> int:
    """Reference of :func:`vmcore.core.packet_dw`."""
    check_uint("packet_dw", "count", count, 32)
    check_sint("packet_dw", "op", op)
    if op == Op.NOP:
        if count > MAX_BODY:
            raise OutOfRange(f"packet_dw: NOP padding count={count} > {MAX_BODY}", E_RANGE)
        return 1 + count
    if op == Op.WRITE:
        if not 1 <= count <= MAX_BODY - 3:
            raise OutOfRange(f"packet_dw: WRITE count={count} outside 1..{MAX_BODY - 3}", E_RANGE)
        return 4 + count
    sizes = {Op.COPY: 6, Op.FENCE: 4, Op.PTEPDE: 10}
    if op not in sizes:
        raise InvalidArgument(f"packet_dw: op={op} is not an opcode", E_INVAL)
    return sizes[Op(op)]


def _body_len_ok(op: int, n: int) -> bool:
    return {
        Op.NOP: True,
        Op.COPY: n == 5,
        Op.WRITE: n >= 4,
        Op.FENCE: n == 3,
        Op.PTEPDE: n == 9,
    }.get(Op(op), False)


class _Reservation:
    __slots__ = ("count", "start", "written")

    def __init__(self, start: int, count: int) -> None:
        self.start = start
        self.count = count
        self.written = 0


class RefRing:
    """Reference of :class:`vmcore.core.Ring`."""

    def __init__(self, size_dw: int = 4096, mode: RingMode | int = RingMode.LOCKED) -> None:
        op = "Ring"
        check_uint(op, "size_dw", size_dw, 32)
        check_sint(op, "mode", mode)
        if not MIN_DW <= size_dw <= MAX_DW or size_dw & (size_dw - 1):
            raise InvalidArgument(f"{op}: size_dw={size_dw} must be a power of two in 16..{MAX_DW}", E_INVAL)
        if mode not in (RingMode.LOCKED, RingMode.LOCKLESS):
            raise InvalidArgument(f"{op}: mode={mode} is not a RingMode", E_INVAL)
        self.size = size_dw
        self.mode = RingMode(mode)
        self.buf = [0] * size_dw
        self.rptr = 0
        self.wptr = 0
        self.committed = 0
        self.lock_owner = 0
        self.res: dict[int, _Reservation] = {}
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> RefRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, op: str) -> None:
        if self._closed:
            raise StateError(f"{op}: the ring was closed", E_STATE)

    @staticmethod
    def _writer(op: str, name: str, w: int) -> None:
        check_uint(op, name, w, 32)
        if not 1 <= w <= MAX_WRITERS:
            raise InvalidArgument(f"{op}: {name}={w} must be in 1..{MAX_WRITERS}", E_INVAL)

    def lock(self, owner: int) -> None:
        op = "Ring.lock"
        self._writer(op, "owner", owner)
        self._open(op)
        if self.lock_owner == owner:
            raise StateError(f"{op}(owner={owner}): the owner already holds the lock", E_STATE)
        if self.lock_owner:
            raise LockError(f"{op}(owner={owner}): the lock is held by owner {self.lock_owner}", E_LOCK)
        self.lock_owner = owner

    def unlock(self, owner: int) -> None:
        op = "Ring.unlock"
        self._writer(op, "owner", owner)
        self._open(op)
        if self.lock_owner != owner:
            raise LockError(f"{op}(owner={owner}): lock not held by this owner", E_LOCK)
        if owner in self.res:
            raise StateError(f"{op}(owner={owner}): commit the open reservation before unlocking", E_STATE)
        self.lock_owner = 0

    def _need_lock(self, op: str, writer: int) -> None:
        if self.mode is RingMode.LOCKED and self.lock_owner != writer:
            raise LockError(f"{op}(writer={writer}): a locked ring needs the lock", E_LOCK)

    def reserve(self, writer: int, n: int) -> None:
        op = "Ring.reserve"
        self._writer(op, "writer", writer)
        check_uint(op, "n", n, 32)
        self._open(op)
        if n == 0:
            raise InvalidArgument(f"{op}(writer={writer}, n=0): n must be at least 1", E_INVAL)
        if n > self.size:
            raise NoSpace(f"{op}(writer={writer}, n={n}): ring overflow", E_NOSPACE)
        self._need_lock(op, writer)
        if writer in self.res:
            raise StateError(f"{op}(writer={writer}): the writer already has an open reservation", E_STATE)
        if self.wptr + n - self.rptr > self.size:
            raise NoSpace(f"{op}(writer={writer}, n={n}): ring overflow", E_NOSPACE)
        self.res[writer] = _Reservation(self.wptr, n)

    def _write(self, op: str, writer: int, dwords: Sequence[int]) -> None:
        self._open(op)
        self._need_lock(op, writer)
        r = self.res.get(writer)
        if r is None:
            raise StateError(f"{op}(writer={writer}): the writer has no open reservation", E_STATE)
        if len(dwords) > r.count - r.written:
            raise OutOfRange(f"{op}(writer={writer}): the write runs past the reservation", E_RANGE)
        for i, d in enumerate(dwords):
            self.buf[(r.start + r.written + i) % self.size] = d
        r.written += len(dwords)

    def write(self, writer: int, dwords: Sequence[int]) -> None:
        op = "Ring.write"
        self._writer(op, "writer", writer)
        for i, d in enumerate(dwords):
            check_uint(op, f"dwords[{i}]", d, 32)
        self._write(op, writer, list(dwords))

    def commit(self, writer: int) -> None:
        op = "Ring.commit"
        self._writer(op, "writer", writer)
        self._open(op)
        self._need_lock(op, writer)
        r = self.res.pop(writer, None)
        if r is None:
            raise StateError(f"{op}(writer={writer}): the writer has no open reservation", E_STATE)
        nop = header(Op.NOP, ())
        for i in range(r.written, r.count):
            self.buf[(r.start + i) % self.size] = nop
        self.committed += r.count
        self.wptr = max(self.wptr, r.start + r.count)

    def emit_nop(self, writer: int, pad_dw: int = 0) -> None:
        op = "Ring.emit_nop"
        self._writer(op, "writer", writer)
        check_uint(op, "pad_dw", pad_dw, 32)
        if pad_dw > MAX_BODY:
            raise OutOfRange(f"{op}: pad_dw={pad_dw} is more than {MAX_BODY}", E_RANGE)
        self._write(op, writer, packet(Op.NOP, [0] * pad_dw))

    def emit_write(self, writer: int, dst: int, data: Sequence[int]) -> None:
        op = "Ring.emit_write"
        self._writer(op, "writer", writer)
        check_uint(op, "dst", dst)
        if not 1 <= len(data) <= MAX_BODY - 3:
            raise OutOfRange(f"{op}: a WRITE packet carries 1..{MAX_BODY - 3} dwords", E_RANGE)
        for i, d in enumerate(data):
            check_uint(op, f"data[{i}]", d, 32)
        if dst & 3:
            raise Misaligned(f"{op}: dst={dst:#x} is not aligned to 4 bytes", E_ALIGN)
        body = [dst & _M32, dst >> 32, len(data), *data]
        self._write(op, writer, packet(Op.WRITE, body))

    def emit_copy(self, writer: int, src: int, dst: int, nbytes: int) -> None:
        op = "Ring.emit_copy"
        self._writer(op, "writer", writer)
        check_uint(op, "src", src)
        check_uint(op, "dst", dst)
        check_uint(op, "nbytes", nbytes, 32)
        if nbytes == 0:
            raise InvalidArgument(f"{op}: nbytes=0, a COPY moves at least one byte", E_INVAL)
        body = [nbytes, src & _M32, src >> 32, dst & _M32, dst >> 32]
        self._write(op, writer, packet(Op.COPY, body))

    def emit_fence(self, writer: int, addr: int, seq: int) -> None:
        op = "Ring.emit_fence"
        self._writer(op, "writer", writer)
        check_uint(op, "addr", addr)
        check_uint(op, "seq", seq, 32)
        if addr & 3:
            raise Misaligned(f"{op}: addr={addr:#x} is not 4-byte aligned", E_ALIGN)
        self._write(op, writer, packet(Op.FENCE, [addr & _M32, addr >> 32, seq]))

    def emit_ptepde(self, writer: int, pe: int, flags: int, addr: int, incr: int, count: int) -> None:
        op = "Ring.emit_ptepde"
        self._writer(op, "writer", writer)
        for name, v in (("pe", pe), ("flags", flags), ("addr", addr), ("incr", incr)):
            check_uint(op, name, v)
        check_uint(op, "count", count, 32)
        if count == 0:
            raise InvalidArgument(f"{op}: count=0, a PTEPDE packet writes at least one entry", E_INVAL)
        if pe & 7:
            raise Misaligned(f"{op}: pe={pe:#x} is not 8-byte aligned", E_ALIGN)
        body = [pe, flags, addr, incr]
        words = [w for v in body for w in (v & _M32, v >> 32)]
        self._write(op, writer, packet(Op.PTEPDE, [*words, count]))

    def _parse(self, pos: int, end: int) -> Corruption:
        """The packet at pos; reason NONE when it is intact."""
        h = self.buf[pos % self.size]
        op, n = h & 0xFF, h >> 16
        reason = Damage.NONE
        if op not in tuple(Op):
            reason = Damage.OPCODE
        elif not _body_len_ok(op, n):
            reason = Damage.LENGTH
        elif pos + 1 + n > end:
            reason = Damage.TRUNCATED
        else:
            body = [self.buf[(pos + 1 + i) % self.size] for i in range(n)]
            if checksum(body) != (h >> 8) & 0xFF:
                reason = Damage.CHECKSUM
            elif op == Op.WRITE and body[2] != n - 3:
                reason = Damage.LENGTH
        return Corruption(pos, op, n, reason)

    def consume(self) -> Packet | None:
        """The next packet, ``None`` when empty; :class:`RingCorrupt` when it is corrupt."""
        self._open("Ring.consume")
        if self.rptr == self.wptr:
            return None
        info = self._parse(self.rptr, self.wptr)
        if info.reason is not Damage.NONE:
            raise RingCorrupt(f"Ring.consume: {info}", 12)
        body = tuple(self.buf[(self.rptr + 1 + i) % self.size] for i in range(info.body_len))
        pkt = Packet(self.rptr, Op(info.opcode), body)
        self.rptr += 1 + info.body_len
        return pkt

    def check(self) -> Corruption | None:
        """The first corrupt packet in rptr..wptr, then LOST; ``None`` when intact."""
        self._open("Ring.check")
        pos = self.rptr
        while pos < self.wptr:
            info = self._parse(pos, self.wptr)
            if info.reason is not Damage.NONE:
                return info
            pos += 1 + info.body_len
        if self.committed != self.wptr:
            return Corruption(self.wptr, 0, self.committed - self.wptr, Damage.LOST)
        return None

    @property
    def pointers(self) -> RingPointers:
        self._open("Ring.pointers")
        return RingPointers(self.rptr, self.wptr, self.size, self.lock_owner)


__all__ = ["MAX_BODY", "MAX_WRITERS", "RefRing", "checksum", "header", "packet", "ref_packet_dw"]
