"""A slow, obviously-correct model of ``vmcore.core.PageTable`` in pure Python.

PTEs live in one dict keyed by page number and the page-table BOs in a dict keyed by
(level, first VA), so every answer is computed from the definition rather than from a
tree of arrays.  Counters are recomputed from the PTEs on every call instead of being
kept incrementally: a count that drifts in the C core shows up as a mismatch here.

The model raises the same exception classes as the real wrapper, in the same order of
checks (Python-side argument checks first, then the C core's), so a differential test
can compare failures as well as results.  Handles are opaque integers of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from vmcore.core.pagetable import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PERMS,
    READ_LIMIT,
    RW,
    VA_LIMIT,
    Invalidate,
    Level,
    PtCounters,
    Pte,
    PtInfo,
    Walk,
    WalkReason,
)
from vmcore.errors import (
    BadHandle,
    BusyError,
    CoreError,
    InvalidArgument,
    LimitExceeded,
    Misaligned,
    MissingPageTable,
    OutOfRange,
    StateError,
)

__all__ = ["RefPageTable", "level_span", "pte_is_mapped", "pte_is_silent"]

ENTRIES = 512
ADDR_MASK = ((1 << 48) - 1) & ~(PAGE_SIZE - 1)
VALID = int(Pte.VALID)
SYSTEM = int(Pte.SYSTEM)
PERM_BITS = int(PERMS)
FLAGS_ALLOWED = int(Pte.SYSTEM | Pte.SNOOPED | Pte.TMZ | Pte.EXECUTABLE | Pte.READABLE | Pte.WRITEABLE) | (
    0x1F << 7
)  # the fragment field, bits 7-11
SILENT = int(Pte.VALID | Pte.SYSTEM | Pte.SNOOPED)
NORETRY = int(Pte.EXECUTABLE | Pte.PDE_PTE | Pte.TF)
MAX_PTS_LIMIT = 1 << 24

# The VMC_E_* code each exception class carries, so statuses can be compared too.
_STATUS: dict[type[CoreError], int] = {
    InvalidArgument: 1,
    OutOfRange: 2,
    Misaligned: 3,
    BadHandle: 4,
    StateError: 5,
    BusyError: 9,
    MissingPageTable: 10,
    LimitExceeded: 11,
}


def _err(cls: type[CoreError], msg: str) -> CoreError:
    return cls(msg, _STATUS[cls])


def level_span(level: int) -> int:
    """Bytes of VA one BO of ``level`` covers: 2^48 for PDB2 down to 2 MiB for a PTB."""
    return 1 << (PAGE_SHIFT + 9 * (4 - level))


def pte_is_silent(pte: int) -> bool:
    """VALID|SYSTEM|SNOOPED, address 0, no R/W/X: amdgpu's silent-retry entry."""
    return pte & (SILENT | PERM_BITS | ADDR_MASK) == SILENT


def pte_is_mapped(pte: int) -> bool:
    return bool(pte & VALID) and not pte_is_silent(pte)


def _classify(pte: int, perms: int) -> Walk:
    if not pte & VALID:
        reason = WalkReason.NORETRY if pte & NORETRY == NORETRY else WalkReason.INVALID
    elif pte_is_silent(pte):
        reason = WalkReason.SILENT_RETRY
    elif pte & perms != perms:
        reason = WalkReason.PERMISSION
    else:
        return Walk(Level.PTB, WalkReason.OK, pte, pte & ADDR_MASK)
    return Walk(Level.PTB, reason, pte, 0)


