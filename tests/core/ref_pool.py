"""A pure-Python model of ``vmcore.core.Pool``: a buddy allocator over 4 KiB pages.

Blocks are kept in a dict keyed by their first page; each order has a free list whose
head is index 0.  The model follows the same deterministic policy as the C core (take
the head of the smallest non-empty order, split off upper halves onto the heads of the
lower orders, merge freed blocks with free buddies and push the result on the head), so
a differential test can compare block offsets, not only sizes and totals.  Totals are
recomputed from the blocks on every call.  Handles are opaque integers of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from vmcore.core.pool import MAX_BLOCKS, MIN_BLOCK, BlockInfo, PoolStats
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
)

__all__ = ["MAX_ORDER", "RefPool"]

MAX_ORDER = 26

_STATUS: dict[type[CoreError], int] = {
    InvalidArgument: 1,
    OutOfRange: 2,
    Misaligned: 3,
    BadHandle: 4,
    StateError: 5,
    NoSpace: 7,
    BusyError: 9,
    LimitExceeded: 11,
}


def _err(cls: type[CoreError], msg: str) -> CoreError:
    return cls(msg, _STATUS[cls])


def _uint(op: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(InvalidArgument, f"{op}: {name} must be an integer, got {value!r}")
    if not 0 <= value < 1 << 64:
        raise _err(OutOfRange, f"{op}: {name}={value:#x} is outside 0..2**64-1")
    return value


@dataclass
class _Block:
    page: int
    order: int
    pinned: bool = False


class RefPool:
    """Reference model of :class:`vmcore.core.Pool` (same methods, same errors)."""

    def __init__(self, size: int, name: str = "vram") -> None:
        op = "Pool"
        _uint(op, "size", size)
        if size == 0 or size % MIN_BLOCK:
            raise _err(Misaligned, f"{op}: size={size:#x} must be a nonzero multiple of 4 KiB")
        if size // MIN_BLOCK > MAX_BLOCKS:
            raise _err(LimitExceeded, f"{op}: size={size:#x} exceeds {MAX_BLOCKS * MIN_BLOCK:#x} bytes")
        self.name = name
        self.npages = size // MIN_BLOCK
        self._free: list[list[int]] = [[] for _ in range(MAX_ORDER + 1)]  # first pages, head first
        self._used: dict[int, _Block] = {}  # handle -> block
        self._next = 1
        self._closed = False
        # the largest aligned blocks that fit, lowest address first
        page = 0
        while page < self.npages:
            k = MAX_ORDER
            while k and (page % (1 << k) or page + (1 << k) > self.npages):
                k -= 1
            self._free[k].append(page)
            page += 1 << k

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> RefPool:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _live(self, op: str) -> None:
        if self._closed:
            raise _err(StateError, f"{op}: the pool was closed")

    def _block(self, op: str, block: int) -> _Block:
        _uint(op, "block", block)
        self._live(op)
        b = self._used.get(block)
        if b is None:
            raise _err(BadHandle, f"{op}: block={block:#x} is unknown or already freed")
        return b

    def alloc(self, size: int) -> int:
        op = f"Pool({self.name}).alloc"
        _uint(op, "size", size)
        self._live(op)
        if size == 0:
            raise _err(InvalidArgument, f"{op}: size must be at least 1 byte")
        pages = -(-size // MIN_BLOCK)
        order = max(0, (pages - 1).bit_length())
        k = next((k for k in range(order, MAX_ORDER + 1) if self._free[k]), None)
        if size > self.npages * MIN_BLOCK or k is None:
            raise _err(NoSpace, f"{op}: no free block of {size:#x} bytes")
        page = self._free[k].pop(0)
        while k > order:
            k -= 1
            self._free[k].insert(0, page + (1 << k))
        h = self._next
        self._next += 1
        self._used[h] = _Block(page, order)
        return h

    def free(self, block: int) -> None:
        op = f"Pool({self.name}).free"
        b = self._block(op, block)
        if b.pinned:
            raise _err(BusyError, f"{op}: block={block:#x} is pinned; unpin it first")
        del self._used[block]
        page, k = b.page, b.order
        while k < MAX_ORDER:
            buddy = page ^ (1 << k)
            if buddy + (1 << k) > self.npages or buddy not in self._free[k]:
                break
            self._free[k].remove(buddy)
            page = min(page, buddy)
            k += 1
        self._free[k].insert(0, page)

    def pin(self, block: int) -> None:
        op = f"Pool({self.name}).pin"
        b = self._block(op, block)
        if b.pinned:
            raise _err(StateError, f"{op}: block={block:#x} is already pinned")
        b.pinned = True

    def unpin(self, block: int) -> None:
        op = f"Pool({self.name}).unpin"
        b = self._block(op, block)
        if not b.pinned:
            raise _err(StateError, f"{op}: block={block:#x} is not pinned")
        b.pinned = False

    def block(self, block: int) -> BlockInfo:
        b = self._block(f"Pool({self.name}).block", block)
        return BlockInfo(b.page * MIN_BLOCK, (1 << b.order) * MIN_BLOCK, b.pinned)

    @property
    def stats(self) -> PoolStats:
        self._live(f"Pool({self.name}).stats")
        free = sum(len(pages) << k for k, pages in enumerate(self._free))
        largest = max((1 << k for k, pages in enumerate(self._free) if pages), default=0)
        pinned = sum(1 << b.order for b in self._used.values() if b.pinned)
        ppm = 1_000_000 - largest * 1_000_000 // free if free else 0
        return PoolStats(
            self.npages * MIN_BLOCK, free * MIN_BLOCK, largest * MIN_BLOCK, pinned * MIN_BLOCK, ppm / 1e6
        )
