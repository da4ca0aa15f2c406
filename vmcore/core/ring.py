"""The SDMA page queue: a ring buffer of dwords in the C core (``ring.c``)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from vmcore._core import ffi, lib
from vmcore.core._status import CoreObject, check, fail, sint, uint
from vmcore.errors import RingCorrupt, StateError

MAX_WRITERS: Final[int] = lib.VMC_RING_MAX_WRITERS
_MAX_BODY: Final = 65535


class RingMode(enum.IntEnum):
    LOCKED = lib.VMC_RING_LOCKED
    """Reserve, write and commit need the ring lock (the lock the 2019 thread asked for)."""
    LOCKLESS = lib.VMC_RING_LOCKLESS
    """No lock, as ``amdgpu_ring_alloc``/``amdgpu_ring_commit`` upstream."""


class Op(enum.IntEnum):
    """Packet opcodes (SDMA v4 numbering)."""

    NOP = lib.VMC_PKT_NOP
    COPY = lib.VMC_PKT_COPY
    WRITE = lib.VMC_PKT_WRITE
    FENCE = lib.VMC_PKT_FENCE
    PTEPDE = lib.VMC_PKT_PTEPDE


class Damage(enum.IntEnum):
    """Why the integrity check rejected a packet."""

    NONE = lib.VMC_RING_BAD_NONE
    OPCODE = lib.VMC_RING_BAD_OPCODE
    LENGTH = lib.VMC_RING_BAD_LENGTH
    CHECKSUM = lib.VMC_RING_BAD_CHECKSUM
    TRUNCATED = lib.VMC_RING_BAD_TRUNCATED
    LOST = lib.VMC_RING_BAD_LOST


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet the engine consumed: where it was, its opcode and its body."""

    offset: int
    opcode: Op
    body: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Corruption:
    """The first corrupt packet the integrity check found."""

    offset: int
    opcode: int
    body_len: int
    reason: Damage

    def __str__(self) -> str:
        if self.reason is Damage.LOST:
            return (
                f"{self.body_len} committed dwords lost before wptr {self.offset} (overlapping reservations)"
            )
        return f"corrupt packet at dword {self.offset}: {self.reason.name.lower()} (opcode {self.opcode}, {self.body_len} body dwords)"


@dataclass(frozen=True, slots=True)
class RingPointers:
    rptr: int
    wptr: int
    size_dw: int
    lock_owner: int

    @property
    def occupancy(self) -> int:
        """Dwords published and not yet consumed."""
        return self.wptr - self.rptr


_OPS: Final = {int(x): x for x in Op}
"""Opcode -> Op: a dict read, not an enum call, per consumed packet."""

Command = tuple[Op, int, int, int, int, int]
"""A decoded packet, ``(opcode, a, b, c, d, count)`` as ``vmc_sdma_cmd`` lays it out:
PTEPDE ``(pe, flags, addr, incr, count)``, COPY ``(src, dst, 0, 0, bytes)``, FENCE
``(addr, 0, 0, 0, seq)``, WRITE ``(addr, 0, 0, 0, data dwords)``."""


def packet_dw(op: Op, count: int = 0) -> int:
    """Size in dwords of a packet (``count``: data dwords of WRITE, padding of NOP)."""
    uint("packet_dw", "count", count, 32)
    sint("packet_dw", "op", op)  # int() of an over-wide int would raise OverflowError
    out = ffi.new("uint32_t *")
    st = lib.vmc_ring_packet_dw(int(op), count, out)
    if st:
        check(st, "packet_dw", op=op, count=count)
    return int(out[0])