def _uint(op: str, name: str, value: object, bits: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(InvalidArgument, f"{op}: {name} must be an integer, got {value!r}")
    if not 0 <= value < 1 << bits:
        raise _err(OutOfRange, f"{op}: {name}={value:#x} is outside 0..{(1 << bits) - 1:#x}")
    return value


def _check_range(op: str, va: int, npages: int) -> None:
    if va % PAGE_SIZE:
        raise _err(Misaligned, f"{op}: va={va:#x} is not page aligned")
    if va >= VA_LIMIT:
        raise _err(OutOfRange, f"{op}: va={va:#x} lies past the VA space")
    if va + npages * PAGE_SIZE > VA_LIMIT:
        raise _err(OutOfRange, f"{op}: va={va:#x} with npages={npages} runs past the VA space")


def _check_addr(op: str, name: str, addr: int) -> None:
    if addr % PAGE_SIZE:
        raise _err(Misaligned, f"{op}: {name}={addr:#x} is not page aligned")
    if addr >= VA_LIMIT:
        raise _err(OutOfRange, f"{op}: {name}={addr:#x} lies past the VA space")


@dataclass
class _Bo:
    level: Level
    base: int
    addr: int
    parent: int  # handle of the parent, 0 for the root
    children: set[int] = field(default_factory=set)


class RefPageTable:
    """Reference model of :class:`vmcore.core.PageTable` (same methods, same errors)."""

    def __init__(self, root_addr: int = 0, max_pts: int = 1 << 16) -> None:
        op = "PageTable"
        _uint(op, "root_addr", root_addr)
        _uint(op, "max_pts", max_pts, 32)
        _check_addr(op, "root_addr", root_addr)
        if not 1 <= max_pts <= MAX_PTS_LIMIT:
            raise _err(LimitExceeded, f"{op}: max_pts={max_pts} is outside 1..{MAX_PTS_LIMIT}")
        self.max_pts = max_pts
        self._next = 1
        self._bos: dict[int, _Bo] = {}
        self._by_va: dict[tuple[int, int], int] = {}  # (level, first VA) -> handle
        self._ptes: dict[int, int] = {}  # page number -> PTE; absent means 0
        self._root = self._new(Level.PDB2, 0, root_addr, 0)
        self._bump = root_addr + PAGE_SIZE
        self._closed = False

    # life cycle -------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> RefPageTable:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _live(self, op: str) -> None:
        if self._closed:
            raise _err(StateError, f"PageTable.{op}: the page table was closed")

    def _new(self, level: Level, base: int, addr: int, parent: int) -> int:
        h = self._next
        self._next += 1
        self._bos[h] = _Bo(level, base, addr, parent)
        self._by_va[(level, base)] = h
        if parent:
            self._bos[parent].children.add(h)
        return h

    def _bo(self, op: str, h: int) -> _Bo:
        bo = self._bos.get(h)
        if bo is None:
            raise _err(BadHandle, f"PageTable.{op}: pt={h:#x} is unknown or freed")
        return bo

    def _table(self, level: int, va: int) -> int | None:
        # (Level members hash and compare as their ints: no conversion needed)
        return self._by_va.get((level, va & ~(level_span(level) - 1)))

    # page-table BOs ---------------------------------------------------------------
    @property
    def root(self) -> int:
        self._live("root")
        return self._root

    def missing(self, va: int, npages: int) -> list[tuple[Level, int]]:
        op = "PageTable.missing"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        self._live("missing")
        _check_range(op, va, npages)
        if npages == 0:
            return []
        end = va + npages * PAGE_SIZE
        need = []
        for level in (Level.PDB1, Level.PDB0, Level.PTB):
            span = level_span(level)
            for base in range(va & ~(span - 1), end, span):
                if (level, base) not in self._by_va:
                    need.append((level, base))
        # top-down, each BO right after its parent: order by first VA, then by depth
        return sorted(need, key=lambda lb: (lb[1], lb[0]))

    def alloc(self, level: int, va: int, addr: int) -> int:
        op = "PageTable.alloc"
        _uint(op, "va", va)
        _uint(op, "addr", addr)
        if isinstance(level, bool) or not isinstance(level, int):
            raise _err(InvalidArgument, f"{op}: level must be a Level, got {level!r}")
        self._live("alloc")
        if level not in (Level.PDB1, Level.PDB0, Level.PTB):
            raise _err(InvalidArgument, f"{op}: level={level} is not one of PDB1, PDB0, PTB")
        _check_range(op, va, 1)
        _check_addr(op, "addr", addr)
        parent = self._table(level - 1, va)
        if parent is None:
            raise _err(MissingPageTable, f"{op}: no level-{level - 1} directory covers va={va:#x}")
        if self._table(level, va) is not None:
            raise _err(BusyError, f"{op}: a level-{level} table already covers va={va:#x}")
        if len(self._bos) >= self.max_pts:
            raise _err(LimitExceeded, f"{op}: max_pts={self.max_pts} page-table BOs already exist")
        return self._new(Level(level), va & ~(level_span(level) - 1), addr, parent)

    def ensure(self, va: int, npages: int, place: Callable[[Level, int], int] | None = None) -> list[int]:
        made = []
        for level, base in self.missing(va, npages):
            if place is None:
                addr = self._bump
                self._bump += PAGE_SIZE
            else:
                addr = place(level, base)
            made.append(self.alloc(level, base, addr))
        return made

    def lookup(self, level: int, va: int) -> int | None:
        op = "PageTable.lookup"
        _uint(op, "va", va)
        self._live("lookup")
        if isinstance(level, bool) or not isinstance(level, int) or level not in tuple(Level):
            raise _err(InvalidArgument, f"{op}: level={level!r} is not a Level")
        if va >= VA_LIMIT:
            raise _err(OutOfRange, f"{op}: va={va:#x} lies past the VA space")
        return self._table(level, va)

    def info(self, pt: int) -> PtInfo:
        _uint("PageTable.info", "pt", pt)
        self._live("info")
        bo = self._bo("info", pt)
        if bo.level == Level.PTB:
            nvalid = sum(pte_is_mapped(pte) for pte in self._ptb_ptes(bo.base))
            nchildren = 0
        else:
            nvalid = 0
            nchildren = len(bo.children)
        return PtInfo(bo.level, bo.base, level_span(bo.level), bo.addr, nchildren, nvalid)

    def _ptb_ptes(self, base: int) -> list[int]:
        """The non-zero PTEs of the PTB at ``base`` (whichever way is fewer lookups)."""
        first = base >> PAGE_SHIFT
        if len(self._ptes) < ENTRIES:
            return [pte for page, pte in self._ptes.items() if first <= page < first + ENTRIES]
        return [pte for pte in map(self._ptes.get, range(first, first + ENTRIES)) if pte]

    def move(self, pt: int, new_addr: int) -> None:
        op = "PageTable.move"
        _uint(op, "pt", pt)
        _uint(op, "new_addr", new_addr)
        self._live("move")
        bo = self._bo("move", pt)
        _check_addr(op, "new_addr", new_addr)
        bo.addr = new_addr

    def free(self, pt: int) -> None:
        op = "PageTable.free"
        _uint(op, "pt", pt)
        self._live("free")
        bo = self._bo("free", pt)
        if not bo.parent:
            raise _err(BusyError, f"{op}: the root PD cannot be freed")
        if bo.children:
            raise _err(BusyError, f"{op}: pt={pt:#x} still has children")
        if bo.level == Level.PTB:
            first = bo.base >> PAGE_SHIFT
            for i in range(ENTRIES):
                self._ptes.pop(first + i, None)
        self._bos[bo.parent].children.discard(pt)
        del self._by_va[(bo.level, bo.base)]
        del self._bos[pt]

    def pts_in_range(self, va: int, npages: int) -> list[int]:
        op = "PageTable.pts_in_range"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        self._live("pts_in_range")
        _check_range(op, va, npages)
        if npages == 0:
            return []
        end = va + npages * PAGE_SIZE
        hits = [
            (bo.base + level_span(bo.level), -bo.level, h)
            for h, bo in self._bos.items()
            if bo.parent and bo.base < end and bo.base + level_span(bo.level) > va
        ]
        # post-order (children before parents, then the next sibling): BOs nest, so
        # sort by where each ends, the deeper first when two end together
        return [h for _, _, h in sorted(hits)]

    # PTEs -------------------------------------------------------------------------
    def _ptb_bases(self, va: int, npages: int) -> list[int]:
        """First VAs of the existing PTBs that intersect the range."""
        end = va + npages * PAGE_SIZE
        span = level_span(Level.PTB)
        return sorted(
            base for (lvl, base) in self._by_va if lvl == Level.PTB and base < end and base + span > va
        )

    def _pages(self, va: int, npages: int) -> list[int]:
        """Page numbers of the range that an existing PTB holds."""
        lo, hi = va >> PAGE_SHIFT, (va >> PAGE_SHIFT) + npages
        out: list[int] = []
        for base in self._ptb_bases(va, npages):
            first = base >> PAGE_SHIFT
            out.extend(range(max(lo, first), min(hi, first + ENTRIES)))
        return out

    def _set(self, page: int, pte: int) -> None:
        if pte:
            self._ptes[page] = pte
        else:
            self._ptes.pop(page, None)

    def map(self, va: int, npages: int, phys: int, flags: int = RW) -> None:
        op = "PageTable.map"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        _uint(op, "phys", phys)
        _uint(op, "flags", flags)
        self._live("map")
        _check_range(op, va, npages)
        if int(flags) & ~FLAGS_ALLOWED:
            raise _err(InvalidArgument, f"{op}: flags={int(flags):#x} holds bits a mapping may not set")
        if phys % PAGE_SIZE:
            raise _err(Misaligned, f"{op}: phys={phys:#x} is not page aligned")
        if phys >= VA_LIMIT or phys + npages * PAGE_SIZE > VA_LIMIT:
            raise _err(OutOfRange, f"{op}: phys={phys:#x} with npages={npages} runs past the end")
        span = level_span(Level.PTB)
        if npages:
            for base in range(va & ~(span - 1), va + npages * PAGE_SIZE, span):
                if (Level.PTB, base) not in self._by_va:
                    raise _err(MissingPageTable, f"{op}: no PTB covers va={base:#x}")
        value = phys | int(flags) | VALID
        first = va >> PAGE_SHIFT
        for i in range(npages):
            self._ptes[first + i] = value + i * PAGE_SIZE

    def _fill(self, va: int, npages: int, value: int) -> None:
        for page in self._pages(va, npages):
            self._set(page, value)

    def unmap(self, va: int, npages: int) -> None:
        op = "PageTable.unmap"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        self._live("unmap")
        _check_range(op, va, npages)
        self._fill(va, npages, 0)

    def invalidate(self, va: int, npages: int, mode: Invalidate = Invalidate.INVALID) -> None:
        op = "PageTable.invalidate"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        self._live("invalidate")
        _check_range(op, va, npages)
        if isinstance(mode, bool) or not isinstance(mode, int) or mode not in tuple(Invalidate):
            raise _err(InvalidArgument, f"{op}: mode={mode!r} is not an Invalidate mode")
        value = {Invalidate.INVALID: 0, Invalidate.SILENT_RETRY: SILENT, Invalidate.NORETRY: NORETRY}
        self._fill(va, npages, value[Invalidate(mode)])

    def protect(self, va: int, npages: int, perms: int) -> None:
        op = "PageTable.protect"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        _uint(op, "perms", perms)
        self._live("protect")
        _check_range(op, va, npages)
        if int(perms) & ~PERM_BITS:
            raise _err(InvalidArgument, f"{op}: perms={int(perms):#x} holds bits other than R/W/X")
        for page in self._pages(va, npages):
            pte = self._ptes.get(page, 0)
            if pte_is_mapped(pte):
                self._set(page, (pte & ~PERM_BITS) | int(perms))

    def _walk(self, va: int, perms: int) -> Walk:
        level = Level.PDB2
        for below in (Level.PDB1, Level.PDB0, Level.PTB):
            if self._table(below, va) is None:
                return Walk(level, WalkReason.NO_TABLE, 0, 0)
            level = below
        w = _classify(self._ptes.get(va >> PAGE_SHIFT, 0), perms)
        if w.ok:
            return Walk(w.level, w.reason, w.pte, w.phys | (va % PAGE_SIZE))
        return w

    def walk(self, va: int, perms: int = 0) -> Walk:
        op = "PageTable.walk"
        _uint(op, "va", va)
        _uint(op, "perms", perms)
        self._live("walk")
        if va >= VA_LIMIT:
            raise _err(OutOfRange, f"{op}: va={va:#x} lies past the VA space")
        if int(perms) & ~PERM_BITS:
            raise _err(InvalidArgument, f"{op}: perms={int(perms):#x} holds bits other than R/W/X")
        return self._walk(va, int(perms))

    def scan(self, va: int, npages: int, perms: int = 0) -> tuple[int, Walk]:
        op = "PageTable.scan"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        _uint(op, "perms", perms)
        self._live("scan")
        _check_range(op, va, npages)
        if int(perms) & ~PERM_BITS:
            raise _err(InvalidArgument, f"{op}: perms={int(perms):#x} holds bits other than R/W/X")
        for i in range(npages):
            w = self._walk(va + i * PAGE_SIZE, int(perms))
            if not w.ok:
                return i, w
        return npages, Walk(Level.PTB, WalkReason.OK, 0, 0)

    def read_ptes(self, va: int, npages: int) -> list[int]:
        op = "PageTable.read_ptes"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        if npages > READ_LIMIT:
            raise _err(LimitExceeded, f"{op}: npages={npages} exceeds {READ_LIMIT}")
        self._live("read_ptes")
        _check_range(op, va, npages)
        first = va >> PAGE_SHIFT
        return [self._ptes.get(first + i, 0) for i in range(npages)]

    def find_phys(self, lo: int, hi: int, system: bool) -> tuple[int, int]:
        op = "PageTable.find_phys"
        _uint(op, "lo", lo)
        _uint(op, "hi", hi)
        self._live("find_phys")
        if lo > hi:
            raise _err(InvalidArgument, f"{op}: lo={lo:#x} lies above hi={hi:#x}")
        vas = [
            page << PAGE_SHIFT
            for page, pte in self._ptes.items()
            if pte_is_mapped(pte) and lo <= pte & ADDR_MASK < hi and bool(pte & SYSTEM) == bool(system)
        ]
        return len(vas), min(vas, default=0)

    def find_phys_in(self, va: int, npages: int, lo: int, hi: int, system: bool) -> tuple[int, int]:
        op = "PageTable.find_phys_in"
        _uint(op, "va", va)
        _uint(op, "npages", npages)
        _uint(op, "lo", lo)
        _uint(op, "hi", hi)
        self._live("find_phys_in")
        if lo > hi:
            raise _err(InvalidArgument, f"{op}: lo={lo:#x} lies above hi={hi:#x}")
        _check_range(op, va, npages)
        vas = [
            page << PAGE_SHIFT
            for page in self._pages(va, npages)
            if pte_is_mapped(pte := self._ptes.get(page, 0))
            and lo <= pte & ADDR_MASK < hi
            and bool(pte & SYSTEM) == bool(system)
        ]
        return len(vas), min(vas, default=0)

    @property
    def counters(self) -> PtCounters:
        self._live("counters")
        valid = sum(pte_is_mapped(p) for p in self._ptes.values())
        return PtCounters(valid, len(self._bos), len(self._bos) * ENTRIES * 8)
