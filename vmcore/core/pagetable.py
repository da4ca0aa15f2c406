"""gfx9 GPU page tables of one VM, kept in the C core (``pt.c``).

No Python object exists per PTE: ranges are mapped, invalidated and scanned in one call,
and bulk reads come back as an ``array('Q')``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any, Final

from vmcore._core import ffi, lib
from vmcore.core._status import U64_MAX, CoreObject, check, fail, uint
from vmcore.core.pt_types import (  # re-exported: the names were always here
    ENTRIES_PER_PT,
    PAGE_SHIFT,
    PAGE_SIZE,
    PDE_ADDR_MASK,
    PERMS,
    PTE_ADDR_MASK,
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
from vmcore.errors import StateError

_LEVELS: Final = {int(x): x for x in Level}
_REASONS: Final = {int(x): x for x in WalkReason}

def _walk(w: Any) -> Walk:
    # dict lookups, not enum calls: this runs once per walk on the fault path
    return Walk(_LEVELS[w.level], _REASONS[w.reason], w.pte, w.phys)


_SCANNED: Final = Walk(Level.PTB, WalkReason.OK, 0, 0)
"""What :meth:`PageTable.scan` gives when every page translates (the core writes just this)."""


def _c_int(value: object) -> int:
    """``value`` as a C ``int`` argument, or -1 (which no level or mode takes) when it is
    not an integer or does not fit: the C call then rejects it in its usual order instead
    of cffi raising OverflowError or TypeError."""
    if isinstance(value, int) and not isinstance(value, bool) and -(1 << 31) <= value < 1 << 31:
        return value
    return -1


class PageTable(CoreObject):
    """The page tables of one VM: a root PD (PDB2) and the PD/PT BOs below it.

    ``root_addr`` is where the root PD lives; ``max_pts`` bounds the number of page-table
    BOs (root included).  Page-table BOs are allocated explicitly (:meth:`alloc`, or
    :meth:`ensure` for a whole range), as ``amdgpu_vm_pt_alloc`` does, so a caller can
    decide where each one lives and what its allocation waits for.
    """

    __slots__ = ("_bump", "_info", "_u64", "_vm", "_walk")

    def __init__(self, root_addr: int = 0, max_pts: int = 1 << 16) -> None:
        op = "PageTable"
        uint(op, "root_addr", root_addr)
        uint(op, "max_pts", max_pts, 32)
        out = ffi.new("vmc_vm **")
        st = lib.vmc_vm_create(root_addr, max_pts, out)
        if st:
            check(st, op, root_addr=root_addr, max_pts=max_pts)
        self._vm: Any = out[0]
        self._walk: Any = ffi.new("vmc_walk *")
        self._u64: Any = ffi.new("uint64_t[2]")
        """Scratch outputs of the calls that return one or two counts or handles."""
        self._info: Any = ffi.new("vmc_pt_info *")
        self._bump = root_addr + PAGE_SIZE

    # life cycle -------------------------------------------------------------------
    def close(self) -> None:
        """Destroy the VM's page tables; later calls raise :class:`StateError`."""
        # getattr: __del__ runs close() even when __init__ raised before _vm was set.
        if getattr(self, "_vm", None) is not None:
            lib.vmc_vm_destroy(self._vm)
            self._vm = None

    def _h(self, op: str) -> Any:
        if self._vm is None:
            raise StateError(f"PageTable.{op}: the page table was closed", lib.VMC_E_STATE)
        return self._vm

    # page-table BOs ---------------------------------------------------------------
    @property
    def root(self) -> int:
        """Handle of the root PD."""
        out = ffi.new("uint64_t *")
        st = lib.vmc_vm_root(self._h("root"), out)
        if st:
            check(st, "PageTable.root")
        return int(out[0])

    def missing(self, va: int, npages: int) -> list[tuple[Level, int]]:
        """The (level, first VA) of each PD/PT BO missing to cover the range, top-down."""
        op = "PageTable.missing"
        if not (
            type(va) is type(npages) is int and 0 <= va <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
        n = ffi.new("size_t *")
        vm = self._h("missing")
        st = lib.vmc_vm_missing(vm, va, npages, ffi.NULL, ffi.NULL, 0, n)
        if st:
            check(st, op, va=va, npages=npages)
        count = int(n[0])
        if count == 0:
            return []
        levels = ffi.new("int[]", count)
        vas = ffi.new("uint64_t[]", count)
        st = lib.vmc_vm_missing(vm, va, npages, levels, vas, count, n)
        if st:
            check(st, op, va=va, npages=npages)
        return [(Level(levels[i]), int(vas[i])) for i in range(count)]

    def alloc(self, level: int, va: int, addr: int) -> int:
        """Allocate the PD/PT BO of ``level`` covering ``va``, living at ``addr``."""
        op = "PageTable.alloc"
        if not (
            type(va) is type(addr) is int and 0 <= va <= U64_MAX and 0 <= addr <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "addr", addr)
        if isinstance(level, bool) or not isinstance(level, int):
            raise fail(lib.VMC_E_INVAL, op, "level must be a Level", level=level)
        out = self._u64
        st = lib.vmc_pt_alloc(self._h("alloc"), _c_int(level), va, addr, out)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"level={level} is not one of PDB1, PDB0, PTB", level=level)
        if st:
            check(st, op, level=level, va=va, addr=addr)
        return int(out[0])

    def ensure(self, va: int, npages: int, place: Callable[[Level, int], int] | None = None) -> list[int]:
        """Allocate every PD/PT BO missing for the range; return their handles.

        ``place(level, va)`` gives the address of each new BO; by default they are laid
        out one page apart after the root PD.
        """
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
        """Handle of the PD/PT BO of ``level`` covering ``va``, or ``None``."""
        op = "PageTable.lookup"
        if type(va) is not int or not 0 <= va <= U64_MAX:  # the common case in one test
            uint(op, "va", va)
        out = self._u64
        st = lib.vmc_pt_lookup(self._h("lookup"), _c_int(level), va, out)
        if st == lib.VMC_E_MISSING:
            return None
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"level={level!r} is not a Level", level=level)
        if st:
            check(st, op, level=level, va=va)
        return int(out[0])

    def info(self, pt: int) -> PtInfo:
        op = "PageTable.info"
        uint(op, "pt", pt)
        out = self._info
        st = lib.vmc_pt_info_get(self._h("info"), pt, out)
        if st:
            check(st, op, pt=pt)
        return PtInfo(
            Level(out.level),
            int(out.va_base),
            int(out.va_span),
            int(out.addr),
            int(out.nchildren),
            int(out.nvalid),
        )

    def move(self, pt: int, new_addr: int) -> None:
        """Move a PD/PT BO (the root PD too); its parent PDE follows."""
        op = "PageTable.move"
        if not (
            type(pt) is type(new_addr) is int and 0 <= pt <= U64_MAX and 0 <= new_addr <= U64_MAX
        ):  # the common case in one test
            uint(op, "pt", pt)
            uint(op, "new_addr", new_addr)
        st = lib.vmc_pt_move(self._h("move"), pt, new_addr)
        if st:
            check(st, op, pt=pt, new_addr=new_addr)

    def free(self, pt: int) -> None:
        """Free a PD/PT BO without children (never the root PD); its PTEs are lost."""
        op = "PageTable.free"
        uint(op, "pt", pt)
        st = lib.vmc_pt_free(self._h("free"), pt)
        if st == lib.VMC_E_BUSY:
            raise fail(st, op, "the root PD, or a directory that still has children", pt=pt)
        if st:
            check(st, op, pt=pt)

    def pts_in_range(self, va: int, npages: int) -> list[int]:
        """PD/PT BOs (not the root) intersecting the range, children before parents."""
        op = "PageTable.pts_in_range"
        if not (
            type(va) is type(npages) is int and 0 <= va <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
        vm = self._h("pts_in_range")
        n = ffi.new("size_t *")
        st = lib.vmc_vm_pts_in_range(vm, va, npages, ffi.NULL, 0, n)
        if st:
            check(st, op, va=va, npages=npages)
        count = int(n[0])
        if not count:
            return []
        out = ffi.new("uint64_t[]", count)
        st = lib.vmc_vm_pts_in_range(vm, va, npages, out, count, n)
        if st:
            check(st, op, va=va, npages=npages)
        return [int(out[i]) for i in range(count)]

    # PTEs -------------------------------------------------------------------------
    def map(self, va: int, npages: int, phys: int, flags: int = RW) -> None:
        """Write ``npages`` valid PTEs pointing at ``phys`` onwards, with ``flags``."""
        op = "PageTable.map"
        if not (
            type(va) is type(npages) is type(phys) is type(flags) is int
            and 0 <= va <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= phys <= U64_MAX
            and 0 <= flags <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
            uint(op, "phys", phys)
            uint(op, "flags", flags)
        st = lib.vmc_vm_map(self._h("map"), va, npages, int(flags), phys)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"flags={int(flags):#x} holds bits a mapping may not set", flags=flags)
        end = npages * PAGE_SIZE
        if st == lib.VMC_E_RANGE and va + end <= VA_LIMIT < phys + end and phys < VA_LIMIT:
            # the VA range fits, so it is the physical range that runs off the end; the
            # generic message would blame va
            raise fail(
                st,
                op,
                f"phys={phys:#x} with npages={npages} ends at {phys + end:#x}, "
                "past the 48-bit address space (0x1_0000_0000_0000)",
                va=va,
                npages=npages,
                phys=phys,
            )
        if st:
            check(st, op, va=va, npages=npages, phys=phys)

    def unmap(self, va: int, npages: int) -> None:
        """Clear the PTEs of the range (missing page tables are skipped)."""
        op = "PageTable.unmap"
        if not (
            type(va) is type(npages) is int and 0 <= va <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
        st = lib.vmc_vm_unmap(self._h("unmap"), va, npages)
        if st:
            check(st, op, va=va, npages=npages)

    def invalidate(self, va: int, npages: int, mode: Invalidate = Invalidate.INVALID) -> None:
        """Invalidate the PTEs of the range into ``mode``."""
        op = "PageTable.invalidate"
        if not (
            type(va) is type(npages) is int and 0 <= va <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
        st = lib.vmc_vm_invalidate(self._h("invalidate"), va, npages, _c_int(mode))
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"mode={mode!r} is not an Invalidate mode", mode=mode)
        if st:
            check(st, op, va=va, npages=npages)

    def protect(self, va: int, npages: int, perms: int) -> None:
        """Set the R/W/X bits of the valid PTEs in the range to ``perms``."""
        op = "PageTable.protect"
        if not (
            type(va) is type(npages) is type(perms) is int
            and 0 <= va <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= perms <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
            uint(op, "perms", perms)
        st = lib.vmc_vm_protect(self._h("protect"), va, npages, int(perms))
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"perms={int(perms):#x} holds bits other than R/W/X", perms=perms)
        if st:
            check(st, op, va=va, npages=npages)

    def walk(self, va: int, perms: int = 0) -> Walk:
        """Translate ``va`` as the GPU would, asking for ``perms``."""
        op = "PageTable.walk"
        if not (
            type(va) is type(perms) is int and 0 <= va <= U64_MAX and 0 <= perms <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "perms", perms)
        st = lib.vmc_vm_walk(
            self._vm if self._vm is not None else self._h("walk"), va, int(perms), self._walk
        )
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"perms={int(perms):#x} holds bits other than R/W/X", va=va, perms=perms)
        if st:
            check(st, op, va=va, perms=perms)
        return _walk(self._walk)

    def translates(self, va: int, perms: int = 0) -> bool:
        """Does ``va`` translate with ``perms``?  (:meth:`walk` without building a Walk:
        the fault handler asks this for every fault.)"""
        vm = self._vm
        if vm is not None and type(va) is int and type(perms) is int and 0 <= va <= U64_MAX and 0 <= perms <= U64_MAX:
            got = lib.vmc_vm_translates(vm, va, perms)
            if got >= 0:
                return bool(got)
        return self.walk(va, perms).ok  # the full checks and their errors

    def scan(self, va: int, npages: int, perms: int = 0) -> tuple[int, Walk]:
        """Walk pages in order: (index of the first that does not translate, its walk).

        The index is ``npages`` when every page translates.
        """
        op = "PageTable.scan"
        if not (
            type(va) is type(npages) is type(perms) is int
            and 0 <= va <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= perms <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
            uint(op, "perms", perms)
        idx = self._u64
        st = lib.vmc_vm_scan(self._h("scan"), va, npages, int(perms), idx, self._walk)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"perms={int(perms):#x} holds bits other than R/W/X", perms=perms)
        if st:
            check(st, op, va=va, npages=npages, perms=perms)
        got = int(idx[0])
        return got, _SCANNED if got == npages else _walk(self._walk)

    def translating_prefix(self, vas: array[int], perms: array[int]) -> int:
        """How many leading pairs ``(vas[i], perms[i])`` translate (:meth:`translates` is
        True for each); the first that does not, or whose arguments :meth:`walk` would
        reject, ends the count.  One core call for a batch: the fault handler's
        fast-forward asks it for the faults queued in an IH ring."""
        op = "PageTable.translating_prefix"
        if not (isinstance(vas, array) and isinstance(perms, array) and vas.typecode == perms.typecode == "Q"):
            raise fail(lib.VMC_E_INVAL, op, "vas and perms must be array('Q')")
        if len(vas) != len(perms):
            raise fail(lib.VMC_E_INVAL, op, f"{len(vas)} addresses but {len(perms)} permission sets")
        n = len(vas)
        if not n:
            return 0
        out = self._u64
        st = lib.vmc_vm_translating_prefix(
            self._h("translating_prefix"), ffi.from_buffer("uint64_t[]", vas), ffi.from_buffer("uint64_t[]", perms), n, out
        )
        if st:
            check(st, op)
        return int(out[0])

    def read_ptes(self, va: int, npages: int) -> array[int]:
        """The raw PTEs of the range (0 where no page table exists)."""
        op = "PageTable.read_ptes"
        if not (
            type(va) is type(npages) is int and 0 <= va <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
        if npages > READ_LIMIT:
            raise fail(
                lib.VMC_E_LIMIT,
                op,
                f"npages={npages} exceeds the {READ_LIMIT}-page read limit",
                va=va,
                npages=npages,
            )
        out = array("Q", bytes(8 * npages))
        buf = ffi.from_buffer("uint64_t[]", out)
        st = lib.vmc_vm_read_ptes(self._h("read_ptes"), va, npages, buf)
        if st:
            check(st, op, va=va, npages=npages)
        return out

    def find_phys(self, lo: int, hi: int, system: bool) -> tuple[int, int]:
        """(count, lowest VA) of mapped PTEs whose address is in [lo, hi) of that domain."""
        op = "PageTable.find_phys"
        if not (
            type(lo) is type(hi) is int and 0 <= lo <= U64_MAX and 0 <= hi <= U64_MAX
        ):  # the common case in one test
            uint(op, "lo", lo)
            uint(op, "hi", hi)
        count = self._u64
        first = self._u64 + 1
        st = lib.vmc_vm_find_phys(self._h("find_phys"), lo, hi, int(bool(system)), count, first)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"lo={lo:#x} lies above hi={hi:#x}", lo=lo, hi=hi)
        if st:
            check(st, op, lo=lo, hi=hi)
        return int(count[0]), int(first[0])

    @property
    def counters(self) -> PtCounters:
        """Valid PTEs, resident page-table BOs and the bytes they use."""
        a = ffi.new("uint64_t[3]")
        st = lib.vmc_vm_counters(self._h("counters"), a, a + 1, a + 2)
        if st:
            check(st, "PageTable.counters")
        return PtCounters(int(a[0]), int(a[1]), int(a[2]))

    def find_phys_in(self, va: int, npages: int, lo: int, hi: int, system: bool) -> tuple[int, int]:
        """Like :meth:`find_phys`, looking only at the PTEs of [va, va + npages pages)."""
        op = "PageTable.find_phys_in"
        if not (
            type(va) is type(npages) is type(lo) is type(hi) is int
            and 0 <= va <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= lo <= U64_MAX
            and 0 <= hi <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
            uint(op, "lo", lo)
            uint(op, "hi", hi)
        count = self._u64
        first = self._u64 + 1
        st = lib.vmc_vm_find_phys_in(
            self._h("find_phys_in"), va, npages, lo, hi, int(bool(system)), count, first
        )
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"lo={lo:#x} lies above hi={hi:#x}", lo=lo, hi=hi)
        if st:
            check(st, op, va=va, npages=npages, lo=lo, hi=hi)
        return int(count[0]), int(first[0])


__all__ = [
    "ENTRIES_PER_PT",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PDE_ADDR_MASK",
    "PERMS",
    "PTE_ADDR_MASK",
    "READ_LIMIT",
    "RW",
    "VA_LIMIT",
    "Invalidate",
    "Level",
    "PageTable",
    "PtCounters",
    "PtInfo",
    "Pte",
    "Walk",
    "WalkReason",
]
