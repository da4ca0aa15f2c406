"""Buddy-allocated memory pools (VRAM, GTT) in the C core (``pool.c``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from vmcore._core import ffi, lib
from vmcore.core._status import CoreObject, check, fail, uint
from vmcore.errors import StateError

MIN_BLOCK: Final[int] = lib.VMC_POOL_MIN_BLOCK
MAX_BLOCKS: Final[int] = lib.VMC_POOL_MAX_BLOCKS


@dataclass(frozen=True, slots=True)
class BlockInfo:
    offset: int
    size: int
    pinned: bool


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int
    free: int
    largest_free: int
    pinned: int
    fragmentation: float
    """1 - largest_free / free: 0 when all free memory is one block."""


_BO_CAP = 64
"""Blocks fetched per core call by :meth:`Pool.alloc_bo` (more take more calls)."""


class Pool(CoreObject):
    """One memory domain of ``size`` bytes (a multiple of 4 KiB) with a buddy allocator."""

    __slots__ = ("_bo", "_info", "_out", "_p", "_stats", "name")

    def __init__(self, size: int, name: str = "vram") -> None:
        op = "Pool"
        uint(op, "size", size)
        out = ffi.new("vmc_pool **")
        st = lib.vmc_pool_create(size, out)
        if st == lib.VMC_E_LIMIT:
            raise fail(st, op, f"size={size:#x} exceeds {MAX_BLOCKS * MIN_BLOCK:#x} bytes", size=size)
        if st == lib.VMC_E_ALIGN:
            raise fail(st, op, f"size={size:#x} must be a nonzero multiple of 4 KiB", size=size)
        if st:
            check(st, op, size=size)
        self._p: Any = out[0]
        self._out: Any = ffi.new("uint64_t *")
        self._info: Any = ffi.new("vmc_block_info *")
        self._stats: Any = (ffi.new("uint64_t[4]"), ffi.new("uint32_t *"))
        self._bo: Any = (
            ffi.new(f"uint64_t[{_BO_CAP}]"),
            ffi.new(f"uint64_t[{_BO_CAP}]"),
            ffi.new(f"uint64_t[{_BO_CAP}]"),
            ffi.new("uint32_t *"),
        )
        self.name = name

    def close(self) -> None:
        # getattr: __del__ runs close() even when __init__ raised before _p was set.
        if getattr(self, "_p", None) is not None:
            lib.vmc_pool_destroy(self._p)
            self._p = None

    def _h(self, op: str) -> Any:
        if self._p is None:
            raise StateError(f"{op}: the pool was closed", lib.VMC_E_STATE)
        return self._p

    def alloc(self, size: int) -> int:
        """One contiguous block of at least ``size`` bytes; returns its handle."""
        op = f"Pool({self.name}).alloc"
        uint(op, "size", size)
        st = lib.vmc_pool_alloc(self._h(op), size, self._out)
        if st == lib.VMC_E_NOSPACE:
            s = self.stats
            raise fail(
                st,
                op,
                f"no free block of {size:#x} bytes (largest free {s.largest_free:#x}, {s.free:#x} free)",
                size=size,
            )
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, "size must be at least 1 byte", size=size)
        if st:
            check(st, op, size=size)
        return int(self._out[0])

    def free(self, block: int) -> None:
        op = f"Pool({self.name}).free"
        uint(op, "block", block)
        st = lib.vmc_pool_free(self._h(op), block)
        if st == lib.VMC_E_BUSY:
            raise fail(st, op, "the block is pinned; unpin it first", block=block)
        if st == lib.VMC_E_HANDLE:
            raise fail(st, op, "unknown block, or already freed", block=block)
        if st:
            check(st, op, block=block)

    def pin(self, block: int) -> None:
        op = f"Pool({self.name}).pin"
        uint(op, "block", block)
        st = lib.vmc_pool_pin(self._h(op), block)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the block is already pinned", block=block)
        if st:
            check(st, op, block=block)

    def unpin(self, block: int) -> None:
        op = f"Pool({self.name}).unpin"
        uint(op, "block", block)
        st = lib.vmc_pool_unpin(self._h(op), block)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the block is not pinned", block=block)
        if st:
            check(st, op, block=block)

    def alloc_bo(self, size: int, contiguous: bool) -> list[tuple[int, int, int]] | None:
        """The blocks of a buffer object of ``size`` bytes (rounded up to 4 KiB), as
        (handle, offset, bytes): one block when ``contiguous`` (its bytes the rounded
        size), else the largest power-of-two blocks first, each at most the largest free
        block, as a BO made of several buddy blocks is.  ``None`` when it does not fit
        (nothing is allocated then)."""
        op = f"Pool({self.name}).alloc_bo"
        uint(op, "size", size)
        if size == 0:
            raise fail(lib.VMC_E_INVAL, op, "size must be at least 1 byte", size=size)
        handles, offsets, sizes, n = self._bo
        p = self._h(op)
        out: list[tuple[int, int, int]] = []
        want = size
        while True:
            st = lib.vmc_pool_alloc_bo(p, want, int(bool(contiguous)), handles, offsets, sizes, _BO_CAP, n)
            if st == lib.VMC_E_NOSPACE:
                return None
            if st not in (lib.VMC_OK, lib.VMC_E_RANGE):
                check(st, op, size=size)
            got = int(n[0])
            out += [(int(handles[i]), int(offsets[i]), int(sizes[i])) for i in range(got)]
            if st == lib.VMC_OK:
                return out
            want -= sum(int(sizes[i]) for i in range(got))  # cap blocks taken: ask for the rest

    def block(self, block: int) -> BlockInfo:
        op = f"Pool({self.name}).block"
        uint(op, "block", block)
        out = self._info
        st = lib.vmc_pool_block(self._h(op), block, out)
        if st:
            check(st, op, block=block)
        return BlockInfo(int(out.offset), int(out.size), bool(out.pinned))

    @property
    def stats(self) -> PoolStats:
        op = f"Pool({self.name}).stats"
        a, f = self._stats
        st = lib.vmc_pool_stats(self._h(op), a, a + 1, a + 2, a + 3, f)
        if st:
            check(st, op)
        return PoolStats(int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(f[0]) / 1e6)