class Ring(CoreObject):
    """A ring of ``size_dw`` dwords (a power of two, 16 .. 2**24)."""

    __slots__ = ("_body", "_cmd", "_info", "_occ", "_ptrs", "_r")

    def __init__(self, size_dw: int = 4096, mode: RingMode = RingMode.LOCKED) -> None:
        op = "Ring"
        uint(op, "size_dw", size_dw, 32)
        sint(op, "mode", mode)  # int() of a str or an over-wide int is no VmcoreError
        out = ffi.new("vmc_ring **")
        st = lib.vmc_ring_create(size_dw, int(mode), out)
        if st == lib.VMC_E_INVAL:
            # Name the argument that is wrong, not both.
            size_ok = 16 <= size_dw <= 1 << 24 and not size_dw & (size_dw - 1)
            detail = (
                f"mode={mode!r} is not a RingMode"
                if size_ok
                else f"size_dw={size_dw} must be a power of two in 16..16777216"
            )
            raise fail(st, op, detail, size_dw=size_dw, mode=mode)
        if st:
            check(st, op, size_dw=size_dw, mode=mode)
        self._r: Any = out[0]
        self._info: Any = ffi.new("vmc_packet_info *")
        self._body: Any = None
        """consume()'s body buffer (256 KiB), made on first use: the engine's executor
        uses consume_command, and a ring is made per GPU for every run."""
        self._cmd: Any = ffi.new("vmc_sdma_cmd *")
        self._occ: Any = ffi.new("uint32_t *")
        self._ptrs: Any = None
        """pointers()'s outputs (rptr, wptr and size, lock owner), made on first use."""

    def close(self) -> None:
        # getattr: __del__ runs close() even when __init__ raised before _r was set.
        if getattr(self, "_r", None) is not None:
            lib.vmc_ring_destroy(self._r)
            self._r = None

    def _h(self, op: str) -> Any:
        if self._r is None:
            raise StateError(f"{op}: the ring was closed", lib.VMC_E_STATE)
        return self._r

    def _writer(self, op: str, name: str, w: int) -> int:
        uint(op, name, w, 32)
        if not 1 <= w <= MAX_WRITERS:
            raise fail(lib.VMC_E_INVAL, op, f"{name}={w} must be in 1..{MAX_WRITERS}", **{name: w})
        return w

    def lock(self, owner: int) -> None:
        op = "Ring.lock"
        self._writer(op, "owner", owner)
        st = lib.vmc_ring_lock(self._h(op), owner)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the owner already holds the lock", owner=owner)
        if st == lib.VMC_E_LOCK:
            raise fail(st, op, f"the lock is held by owner {self.pointers.lock_owner}", owner=owner)
        if st:
            check(st, op, owner=owner)

    def unlock(self, owner: int) -> None:
        op = "Ring.unlock"
        self._writer(op, "owner", owner)
        st = lib.vmc_ring_unlock(self._h(op), owner)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "commit the open reservation before unlocking", owner=owner)
        if st:
            check(st, op, owner=owner)

    def reserve(self, writer: int, n: int) -> None:
        """Reserve ``n`` dwords for ``writer`` (``amdgpu_ring_alloc``)."""
        op = "Ring.reserve"
        self._writer(op, "writer", writer)
        uint(op, "n", n, 32)
        st = lib.vmc_ring_reserve(self._h(op), writer, n)
        if st == lib.VMC_E_NOSPACE:
            p = self.pointers
            raise fail(
                st,
                op,
                f"ring overflow: {n} dwords asked, {p.size_dw - p.occupancy} free of {p.size_dw}",
                writer=writer,
                n=n,
            )
        if st == lib.VMC_E_LOCK:
            raise fail(st, op, "a locked ring needs the lock from reserve to commit", writer=writer, n=n)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the writer already has an open reservation", writer=writer, n=n)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, "n must be at least 1", writer=writer, n=n)
        if st:
            check(st, op, writer=writer, n=n)

    def _status(self, st: int, op: str, writer: int, **args: object) -> None:
        if st == lib.VMC_E_LOCK:
            raise fail(st, op, "a locked ring needs the lock from reserve to commit", writer=writer, **args)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the writer has no open reservation", writer=writer, **args)
        if st == lib.VMC_E_RANGE:
            raise fail(st, op, "the write runs past the reservation", writer=writer, **args)
        if st:
            check(st, op, writer=writer, **args)

    def write(self, writer: int, dwords: Sequence[int]) -> None:
        op = "Ring.write"
        self._writer(op, "writer", writer)
        for i, d in enumerate(dwords):
            uint(op, f"dwords[{i}]", d, 32)
        buf = ffi.new("uint32_t[]", list(dwords)) if dwords else ffi.NULL
        self._status(lib.vmc_ring_write(self._h(op), writer, buf, len(dwords)), op, writer, n=len(dwords))

    def commit(self, writer: int) -> None:
        """Pad the reservation with NOPs and publish wptr (``amdgpu_ring_commit``)."""
        op = "Ring.commit"
        self._writer(op, "writer", writer)
        self._status(lib.vmc_ring_commit(self._h(op), writer), op, writer)

    def emit_nop(self, writer: int, pad_dw: int = 0) -> None:
        op = "Ring.emit_nop"
        self._writer(op, "writer", writer)
        uint(op, "pad_dw", pad_dw, 32)
        if pad_dw > _MAX_BODY:
            # ring.c answers VMC_E_RANGE, which _status would call a write past the reservation.
            raise fail(lib.VMC_E_RANGE, op, f"pad_dw={pad_dw} is more than {_MAX_BODY}", pad_dw=pad_dw)
        self._status(lib.vmc_ring_emit_nop(self._h(op), writer, pad_dw), op, writer, pad_dw=pad_dw)

    def emit_write(self, writer: int, dst: int, data: Sequence[int]) -> None:
        """A WRITE packet putting ``data`` dwords at ``dst`` (two dwords per PTE)."""
        op = "Ring.emit_write"
        self._writer(op, "writer", writer)
        uint(op, "dst", dst)
        if not 1 <= len(data) <= _MAX_BODY - 3:
            raise fail(
                lib.VMC_E_RANGE,
                op,
                f"a WRITE packet carries 1..{_MAX_BODY - 3} dwords, got {len(data)}",
                writer=writer,
            )
        for i, d in enumerate(data):
            uint(op, f"data[{i}]", d, 32)
        buf = ffi.new("uint32_t[]", list(data))
        self._status(lib.vmc_ring_emit_write(self._h(op), writer, dst, buf, len(data)), op, writer, dst=dst)

    def emit_copy(self, writer: int, src: int, dst: int, nbytes: int) -> None:
        op = "Ring.emit_copy"
        self._writer(op, "writer", writer)
        uint(op, "src", src)
        uint(op, "dst", dst)
        uint(op, "nbytes", nbytes, 32)
        self._status(
            lib.vmc_ring_emit_copy(self._h(op), writer, src, dst, nbytes),
            op,
            writer,
            src=src,
            dst=dst,
            nbytes=nbytes,
        )

    def emit_fence(self, writer: int, addr: int, seq: int) -> None:
        op = "Ring.emit_fence"
        self._writer(op, "writer", writer)
        uint(op, "addr", addr)
        uint(op, "seq", seq, 32)
        st = lib.vmc_ring_emit_fence(self._h(op), writer, addr, seq)
        if st == lib.VMC_E_ALIGN:
            raise fail(st, op, f"addr={addr:#x} is not 4-byte aligned", addr=addr)
        self._status(st, op, writer, addr=addr, seq=seq)

    def emit_ptepde(self, writer: int, pe: int, flags: int, addr: int, incr: int, count: int) -> None:
        """A PTEPDE packet: ``count`` PTEs at ``pe`` = addr + i*incr | flags (``set_pte_pde``)."""
        op = "Ring.emit_ptepde"
        self._writer(op, "writer", writer)
        for name, v in (("pe", pe), ("flags", flags), ("addr", addr), ("incr", incr)):
            uint(op, name, v)
        uint(op, "count", count, 32)
        st = lib.vmc_ring_emit_ptepde(self._h(op), writer, pe, flags, addr, incr, count)
        if st == lib.VMC_E_ALIGN:
            raise fail(st, op, f"pe={pe:#x} is not 8-byte aligned", pe=pe)
        self._status(st, op, writer, pe=pe, count=count)

    def consume(self) -> Packet | None:
        """Execute the next packet as the SDMA engine would; ``None`` when empty.

        Raises :class:`RingCorrupt` naming the packet when the next one is corrupt.
        """
        op = "Ring.consume"
        if self._body is None:
            self._body = ffi.new("uint32_t[]", _MAX_BODY)
        st = lib.vmc_ring_consume(self._h(op), self._info, self._body, _MAX_BODY)
        if st == lib.VMC_E_STATE:
            return None
        if st == lib.VMC_E_CORRUPT:
            raise RingCorrupt(f"{op}: {self._corruption()}", st)
        if st:
            check(st, op)
        i = self._info
        return Packet(int(i.offset), Op(i.opcode), tuple(self._body[0 : i.body_len]))

    def consume_command(self) -> Command | None:
        """:meth:`consume`, with the body decoded by the core into a :data:`Command`."""
        op = "Ring.consume_command"
        st = lib.vmc_ring_consume_cmd(self._h(op), self._info, self._cmd)
        if st == lib.VMC_E_STATE:
            return None
        if st == lib.VMC_E_CORRUPT:
            raise RingCorrupt(f"{op}: {self._corruption()}", st)
        if st:
            check(st, op)
        c = self._cmd
        code = _OPS.get(c.opcode)
        if code is None:  # (the core decodes only Op's opcodes: Op() would name another)
            code = Op(c.opcode)
        return (code, int(c.a), int(c.b), int(c.c), int(c.d), int(c.count))

    def skip(self, writer: int, ndw: int) -> int | None:
        """Move an idle ring on as a kernel job of ``ndw`` dwords would, reserved,
        written, committed and consumed, without writing its words (the engine executes
        the job itself); returns the occupancy it would have reached.  Nothing can tell:
        every dword read lies between rptr and wptr and was written by the reservation
        that put it there.  ``None`` when the ring is not idle or ``ndw`` exceeds half of
        it (the scheduler would write it in steps)."""
        op = "Ring.skip"
        if not (type(writer) is type(ndw) is int and 1 <= writer <= MAX_WRITERS and 0 <= ndw < 1 << 32):
            self._writer(op, "writer", writer)  # the checks and their errors, off the common case
            uint(op, "ndw", ndw, 32)
        st = lib.vmc_ring_skip(self._h(op), writer, ndw, self._occ)
        if st in (lib.VMC_E_STATE, lib.VMC_E_NOSPACE):
            return None
        if st:
            check(st, op, writer=writer, ndw=ndw)
        return int(self._occ[0])

    def _corruption(self) -> Corruption:
        i = self._info
        return Corruption(int(i.offset), int(i.opcode), int(i.body_len), Damage(i.reason))

    def check(self) -> Corruption | None:
        """Walk rptr..wptr; ``None`` when intact, else the first corrupt packet."""
        op = "Ring.check"
        ok = ffi.new("int *")
        st = lib.vmc_ring_check(self._h(op), ok, self._info)
        if st:
            check(st, op)
        return None if ok[0] else self._corruption()

    @property
    def pointers(self) -> RingPointers:
        op = "Ring.pointers"
        if self._ptrs is None:
            self._ptrs = (ffi.new("uint64_t[2]"), ffi.new("uint32_t[2]"))
        p, s = self._ptrs
        st = lib.vmc_ring_pointers(self._h(op), p, p + 1, s, s + 1)
        if st:
            check(st, op)
        return RingPointers(int(p[0]), int(p[1]), int(s[0]), int(s[1]))
