"""Page tables in the C core (pt.c through vmcore.core.PageTable).

Unit tests pin down the gfx9 layout, the PTE encodings, range operations, walks, the
page-table BO life cycle and the error for each kind of bad input; a stateful
hypothesis test then drives the C core and the pure-Python model in ``ref_pt`` side by
side and compares everything observable after every step.
"""

from __future__ import annotations

import gc
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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

from tests.core.ref_pt import RefPageTable
from vmcore.core import PAGE_SIZE, Invalidate, Level, PageTable, PtCounters, Pte, PtInfo, Walk, WalkReason
from vmcore.core.pagetable import (
    ENTRIES_PER_PT,
    PAGE_SHIFT,
    PDE_ADDR_MASK,
    PERMS,
    PTE_ADDR_MASK,
    READ_LIMIT,
    RW,
    VA_LIMIT,
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
    VmcoreError,
)

P = PAGE_SIZE
PTB_SPAN = 1 << 21  # VA one PTB covers (one PDB0 entry)
PDB0_SPAN = 1 << 30  # one PDB1 entry
PDB1_SPAN = 1 << 39  # one PDB2 entry
ALL_PAGES = VA_LIMIT >> PAGE_SHIFT
VA = 0x1_0000_0000  # 4 GiB: PDB2 entry 0, PDB1 entry 4
PHYS = 0x80_0000
ROOT_ADDR = 0x10_0000
SILENT = Pte.VALID | Pte.SYSTEM | Pte.SNOOPED
NORETRY = Pte.EXECUTABLE | Pte.PDE_PTE | Pte.TF
ALL_VA = (0, ALL_PAGES)


def shown(name: str, value: object) -> str:
    """How an error message shows ``name=value`` (hex for all but tiny integers)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 9:
        return f"{name}={value:#x}" if value >= 0 else f"{name}=-{-value:#x}"
    return f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"


def raises(cls: type[CoreError], fn: Callable[[], object], *names: str) -> CoreError:
    """Call ``fn``; it must raise exactly ``cls`` with a message containing each of ``names``."""
    with pytest.raises(VmcoreError) as info:
        fn()
    err = info.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert isinstance(err, CoreError) and err.status != 0
    for name in names:
        assert name in str(err), f"{name!r} not in {str(err)!r}"
    return err


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


@pytest.fixture
def pt() -> Iterator[PageTable]:
    with PageTable(root_addr=ROOT_ADDR) as t:
        yield t


def ptes(pt: PageTable, va: int, npages: int) -> list[int]:
    return list(pt.read_ptes(va, npages))


# ---- gfx9 layout -----------------------------------------------------------------


def test_layout_constants() -> None:
    assert (P, PAGE_SHIFT, ENTRIES_PER_PT, VA_LIMIT) == (4096, 12, 512, 1 << 48)
    assert [(lv.name, int(lv)) for lv in Level] == [("PDB2", 0), ("PDB1", 1), ("PDB0", 2), ("PTB", 3)]
    assert sum(1 << b for b in range(12, 48)) == PTE_ADDR_MASK
    assert sum(1 << b for b in range(6, 48)) == PDE_ADDR_MASK


def test_each_level_covers_nine_bits(pt: PageTable) -> None:
    va = 3 * PDB1_SPAN + 5 * PDB0_SPAN + 7 * PTB_SPAN + 9 * P
    made = pt.ensure(va, 1)
    infos = [pt.info(h) for h in made]
    assert [(i.level, i.va_base, i.va_span) for i in infos] == [
        (Level.PDB1, 3 * PDB1_SPAN, 1 << 39),
        (Level.PDB0, 3 * PDB1_SPAN + 5 * PDB0_SPAN, 1 << 30),
        (Level.PTB, 3 * PDB1_SPAN + 5 * PDB0_SPAN + 7 * PTB_SPAN, 1 << 21),
    ]
    # default placement: one page apart after the root PD
    assert [i.addr for i in infos] == [ROOT_ADDR + P, ROOT_ADDR + 2 * P, ROOT_ADDR + 3 * P]
    assert [(i.nchildren, i.nvalid) for i in infos] == [(1, 0), (1, 0), (0, 0)]
    root = pt.info(pt.root)
    assert (root.level, root.va_base, root.va_span, root.addr, root.nchildren) == (
        Level.PDB2,
        0,
        1 << 48,
        ROOT_ADDR,
        1,
    )
    for level, h in zip((Level.PDB1, Level.PDB0, Level.PTB), made, strict=True):
        assert pt.lookup(level, va) == h
        # the last VA of the BO's span still selects it; the next one does not
        last = pt.info(h).va_base + pt.info(h).va_span - 1
        assert pt.lookup(level, last) == h
        assert pt.lookup(level, last + 1) is None


@pytest.mark.parametrize(
    ("bit", "level"),
    [
        (12, None),
        (20, None),
        (21, Level.PDB0),
        (29, Level.PDB0),
        (30, Level.PDB1),
        (38, Level.PDB1),
        (39, Level.PDB2),
        (47, Level.PDB2),
    ],
)
def test_va_bits_select_the_level_entry(pt: PageTable, bit: int, level: Level | None) -> None:
    """Flipping one VA bit changes the entry of exactly the level that owns the bit."""
    va = PDB1_SPAN + PDB0_SPAN + PTB_SPAN
    pt.ensure(va, 1)
    pt.map(va, 1, PHYS)
    w = pt.walk(va ^ (1 << bit))
    if level is None:  # a PTB index bit: same PTB, an entry that was never written
        assert w == Walk(Level.PTB, WalkReason.INVALID, 0, 0)
    else:
        assert w == Walk(level, WalkReason.NO_TABLE, 0, 0)
    assert pt.walk(va).phys == PHYS


def test_missing_lists_bos_top_down(pt: PageTable) -> None:
    va = PDB1_SPAN - 2 * P  # four pages straddling a PDB2 entry boundary
    assert pt.missing(va, 4) == [
        (Level.PDB1, 0),
        (Level.PDB0, PDB1_SPAN - PDB0_SPAN),
        (Level.PTB, PDB1_SPAN - PTB_SPAN),
        (Level.PDB1, PDB1_SPAN),
        (Level.PDB0, PDB1_SPAN),
        (Level.PTB, PDB1_SPAN),
    ]
    made = pt.ensure(va, 4)
    assert len(made) == 6
    assert pt.missing(va, 4) == []
    assert pt.missing(va, 0) == []
    pt.free(made[-1])
    assert pt.missing(va, 4) == [(Level.PTB, PDB1_SPAN)]


def test_ensure_places_bos_where_told(pt: PageTable) -> None:
    seen: list[tuple[Level, int]] = []

    def place(level: Level, base: int) -> int:
        seen.append((level, base))
        return 0x4000_0000 + int(level) * P

    made = pt.ensure(VA, 1, place)
    assert seen == [(Level.PDB1, 0), (Level.PDB0, VA), (Level.PTB, VA)]
    assert [pt.info(h).addr for h in made] == [0x4000_1000, 0x4000_2000, 0x4000_3000]
    assert pt.ensure(VA, 1, place) == []


# ---- PTE encoding ------------------------------------------------------------------


def test_pte_bit_positions() -> None:
    bits = {
        Pte.VALID: 0,
        Pte.SYSTEM: 1,
        Pte.SNOOPED: 2,
        Pte.TMZ: 3,
        Pte.EXECUTABLE: 4,
        Pte.READABLE: 5,
        Pte.WRITEABLE: 6,
        Pte.PRT: 51,
        Pte.PDE_PTE: 54,
        Pte.LOG: 55,
        Pte.TF: 56,
    }
    for flag, bit in bits.items():
        assert int(flag) == 1 << bit, flag.name


@pytest.mark.parametrize(
    ("flag", "bit"),
    [
        (Pte.SYSTEM, 1),
        (Pte.SNOOPED, 2),
        (Pte.TMZ, 3),
        (Pte.EXECUTABLE, 4),
        (Pte.READABLE, 5),
        (Pte.WRITEABLE, 6),
        (Pte(0), None),
    ],
)
def test_map_encodes_flag_bits(pt: PageTable, flag: Pte, bit: int | None) -> None:
    pt.ensure(VA, 1)
    pt.map(VA, 1, PHYS, flag)
    extra = 0 if bit is None else 1 << bit
    assert ptes(pt, VA, 1) == [PHYS | extra | 1]


def test_map_writes_consecutive_addresses_across_ptbs(pt: PageTable) -> None:
    va = VA + PTB_SPAN - 3 * P
    pt.ensure(va, 6)
    pt.map(va, 6, PHYS, RW | Pte.SYSTEM)
    assert ptes(pt, va, 6) == [PHYS + i * P | 0x63 for i in range(6)]
    assert pt.counters.valid_ptes == 6
    assert [pt.info(h).nvalid for h in pt.pts_in_range(va, 6) if pt.info(h).level == Level.PTB] == [3, 3]


def test_map_address_field_is_bits_12_to_47(pt: PageTable) -> None:
    phys = VA_LIMIT - 2 * P  # the two highest page frames
    pt.ensure(VA, 2)
    pt.map(VA, 2, phys, Pte.READABLE)
    got = ptes(pt, VA, 2)
    assert [p & PTE_ADDR_MASK for p in got] == [phys, phys + P]
    assert all(p >> 48 == 0 for p in got)
    assert pt.walk(VA + P + 0xABC, Pte.READABLE).phys == phys + P + 0xABC


def test_map_fragment_field_is_kept(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.map(VA, 1, PHYS, Pte.READABLE | 0x200)  # fragment 4 in bits 7-11
    assert ptes(pt, VA, 1) == [PHYS | 0x200 | 0x21]


@pytest.mark.parametrize(
    ("mode", "pte", "reason"),
    [
        (Invalidate.INVALID, 0, WalkReason.INVALID),
        (Invalidate.SILENT_RETRY, 0x7, WalkReason.SILENT_RETRY),
        (Invalidate.NORETRY, (1 << 4) | (1 << 54) | (1 << 56), WalkReason.NORETRY),
    ],
)
def test_invalidate_modes(pt: PageTable, mode: Invalidate, pte: int, reason: WalkReason) -> None:
    pt.ensure(VA, 4)
    pt.map(VA, 4, PHYS, RW | Pte.EXECUTABLE)
    pt.invalidate(VA + P, 2, mode)
    mapped = [PHYS | 0x71, PHYS + 3 * P | 0x71]
    assert ptes(pt, VA, 4) == [mapped[0], pte, pte, mapped[1]]
    assert pt.walk(VA + P, Pte.READABLE) == Walk(Level.PTB, reason, pte, 0)
    assert pt.walk(VA + 2 * P) == Walk(Level.PTB, reason, pte, 0)  # no permission asked
    assert pt.walk(VA + 3 * P, RW).reason is WalkReason.OK
    assert pt.counters.valid_ptes == 2
    ptb = pt.lookup(Level.PTB, VA)
    assert ptb is not None and pt.info(ptb).nvalid == 2
    assert pt.find_phys(0, VA_LIMIT, False) == (2, VA)
    # mapping again makes the entries count again
    pt.map(VA + P, 2, PHYS, Pte.READABLE)
    assert pt.counters.valid_ptes == 4 and pt.info(ptb).nvalid == 4


def test_silent_retry_entry_is_the_exact_encoding(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.invalidate(VA, 1, Invalidate.SILENT_RETRY)
    (pte,) = ptes(pt, VA, 1)
    assert pte == SILENT == 0x7
    assert pte & PTE_ADDR_MASK == 0 and pte & PERMS == 0
    assert pt.counters.valid_ptes == 0


def test_noretry_entry_is_the_exact_encoding(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.invalidate(VA, 1, Invalidate.NORETRY)
    assert ptes(pt, VA, 1) == [int(NORETRY)]
    assert not ptes(pt, VA, 1)[0] & Pte.VALID
    assert pt.counters.valid_ptes == 0


def test_invalidate_accepts_plain_int_modes(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.invalidate(VA, 1, 1)  # type: ignore[arg-type]
    assert ptes(pt, VA, 1) == [0x7]


# ---- range operations ----------------------------------------------------------------


def test_map_needs_every_ptb_and_writes_nothing_without_them(pt: PageTable) -> None:
    va = VA + PTB_SPAN - 2 * P
    pt.ensure(va, 2)  # the first PTB only
    raises(MissingPageTable, lambda: pt.map(va, 4, PHYS), shown("va", va), "npages=4")
    assert ptes(pt, va, 4) == [0, 0, 0, 0]
    assert pt.counters.valid_ptes == 0


def test_map_zero_pages_is_a_no_op(pt: PageTable) -> None:
    pt.map(VA + P, 0, PHYS)  # no table needed for nothing
    assert pt.counters.valid_ptes == 0


def test_unmap_clears_and_skips_missing_tables(pt: PageTable) -> None:
    pt.ensure(VA, 8)
    pt.map(VA, 8, PHYS)
    pt.unmap(VA + 2 * P, 4)
    got = ptes(pt, VA, 8)
    assert [p != 0 for p in got] == [True, True, False, False, False, False, True, True]
    assert got[7] == PHYS + 7 * P | 0x61
    assert pt.counters.valid_ptes == 4
    # a range reaching over missing tables: the present part is cleared, no error
    pt.unmap(VA - PTB_SPAN, 512 + 1)
    assert ptes(pt, VA, 2) == [0, PHYS + P | 0x61]
    pt.unmap(3 * PDB1_SPAN, 1000)
    pt.invalidate(3 * PDB1_SPAN, 1000, Invalidate.SILENT_RETRY)
    pt.protect(3 * PDB1_SPAN, 1000, 0)
    assert pt.counters.valid_ptes == 3
    assert pt.counters.resident_pts == 4


def test_protect_replaces_perms_of_mapped_entries_only(pt: PageTable) -> None:
    pt.ensure(VA, 4)
    pt.map(VA, 4, PHYS, Pte.SYSTEM | Pte.SNOOPED | Pte.EXECUTABLE | Pte.READABLE | 0x80)
    pt.invalidate(VA + P, 1, Invalidate.SILENT_RETRY)
    pt.invalidate(VA + 2 * P, 1, Invalidate.NORETRY)
    pt.unmap(VA + 3 * P, 1)
    pt.protect(VA, 4, Pte.WRITEABLE)
    assert ptes(pt, VA, 4) == [PHYS | 0x80 | 0x47, 0x7, int(NORETRY), 0]
    assert pt.walk(VA, Pte.WRITEABLE).ok
    assert pt.walk(VA, Pte.READABLE).reason is WalkReason.PERMISSION
    assert pt.counters.valid_ptes == 1


def test_protect_to_no_perms_can_yield_a_silent_retry_entry(pt: PageTable) -> None:
    """A SYSTEM|SNOOPED mapping of address 0 stripped of R/W/X *is* the silent-retry
    encoding; the valid-PTE counts must follow what the table now holds."""
    pt.ensure(VA, 2)
    pt.map(VA, 2, 0, Pte.SYSTEM | Pte.SNOOPED | Pte.READABLE)
    assert pt.counters.valid_ptes == 2
    pt.protect(VA, 2, 0)
    assert ptes(pt, VA, 2) == [0x7, P | 0x7]
    assert pt.walk(VA).reason is WalkReason.SILENT_RETRY
    assert pt.walk(VA + P).ok
    ptb = pt.lookup(Level.PTB, VA)
    assert ptb is not None
    assert pt.counters.valid_ptes == 1 and pt.info(ptb).nvalid == 1
    assert pt.find_phys(0, VA_LIMIT, True) == (1, VA + P)
    pt.unmap(VA, 2)
    assert pt.counters.valid_ptes == 0 and pt.info(ptb).nvalid == 0


def test_map_of_the_silent_encoding_is_not_counted(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.map(VA, 1, 0, Pte.SYSTEM | Pte.SNOOPED)
    assert pt.walk(VA).reason is WalkReason.SILENT_RETRY
    assert pt.counters.valid_ptes == 0


# ---- walks ------------------------------------------------------------------------------


def test_walk_stops_at_the_first_missing_pde(pt: PageTable) -> None:
    assert pt.walk(VA) == Walk(Level.PDB2, WalkReason.NO_TABLE, 0, 0)
    pt.alloc(Level.PDB1, VA, 0x20_0000)
    assert pt.walk(VA) == Walk(Level.PDB1, WalkReason.NO_TABLE, 0, 0)
    pt.alloc(Level.PDB0, VA, 0x21_0000)
    assert pt.walk(VA) == Walk(Level.PDB0, WalkReason.NO_TABLE, 0, 0)
    pt.alloc(Level.PTB, VA, 0x22_0000)
    assert pt.walk(VA) == Walk(Level.PTB, WalkReason.INVALID, 0, 0)


def test_walk_ok_and_permission(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.map(VA, 1, PHYS, Pte.READABLE | Pte.EXECUTABLE)
    pte = PHYS | 0x31
    assert pt.walk(VA + 0x123, Pte.READABLE) == Walk(Level.PTB, WalkReason.OK, pte, PHYS + 0x123)
    assert pt.walk(VA + 0xFFF) == Walk(Level.PTB, WalkReason.OK, pte, PHYS + 0xFFF)
    assert pt.walk(VA, Pte.READABLE | Pte.EXECUTABLE).ok
    assert pt.walk(VA, Pte.WRITEABLE) == Walk(Level.PTB, WalkReason.PERMISSION, pte, 0)
    assert pt.walk(VA, RW) == Walk(Level.PTB, WalkReason.PERMISSION, pte, 0)


def test_scan_all_translate(pt: PageTable) -> None:
    va = VA + PTB_SPAN - 5 * P
    pt.ensure(va, 10)
    pt.map(va, 10, PHYS, RW)
    done = Walk(Level.PTB, WalkReason.OK, 0, 0)
    assert pt.scan(va, 10, RW) == (10, done)
    assert pt.scan(va, 0, RW) == (0, done)
    assert pt.scan(va, 11, RW) == (10, Walk(Level.PTB, WalkReason.INVALID, 0, 0))


@pytest.mark.parametrize("reason", [r for r in WalkReason if r is not WalkReason.OK])
def test_scan_reports_the_first_failing_page(pt: PageTable, reason: WalkReason) -> None:
    va = VA + PTB_SPAN - 4 * P  # pages 0-3 in one PTB, 4-7 in the next
    pt.ensure(va, 8)
    pt.map(va, 8, PHYS, RW)
    k = 5
    if reason is WalkReason.NO_TABLE:
        ptb = pt.lookup(Level.PTB, va + 4 * P)
        assert ptb is not None
        pt.free(ptb)
        k = 4
        expect = Walk(Level.PDB0, reason, 0, 0)
    elif reason is WalkReason.INVALID:
        pt.unmap(va + k * P, 2)
        expect = Walk(Level.PTB, reason, 0, 0)
    elif reason is WalkReason.SILENT_RETRY:
        pt.invalidate(va + k * P, 2, Invalidate.SILENT_RETRY)
        expect = Walk(Level.PTB, reason, 0x7, 0)
    elif reason is WalkReason.NORETRY:
        pt.invalidate(va + k * P, 2, Invalidate.NORETRY)
        expect = Walk(Level.PTB, reason, int(NORETRY), 0)
    else:
        pt.protect(va + k * P, 2, Pte.READABLE)
        expect = Walk(Level.PTB, reason, PHYS + k * P | 0x21, 0)
    assert pt.scan(va, 8, RW) == (k, expect)
    assert pt.walk(va + k * P, RW) == expect
    assert pt.scan(va, k, RW)[0] == k


def test_scan_without_tables_stops_at_page_zero(pt: PageTable) -> None:
    assert pt.scan(VA, 1000) == (0, Walk(Level.PDB2, WalkReason.NO_TABLE, 0, 0))


def test_find_phys(pt: PageTable) -> None:
    pt.ensure(VA, 8)
    pt.map(VA + 4 * P, 4, PHYS, RW)  # VRAM
    pt.map(VA, 4, PHYS, RW | Pte.SYSTEM)  # system pages at the same addresses
    assert pt.find_phys(PHYS, PHYS + 2 * P, False) == (2, VA + 4 * P)
    assert pt.find_phys(PHYS + P, PHYS + 8 * P, True) == (3, VA + P)
    assert pt.find_phys(PHYS, PHYS, True) == (0, 0)
    pt.invalidate(VA + P, 1, Invalidate.SILENT_RETRY)
    assert pt.find_phys(PHYS + P, PHYS + 8 * P, True) == (2, VA + 2 * P)
    assert pt.find_phys(0, VA_LIMIT, False) == (4, VA + 4 * P)


def test_find_phys_in_looks_only_at_the_range(pt: PageTable) -> None:
    va = VA + PTB_SPAN - 2 * P  # two PTBs
    pt.ensure(va, 4)
    pt.map(va, 4, PHYS, RW)
    pt.map(VA, 1, PHYS + P, RW)  # the same address, outside the range below
    assert pt.find_phys(PHYS, PHYS + 8 * P, False) == (5, VA)
    assert pt.find_phys_in(va, 4, PHYS, PHYS + 8 * P, False) == (4, va)
    assert pt.find_phys_in(va + P, 3, PHYS + P, PHYS + 2 * P, False) == (1, va + P)
    assert pt.find_phys_in(va + 2 * P, 2, PHYS, PHYS + 8 * P, False) == (2, va + 2 * P)
    assert pt.find_phys_in(va, 4, PHYS, PHYS + 8 * P, True) == (0, 0)
    assert pt.find_phys_in(va, 0, 0, VA_LIMIT, False) == (0, 0)
    # missing tables hold nothing
    assert pt.find_phys_in(VA + PDB0_SPAN, 5000, 0, VA_LIMIT, False) == (0, 0)
    pt.invalidate(va, 1, Invalidate.SILENT_RETRY)
    assert pt.find_phys_in(va, 4, 0, VA_LIMIT, False) == (3, va + P)


def test_read_ptes_zero_where_no_table(pt: PageTable) -> None:
    pt.ensure(VA, 1)
    pt.map(VA, 1, PHYS)
    assert ptes(pt, VA - 2 * P, 3) == [0, 0, PHYS | 0x61]
    assert ptes(pt, VA, 0) == []
    assert ptes(pt, VA_LIMIT - P, 1) == [0]


# ---- page-table BOs ---------------------------------------------------------------------


def test_alloc_needs_the_parent_and_a_free_slot(pt: PageTable) -> None:
    raises(MissingPageTable, lambda: pt.alloc(Level.PTB, VA, 0x20_0000), shown("va", VA))
    raises(MissingPageTable, lambda: pt.alloc(Level.PDB0, VA, 0x20_0000))
    pdb1 = pt.alloc(Level.PDB1, VA, 0x20_0000)
    raises(BusyError, lambda: pt.alloc(Level.PDB1, VA + PDB0_SPAN, 0x30_0000), shown("va", VA + PDB0_SPAN))
    assert pt.info(pdb1).addr == 0x20_0000
    assert pt.counters.resident_pts == 2
    ptb_va = VA + 5 * P  # not the PTB's first page: the BO covers the aligned span
    pt.alloc(Level.PDB0, ptb_va, 0x21_0000)
    ptb = pt.alloc(Level.PTB, ptb_va, 0x22_0000)
    assert pt.info(ptb).va_base == VA


def test_lookup(pt: PageTable) -> None:
    assert pt.lookup(Level.PDB2, VA + 123) == pt.root
    assert pt.lookup(Level.PTB, VA) is None
    (_, _, ptb) = pt.ensure(VA, 1)
    assert pt.lookup(Level.PTB, VA + 0x1234) == ptb  # any byte of the span
    assert pt.lookup(Level.PTB, VA + PTB_SPAN) is None


def test_move_changes_the_address_only(pt: PageTable) -> None:
    pdb1, pdb0, ptb = pt.ensure(VA, 2)
    pt.map(VA, 2, PHYS)
    before = ptes(pt, VA, 2)
    for h in (pdb1, pdb0, ptb, pt.root):
        pt.move(h, 0x7000_0000)
        assert pt.info(h).addr == 0x7000_0000
    assert ptes(pt, VA, 2) == before
    assert pt.walk(VA + P).phys == PHYS + P
    assert pt.info(pdb0).nchildren == 1 and pt.info(ptb).nvalid == 2


def test_free_rules(pt: PageTable) -> None:
    pdb1, pdb0, ptb = pt.ensure(VA, 3)
    pt.map(VA, 3, PHYS)
    raises(BusyError, lambda: pt.free(pt.root), "root", shown("pt", pt.root))
    raises(BusyError, lambda: pt.free(pdb0), "children", shown("pt", pdb0))
    raises(BusyError, lambda: pt.free(pdb1), "children")
    assert pt.counters.resident_pts == 4
    pt.free(ptb)  # its PTEs go with it
    assert pt.counters.valid_ptes == 0
    assert ptes(pt, VA, 3) == [0, 0, 0]
    assert pt.walk(VA) == Walk(Level.PDB0, WalkReason.NO_TABLE, 0, 0)
    assert pt.info(pdb0).nchildren == 0
    raises(BadHandle, lambda: pt.info(ptb), shown("pt", ptb))
    raises(BadHandle, lambda: pt.free(ptb), shown("pt", ptb))  # double free
    raises(BadHandle, lambda: pt.move(ptb, 0x9000), shown("pt", ptb))
    pt.free(pdb0)
    pt.free(pdb1)
    assert pt.counters.resident_pts == 1
    assert pt.info(pt.root).nchildren == 0
    assert pt.pts_in_range(*ALL_VA) == []


def test_freed_handle_stays_dead_when_the_slot_is_reused(pt: PageTable) -> None:
    _, _, old = pt.ensure(VA, 1)
    pt.free(old)
    new = pt.alloc(Level.PTB, VA, 0x50_0000)
    assert new != old
    raises(BadHandle, lambda: pt.info(old))
    raises(BadHandle, lambda: pt.free(old))
    assert pt.info(new).addr == 0x50_0000
    pt.map(VA, 1, PHYS)
    assert pt.walk(VA).ok


def test_counters(pt: PageTable) -> None:
    assert tuple(vars_of(pt.counters)) == (0, 1, 4096)
    pt.ensure(VA, 2 * ENTRIES_PER_PT)
    assert tuple(vars_of(pt.counters)) == (0, 5, 5 * 4096)
    pt.map(VA, 1000, PHYS)
    assert tuple(vars_of(pt.counters)) == (1000, 5, 5 * 4096)
    ptb = pt.lookup(Level.PTB, VA)
    assert ptb is not None
    pt.free(ptb)
    assert tuple(vars_of(pt.counters)) == (1000 - 512, 4, 4 * 4096)


def vars_of(c: PtCounters) -> list[int]:
    return [c.valid_ptes, c.resident_pts, c.bytes_used]


def test_max_pts_bounds_resident_bos() -> None:
    with PageTable(max_pts=3) as pt:
        err = raises(LimitExceeded, lambda: pt.ensure(VA, 1), "level=3")
        assert "alloc" in str(err)
        # ensure is not atomic: the directories it made stay, and are usable
        assert pt.counters.resident_pts == 3
        assert pt.missing(VA, 1) == [(Level.PTB, VA)]
        pdb0, pdb1 = pt.lookup(Level.PDB0, VA), pt.lookup(Level.PDB1, VA)
        assert pdb0 is not None and pdb1 is not None
        assert pt.pts_in_range(VA, 1) == [pdb0, pdb1]
        raises(BusyError, lambda: pt.free(pdb1))
        pt.free(pdb0)
        assert pt.counters.resident_pts == 2
        raises(LimitExceeded, lambda: pt.ensure(VA, 1))
        assert pt.counters.resident_pts == 3
    with PageTable(max_pts=4) as pt:
        assert len(pt.ensure(VA, 1)) == 3  # root + 3 is exactly the limit
        raises(LimitExceeded, lambda: pt.alloc(Level.PTB, VA + PTB_SPAN, P), shown("va", VA + PTB_SPAN))
        assert pt.counters.resident_pts == 4
    with PageTable(max_pts=1) as pt:
        raises(LimitExceeded, lambda: pt.alloc(Level.PDB1, 0, P))


def test_pts_in_range_children_before_parents(pt: PageTable) -> None:
    pdb1, pdb0_a, ptb_a = pt.ensure(VA, 1)
    (ptb_b,) = pt.ensure(VA + 3 * PTB_SPAN, 1)
    pdb0_b, ptb_c = pt.ensure(VA + PDB0_SPAN, 1)
    assert pt.pts_in_range(*ALL_VA) == [ptb_a, ptb_b, pdb0_a, ptb_c, pdb0_b, pdb1]
    assert pt.pts_in_range(VA + P, 1) == [ptb_a, pdb0_a, pdb1]
    assert pt.pts_in_range(VA + PTB_SPAN, 1) == [pdb0_a, pdb1]  # no PTB there
    assert pt.pts_in_range(VA + PTB_SPAN, 2 * ENTRIES_PER_PT + 1) == [ptb_b, pdb0_a, pdb1]
    assert pt.pts_in_range(VA, 0) == []
    assert pt.pts_in_range(2 * PDB1_SPAN, 10) == []
    assert pt.root not in pt.pts_in_range(*ALL_VA)


def test_closed_page_table_refuses_calls() -> None:
    pt = PageTable()
    pt.close()
    pt.close()  # closing twice is harmless
    calls: list[Callable[[], object]] = [
        lambda: pt.root,
        lambda: pt.counters,
        lambda: pt.map(0, 1, 0),
        lambda: pt.walk(0),
        lambda: pt.ensure(0, 1),
        lambda: pt.free(1),
    ]
    for call in calls:
        raises(StateError, call, "closed")


# ---- bad input: one test each, with the object (and its neighbour) intact afterwards ----

GARBAGE = (0x7FFF_FFFF << 32) | 1  # a generation no handle here reaches


@dataclass
class Env:
    pt: PageTable
    ptb: int  # a live PTB with mapped pages
    pdb0: int  # its parent: has children
    freed: int  # a PTB that was freed


def snapshot(pt: PageTable) -> tuple[object, ...]:
    handles = pt.pts_in_range(*ALL_VA)
    return (
        pt.counters,
        ptes(pt, VA, 16),
        handles,
        [pt.info(h) for h in [pt.root, *handles]],
        pt.scan(VA, 16, RW),
        [pt.walk(VA + i * P) for i in range(16)],
        pt.missing(0, 1),
    )


Names = tuple[str | Callable[[Env], str], ...]  # substrings the message must hold

BAD: list[tuple[str, Callable[[Env], object], type[CoreError], Names]] = [
    # addresses: negative, oversized (past 48 and 64 bits), unaligned
    ("map-va-negative", lambda e: e.pt.map(-P, 1, PHYS), OutOfRange, ("va=-0x1000",)),
    ("map-va-past-48", lambda e: e.pt.map(VA_LIMIT, 1, PHYS), OutOfRange, (shown("va", VA_LIMIT), "48")),
    ("map-va-past-64", lambda e: e.pt.map(1 << 64, 1, PHYS), OutOfRange, (shown("va", 1 << 64),)),
    ("map-va-unaligned", lambda e: e.pt.map(VA + 0x800, 1, PHYS), Misaligned, (shown("va", VA + 0x800),)),
    ("map-phys-negative", lambda e: e.pt.map(VA, 1, -P), OutOfRange, ("phys=-0x1000",)),
    ("map-phys-unaligned", lambda e: e.pt.map(VA, 1, PHYS + 8), Misaligned, (shown("phys", PHYS + 8),)),
    ("map-phys-past-48", lambda e: e.pt.map(VA, 1, VA_LIMIT), OutOfRange, (shown("phys", VA_LIMIT),)),
    (
        "map-phys-end-past-48",
        lambda e: e.pt.map(VA, 2, VA_LIMIT - P),
        OutOfRange,
        (f"phys={VA_LIMIT - P:#x} with npages=2",),
    ),
    ("map-flags-valid", lambda e: e.pt.map(VA, 1, PHYS, Pte.VALID), InvalidArgument, ("flags=1",)),
    ("map-flags-tf", lambda e: e.pt.map(VA, 1, PHYS, Pte.TF), InvalidArgument, (shown("flags", 1 << 56),)),
    ("map-flags-negative", lambda e: e.pt.map(VA, 1, PHYS, -1), OutOfRange, ("flags=-1",)),
    ("map-flags-str", lambda e: e.pt.map(VA, 1, PHYS, "RW"), InvalidArgument, ("flags must be an integer",)),  # type: ignore[arg-type]
    ("walk-perms-float", lambda e: e.pt.walk(VA, 32.0), InvalidArgument, ("perms must be an integer",)),  # type: ignore[arg-type]
    ("map-no-table", lambda e: e.pt.map(PDB1_SPAN, 1, PHYS), MissingPageTable, (shown("va", PDB1_SPAN),)),
    # counts: negative, past the end of the 48-bit VA space
    ("map-npages-negative", lambda e: e.pt.map(VA, -1, PHYS), OutOfRange, ("npages=-1",)),
    (
        "map-npages-past-end",
        lambda e: e.pt.map(VA, (VA_LIMIT - VA) // P + 1, PHYS),
        OutOfRange,
        (shown("npages", (VA_LIMIT - VA) // P + 1), "past the 48-bit"),
    ),
    (
        "map-last-page-plus-one",
        lambda e: e.pt.map(VA_LIMIT - P, 2, PHYS),
        OutOfRange,
        (shown("va", VA_LIMIT - P), "npages=2"),
    ),
    ("unmap-va-unaligned", lambda e: e.pt.unmap(VA + 1, 1), Misaligned, (shown("va", VA + 1),)),
    ("unmap-npages-past-end", lambda e: e.pt.unmap(P, ALL_PAGES), OutOfRange, (shown("npages", ALL_PAGES),)),
    ("unmap-npages-past-64", lambda e: e.pt.unmap(VA, 1 << 64), OutOfRange, (shown("npages", 1 << 64),)),
    (
        "invalidate-va-past-48",
        lambda e: e.pt.invalidate(VA_LIMIT, 1),
        OutOfRange,
        (shown("va", VA_LIMIT),),
    ),
    ("invalidate-mode-3", lambda e: e.pt.invalidate(VA, 1, 3), InvalidArgument, ("mode=3",)),  # type: ignore[arg-type]
    ("invalidate-mode-neg", lambda e: e.pt.invalidate(VA, 1, -1), InvalidArgument, ("mode=-1",)),  # type: ignore[arg-type]
    (
        "invalidate-mode-huge",
        lambda e: e.pt.invalidate(VA, 1, 1 << 40),  # type: ignore[arg-type]
        InvalidArgument,
        (shown("mode", 1 << 40),),
    ),
    ("invalidate-mode-str", lambda e: e.pt.invalidate(VA, 1, "x"), InvalidArgument, ("mode='x'",)),  # type: ignore[arg-type]
    ("protect-perms-system", lambda e: e.pt.protect(VA, 1, Pte.SYSTEM), InvalidArgument, ("perms=2",)),
    ("protect-va-unaligned", lambda e: e.pt.protect(VA + 4, 1, 0), Misaligned, (shown("va", VA + 4),)),
    ("walk-va-past-48", lambda e: e.pt.walk(VA_LIMIT), OutOfRange, (shown("va", VA_LIMIT),)),
    ("walk-va-negative", lambda e: e.pt.walk(-1), OutOfRange, ("va=-1",)),
    ("walk-perms-valid", lambda e: e.pt.walk(VA, Pte.VALID), InvalidArgument, ("perms=1",)),
    ("scan-npages-past-end", lambda e: e.pt.scan(VA, ALL_PAGES), OutOfRange, (shown("npages", ALL_PAGES),)),
    ("scan-perms-tmz", lambda e: e.pt.scan(VA, 1, Pte.TMZ), InvalidArgument, ("perms=8",)),
    (
        "read-ptes-limit",
        lambda e: e.pt.read_ptes(VA, READ_LIMIT + 1),
        LimitExceeded,
        (shown("npages", READ_LIMIT + 1),),
    ),
    ("read-ptes-unaligned", lambda e: e.pt.read_ptes(VA + 1, 1), Misaligned, (shown("va", VA + 1),)),
    ("missing-unaligned", lambda e: e.pt.missing(VA + 1, 1), Misaligned, (shown("va", VA + 1),)),
    ("missing-past-end", lambda e: e.pt.missing(VA, ALL_PAGES), OutOfRange, (shown("npages", ALL_PAGES),)),
    ("ensure-past-end", lambda e: e.pt.ensure(VA_LIMIT - P, 2), OutOfRange, ("npages=2",)),
    (
        "pts-in-range-past-end",
        lambda e: e.pt.pts_in_range(VA, ALL_PAGES),
        OutOfRange,
        (shown("npages", ALL_PAGES),),
    ),
    (
        "find-phys-lo-above-hi",
        lambda e: e.pt.find_phys(0x2000, 0x1000, False),
        InvalidArgument,
        ("lo=0x2000",),
    ),
    ("find-phys-negative", lambda e: e.pt.find_phys(-1, 0x1000, False), OutOfRange, ("lo=-1",)),
    (
        "find-phys-in-lo-above-hi",
        lambda e: e.pt.find_phys_in(VA, 1, 0x2000, 0x1000, False),
        InvalidArgument,
        ("lo=0x2000",),
    ),
    (
        "find-phys-in-unaligned",
        lambda e: e.pt.find_phys_in(VA + 1, 1, 0, 0x1000, False),
        Misaligned,
        (shown("va", VA + 1),),
    ),
    (
        "find-phys-in-past-end",
        lambda e: e.pt.find_phys_in(VA, ALL_PAGES, 0, 0x1000, False),
        OutOfRange,
        (shown("npages", ALL_PAGES),),
    ),
    # page-table BO allocation
    ("alloc-level-pdb2", lambda e: e.pt.alloc(Level.PDB2, VA, P), InvalidArgument, ("level=0",)),
    ("alloc-level-4", lambda e: e.pt.alloc(4, VA, P), InvalidArgument, ("level=4",)),
    ("alloc-level-neg", lambda e: e.pt.alloc(-1, VA, P), InvalidArgument, ("level=-1",)),
    ("alloc-level-huge", lambda e: e.pt.alloc(1 << 40, VA, P), InvalidArgument, (shown("level", 1 << 40),)),
    ("alloc-level-str", lambda e: e.pt.alloc("x", VA, P), InvalidArgument, ("level='x'",)),  # type: ignore[arg-type]
    ("alloc-va-unaligned", lambda e: e.pt.alloc(Level.PTB, VA + 8, P), Misaligned, (shown("va", VA + 8),)),
    ("alloc-va-past-48", lambda e: e.pt.alloc(Level.PDB1, VA_LIMIT, P), OutOfRange, (shown("va", VA_LIMIT),)),
    ("alloc-addr-unaligned", lambda e: e.pt.alloc(Level.PDB1, 0, 0x801), Misaligned, (shown("addr", 0x801),)),
    (
        "alloc-addr-past-48",
        lambda e: e.pt.alloc(Level.PDB1, 0, VA_LIMIT),
        OutOfRange,
        (shown("addr", VA_LIMIT),),
    ),
    ("alloc-addr-negative", lambda e: e.pt.alloc(Level.PDB1, 0, -P), OutOfRange, ("addr=-0x1000",)),
    ("alloc-taken", lambda e: e.pt.alloc(Level.PTB, VA, P), BusyError, (shown("va", VA),)),
    ("alloc-no-parent", lambda e: e.pt.alloc(Level.PTB, PDB1_SPAN, P), MissingPageTable, ("level=3",)),
    ("lookup-level-5", lambda e: e.pt.lookup(5, VA), InvalidArgument, ("level=5",)),
    ("lookup-level-huge", lambda e: e.pt.lookup(1 << 33, VA), InvalidArgument, (shown("level", 1 << 33),)),
    ("lookup-va-past-48", lambda e: e.pt.lookup(Level.PTB, VA_LIMIT), OutOfRange, (shown("va", VA_LIMIT),)),
    # handles: unknown, foreign-looking, freed, out of range, double free
    ("info-zero", lambda e: e.pt.info(0), BadHandle, ("pt=0",)),
    ("info-garbage", lambda e: e.pt.info(GARBAGE), BadHandle, (shown("pt", GARBAGE),)),
    ("info-index-past-end", lambda e: e.pt.info(1000), BadHandle, ("pt=0x3e8",)),
    ("info-freed", lambda e: e.pt.info(e.freed), BadHandle, (lambda e: shown("pt", e.freed),)),
    ("info-negative", lambda e: e.pt.info(-1), OutOfRange, ("pt=-1",)),
    ("info-past-64", lambda e: e.pt.info(1 << 64), OutOfRange, (shown("pt", 1 << 64),)),
    ("move-freed", lambda e: e.pt.move(e.freed, P), BadHandle, (lambda e: shown("pt", e.freed),)),
    ("move-unaligned", lambda e: e.pt.move(e.ptb, 0x1234), Misaligned, ("new_addr=0x1234",)),
    ("move-past-48", lambda e: e.pt.move(e.ptb, VA_LIMIT), OutOfRange, (shown("new_addr", VA_LIMIT),)),
    ("move-root-unaligned", lambda e: e.pt.move(e.pt.root, 8), Misaligned, ("new_addr=8",)),
    ("free-root", lambda e: e.pt.free(e.pt.root), BusyError, ("pt=0x", "root")),
    (
        "free-has-children",
        lambda e: e.pt.free(e.pdb0),
        BusyError,
        ("children", lambda e: shown("pt", e.pdb0)),
    ),
    ("free-freed", lambda e: e.pt.free(e.freed), BadHandle, (lambda e: shown("pt", e.freed),)),
    ("free-unknown", lambda e: e.pt.free(GARBAGE), BadHandle, (shown("pt", GARBAGE),)),
]


@pytest.mark.parametrize(("call", "cls", "names"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call: Callable[[Env], object], cls: type[CoreError], names: Names) -> None:
    with PageTable(root_addr=ROOT_ADDR) as pt, PageTable(root_addr=ROOT_ADDR) as other:
        for t in (pt, other):
            t.ensure(VA, 16)
            t.map(VA, 8, PHYS)
            t.invalidate(VA + 8 * P, 2, Invalidate.SILENT_RETRY)
        _, doomed = pt.ensure(VA + PDB0_SPAN, 1)  # a PDB0 and its PTB
        pt.free(doomed)
        pdb0 = pt.lookup(Level.PDB0, VA)
        ptb = pt.lookup(Level.PTB, VA)
        assert pdb0 is not None and ptb is not None
        env = Env(pt, ptb, pdb0, doomed)
        before, before_other = snapshot(pt), snapshot(other)
        raises(cls, lambda: call(env), *[n if isinstance(n, str) else n(env) for n in names])
        assert snapshot(pt) == before
        assert snapshot(other) == before_other
        # and the table still works
        pt.map(VA + 10 * P, 2, PHYS + 0x10_0000)
        assert pt.walk(VA + 11 * P + 5).phys == PHYS + 0x10_1005
        assert pt.counters.valid_ptes == 10


@pytest.mark.parametrize(
    ("kwargs", "cls", "name"),
    [
        ({"root_addr": -P}, OutOfRange, "root_addr=-0x1000"),
        ({"root_addr": 0x1001}, Misaligned, "root_addr=0x1001"),
        ({"root_addr": VA_LIMIT}, OutOfRange, shown("root_addr", VA_LIMIT)),
        ({"max_pts": 0}, LimitExceeded, "max_pts=0"),
        ({"max_pts": (1 << 24) + 1}, LimitExceeded, shown("max_pts", (1 << 24) + 1)),
        ({"max_pts": 1 << 32}, OutOfRange, shown("max_pts", 1 << 32)),
        ({"max_pts": -1}, OutOfRange, "max_pts=-1"),
    ],
)
def test_bad_construction(kwargs: dict[str, int], cls: type[CoreError], name: str) -> None:
    with PageTable() as other, no_unraisable():
        other.ensure(VA, 1)
        raises(cls, lambda: PageTable(**kwargs), name)  # and the half-built object dies quietly
        assert other.counters.resident_pts == 4


def test_largest_max_pts_is_accepted() -> None:
    with PageTable(max_pts=1 << 24) as pt:
        assert pt.counters.resident_pts == 1


# ---- the reference model on its own ---------------------------------------------------


def test_reference_agrees_on_a_scripted_session() -> None:
    """A fixed session through both, so a model mistake shows up without hypothesis."""
    real, ref = PageTable(root_addr=ROOT_ADDR), RefPageTable(root_addr=ROOT_ADDR)
    for t in (real, ref):
        t.ensure(VA + PTB_SPAN - 4 * P, 8)
        t.map(VA + PTB_SPAN - 4 * P, 8, PHYS, RW | Pte.SYSTEM)
        t.invalidate(VA + PTB_SPAN - 2 * P, 1, Invalidate.NORETRY)
        t.invalidate(VA + PTB_SPAN, 1, Invalidate.SILENT_RETRY)
        t.protect(VA + PTB_SPAN + P, 2, Pte.READABLE)
    va = VA + PTB_SPAN - 4 * P
    assert list(real.read_ptes(va, 8)) == ref.read_ptes(va, 8)
    assert real.counters == ref.counters
    assert [real.walk(va + i * P, RW) for i in range(8)] == [ref.walk(va + i * P, RW) for i in range(8)]
    assert real.scan(va, 8, Pte.READABLE) == ref.scan(va, 8, Pte.READABLE)
    assert real.missing(0, 2 * PTB_SPAN // P) == ref.missing(0, 2 * PTB_SPAN // P)
    infos = [real.info(h) for h in real.pts_in_range(*ALL_VA)]
    assert infos == [ref.info(h) for h in ref.pts_in_range(*ALL_VA)]
    assert real.find_phys(0, VA_LIMIT, True) == ref.find_phys(0, VA_LIMIT, True)


# ---- stateful: the C core against the model --------------------------------------------

T = TypeVar("T")
U = TypeVar("U")

# Anchors put the few pages a step touches across every kind of boundary: a PTB, a
# PDB0, a PDB1 entry, and the end of the VA space.
# Offsets and counts are small so that successive steps keep landing on the same pages.
# (The first anchor also covers VA 0's directories; a PDB1 boundary is a PDB0 and a PTB
# boundary too, but under different parents.)
ANCHORS = [PTB_SPAN - 8 * P, PDB0_SPAN - 8 * P, PDB1_SPAN - 8 * P, VA_LIMIT - 12 * P]
MAX_OFFSET, MAX_PAGES = 7, 16
WINDOW = MAX_OFFSET + MAX_PAGES  # pages from an anchor a good range can reach
WINDOWS = [(a, min(WINDOW, (VA_LIMIT - a) // P)) for a in ANCHORS]


def mostly(good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``good`` about six times in seven: a step with several arguments should mostly be
    legal.  (``one_of`` would not do: it treats repeated alternatives as one.)"""
    return st.integers(0, 6).flatmap(lambda i: bad if i == 6 else good)


good_va = st.builds(lambda a, o: a + o * P, st.sampled_from(ANCHORS), st.integers(0, MAX_OFFSET))
bad_va = st.sampled_from([-P, VA_LIMIT, 1 << 64, P + 1, PDB0_SPAN - 0x800])
va_s = mostly(good_va, bad_va)
# no huge in-range counts: they are legal but would make one step slow
npages_s = st.one_of(st.integers(0, MAX_PAGES), st.sampled_from([-1, 1 << 64, ALL_PAGES + 1]))
good_range = st.builds(lambda va, n: (va, min(n, (VA_LIMIT - va) // P)), good_va, st.integers(1, MAX_PAGES))
one_past_end: st.SearchStrategy[tuple[int, int]] = good_va.map(lambda va: (va, (VA_LIMIT - va) // P + 1))
range_s: st.SearchStrategy[tuple[int, int]] = mostly(
    good_range, st.one_of(st.tuples(va_s, npages_s), one_past_end)
)
good_phys = st.sampled_from([0, 0, 0, P, PHYS, VA_LIMIT - 64 * P])
phys_s = mostly(good_phys, st.sampled_from([VA_LIMIT - 8 * P, -P, 1, VA_LIMIT]))
flag_bits = [Pte.SYSTEM, Pte.SNOOPED, Pte.TMZ, Pte.EXECUTABLE, Pte.READABLE, Pte.WRITEABLE, Pte(0x80)]
SS = Pte.SYSTEM | Pte.SNOOPED  # with address 0 and no R/W/X this is the silent-retry encoding
good_flags = st.one_of(
    st.lists(st.sampled_from(flag_bits), max_size=4).map(lambda fs: sum(int(f) for f in set(fs))),
    st.sampled_from([int(SS), int(SS | Pte.READABLE), int(SS | Pte.WRITEABLE | Pte.EXECUTABLE)]),
)
flags_s = mostly(good_flags, st.sampled_from([int(Pte.VALID), int(Pte.PDE_PTE), -1]))
R, W, X = int(Pte.READABLE), int(Pte.WRITEABLE), int(Pte.EXECUTABLE)
# revoking every permission is common (and a corner: see the silent-retry encoding)
good_perms = st.one_of(st.just(0), st.sampled_from([R, R | W, W, X, R | X, W | X, R | W | X]))
perms_s = mostly(good_perms, st.sampled_from([1, int(Pte.SYSTEM), -1]))
mode_s = st.sampled_from([*Invalidate, *Invalidate, 3, -1])
level_s = st.sampled_from([Level.PDB1, Level.PDB0, Level.PTB, Level.PDB2, 4, -1])
addr_s = st.sampled_from([0x20_0000, 0x30_0000, P, 0, 0x801, VA_LIMIT, -P])
bad_handles = st.sampled_from([0, GARBAGE, -1, 1 << 64]).map(lambda h: (h, h))


@settings(
    max_examples=80, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
class PageTableMachine(RuleBasedStateMachine):
    """PageTable and RefPageTable take the same calls; every observable must agree."""

    handles: Bundle[tuple[int, int]] = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.real = PageTable()
        self.ref = RefPageTable()
        self.to_ref: dict[int, int] = {}
        self.to_real: dict[int, int] = {}
        self.touched: set[int] = set()  # pages a good-looking range covered
        self.recent: set[int] = set()  # ... in this step
        self.bystander: PageTable | None = None
        self.mapped: list[tuple[int, int]] = []  # the last few ranges mapped

    @initialize(
        target=handles,
        root_addr=st.sampled_from([0, ROOT_ADDR]),
        max_pts=st.sampled_from([12, 16, 64]),  # all windows need 16: 12 runs out part way
        skip=st.sets(st.sampled_from(range(len(WINDOWS))), max_size=2),
    )
    def start(self, root_addr: int, max_pts: int, skip: set[int]) -> MultipleResults[tuple[int, int]]:
        self.real.close()
        self.real = PageTable(root_addr, max_pts)
        self.ref = RefPageTable(root_addr, max_pts)
        self.bystander = PageTable()
        self.bystander.ensure(VA, 4)
        self.bystander.map(VA, 4, PHYS)
        self.pair(self.real.root, self.ref.root)
        made = [(self.real.root, self.ref.root)]
        for i, window in enumerate(WINDOWS):  # tables up front, so most maps have somewhere to go
            if i not in skip:
                made.extend(self._ensure(*window).values)
        return multiple(*made)

    def teardown(self) -> None:
        if self.bystander is not None:
            assert list(self.bystander.read_ptes(VA, 4)) == [PHYS + i * P | 0x61 for i in range(4)]
            assert tuple(vars_of(self.bystander.counters)) == (4, 4, 4 * 4096)
            self.bystander.close()
        self.real.close()

    # helpers -----------------------------------------------------------------------
    def pair(self, real: int, ref: int) -> None:
        assert self.to_ref.get(real, ref) == ref, "a C handle maps to two model handles"
        assert self.to_real.get(ref, real) == real, "a model handle maps to two C handles"
        self.to_ref[real] = ref
        self.to_real[ref] = real

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

    def same(self, real: Callable[[], object], ref: Callable[[], object]) -> None:
        """Both calls fail alike, or return equal results."""
        _, a, b = self.both(real, ref)
        assert a == b, f"C core: {a!r}, model: {b!r}"

    def touch(self, va: int, npages: int) -> None:
        if 0 <= va < VA_LIMIT and va % P == 0 and 0 <= npages <= MAX_PAGES:
            first = va // P
            pages = range(first, min(first + npages, ALL_PAGES))
            self.touched.update(pages)
            self.recent.update(pages)

    # page-table BOs ----------------------------------------------------------------
    def _ensure(self, va: int, npages: int) -> MultipleResults[tuple[int, int]]:
        ok, a, b = self.both(lambda: self.real.ensure(va, npages), lambda: self.ref.ensure(va, npages))
        if not ok or a is None or b is None:
            return multiple()
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            self.pair(x, y)
        return multiple(*zip(a, b, strict=True))

    @rule(target=handles, rng=range_s)
    def ensure(self, rng: tuple[int, int]) -> MultipleResults[tuple[int, int]]:
        return self._ensure(*rng)

    @rule(target=handles, rng=good_range, phys=good_phys, flags=good_flags)
    def ensure_and_map(self, rng: tuple[int, int], phys: int, flags: int) -> MultipleResults[tuple[int, int]]:
        made = self._ensure(*rng)
        self._map(*rng, phys, flags)
        return made

    @rule(target=handles, level=level_s, va=va_s, addr=addr_s)
    def alloc(self, level: int, va: int, addr: int) -> MultipleResults[tuple[int, int]] | tuple[int, int]:
        ok, a, b = self.both(
            lambda: self.real.alloc(level, va, addr), lambda: self.ref.alloc(level, va, addr)
        )
        if not ok or a is None or b is None:
            return multiple()
        self.pair(a, b)
        return (a, b)

    @rule(h=st.one_of(handles, bad_handles), addr=addr_s)
    def move(self, h: tuple[int, int], addr: int) -> None:
        self.both(lambda: self.real.move(h[0], addr), lambda: self.ref.move(h[1], addr))

    @rule(addr=addr_s)
    def move_root(self, addr: int) -> None:  # draws from the bundle favour recent BOs
        self.both(lambda: self.real.move(self.real.root, addr), lambda: self.ref.move(self.ref.root, addr))

    @rule(h=st.one_of(handles, bad_handles))
    def free(self, h: tuple[int, int]) -> None:
        self.both(lambda: self.real.free(h[0]), lambda: self.ref.free(h[1]))

    @rule(data=st.data())
    def free_leaf(self, data: st.DataObject) -> None:
        """Free a BO that can be freed (handles from the bundle are mostly busy ones)."""
        leaves = [h for h in self.real.pts_in_range(*ALL_VA) if self.real.info(h).nchildren == 0]
        if leaves:
            h = data.draw(st.sampled_from(leaves))
            self.both(lambda: self.real.free(h), lambda: self.ref.free(self.to_ref[h]))

    # PTEs --------------------------------------------------------------------------
    def draw_range(self, data: st.DataObject) -> tuple[int, int]:
        """A range from range_s, or (half the time) all or part of a range mapped before:
        unmapping, invalidating and protecting what was mapped is where the bugs live."""
        use_mapped = data.draw(st.booleans())
        if self.mapped and use_mapped:
            va, n = data.draw(st.sampled_from(self.mapped))
            lo = data.draw(st.integers(0, n - 1))
            return va + lo * P, data.draw(st.integers(1, n - lo))
        return data.draw(range_s)

    def _map(self, va: int, n: int, phys: int, flags: int) -> None:
        self.touch(va, n)
        ok, _, _ = self.both(
            lambda: self.real.map(va, n, phys, flags), lambda: self.ref.map(va, n, phys, flags)
        )
        if ok and n:
            self.mapped = [*self.mapped[-7:], (va, n)]

    @rule(data=st.data(), phys=phys_s, flags=flags_s)
    def map(self, data: st.DataObject, phys: int, flags: int) -> None:
        self._map(*self.draw_range(data), phys, flags)

    @rule(data=st.data())
    def unmap(self, data: st.DataObject) -> None:
        va, n = self.draw_range(data)
        self.touch(va, n)
        self.both(lambda: self.real.unmap(va, n), lambda: self.ref.unmap(va, n))

    @rule(data=st.data(), mode=mode_s)
    def invalidate(self, data: st.DataObject, mode: Invalidate) -> None:
        va, n = self.draw_range(data)
        self.touch(va, n)
        self.both(lambda: self.real.invalidate(va, n, mode), lambda: self.ref.invalidate(va, n, mode))

    @rule(data=st.data(), perms=perms_s)
    def protect(self, data: st.DataObject, perms: int) -> None:
        va, n = self.draw_range(data)
        self.touch(va, n)
        self.both(lambda: self.real.protect(va, n, perms), lambda: self.ref.protect(va, n, perms))

    # queries: one rule, so that the state-changing rules get most of the steps (the
    # invariants below already query everything after every step with good arguments;
    # this adds arbitrary and bad ones) -----------------------------------------------
    @rule(data=st.data(), h=st.one_of(handles, bad_handles))
    def query(self, data: st.DataObject, h: tuple[int, int]) -> None:
        kind = data.draw(
            st.sampled_from(
                ["info", "lookup", "missing", "walk", "scan", "read_ptes", "find_phys", "find_phys_in", "pts"]
            )
        )
        real, ref = self.real, self.ref
        if kind == "info":
            self.same(lambda: real.info(h[0]), lambda: ref.info(h[1]))
        elif kind == "lookup":
            level = data.draw(level_s)
            va = data.draw(st.one_of(va_s, st.integers(0, VA_LIMIT - 1)))
            ok, a, b = self.both(lambda: real.lookup(level, va), lambda: ref.lookup(level, va))
            if ok:
                assert (a is None) == (b is None)
                assert a is None or self.to_ref.get(a) == b
        elif kind == "missing":
            rng = data.draw(range_s)
            self.same(lambda: real.missing(*rng), lambda: ref.missing(*rng))
        elif kind == "walk":
            va = data.draw(st.one_of(va_s, good_va.map(lambda v: v + 0x123)))
            perms = data.draw(perms_s)
            self.same(lambda: real.walk(va, perms), lambda: ref.walk(va, perms))
        elif kind == "scan":
            (va, n), perms = data.draw(range_s), data.draw(perms_s)
            self.same(lambda: real.scan(va, n, perms), lambda: ref.scan(va, n, perms))
        elif kind == "read_ptes":
            rng = data.draw(st.one_of(range_s, st.tuples(good_va, st.just(READ_LIMIT + 1))))
            self.same(lambda: list(real.read_ptes(*rng)), lambda: ref.read_ptes(*rng))
        elif kind == "find_phys":
            lo, hi, system = data.draw(phys_s), data.draw(phys_s), data.draw(st.booleans())
            self.same(lambda: real.find_phys(lo, hi, system), lambda: ref.find_phys(lo, hi, system))
        elif kind == "find_phys_in":
            (va, n), lo, hi = data.draw(range_s), data.draw(phys_s), data.draw(phys_s)
            self.same(
                lambda: real.find_phys_in(va, n, lo, hi, False),
                lambda: ref.find_phys_in(va, n, lo, hi, False),
            )
        else:
            page = data.draw(st.sampled_from(sorted(self.touched) or [0]))
            n = min(data.draw(st.integers(0, 600)), ALL_PAGES - page)
            ok, c, d = self.both(
                lambda: real.pts_in_range(page * P, n), lambda: ref.pts_in_range(page * P, n)
            )
            assert ok and c is not None
            assert [self.to_ref.get(x) for x in c] == d

    # observables after every step ----------------------------------------------------
    @invariant()
    def same_counters(self) -> None:
        assert self.real.counters == self.ref.counters

    @invariant()
    def same_bos(self) -> None:
        a, b = self.real.pts_in_range(*ALL_VA), self.ref.pts_in_range(*ALL_VA)
        infos: list[PtInfo] = [self.real.info(h) for h in a]
        assert infos == [self.ref.info(h) for h in b]
        for x, y in zip(a, b, strict=True):
            self.pair(x, y)  # BOs a failed ensure left behind join the mapping here
        assert self.real.info(self.real.root) == self.ref.info(self.ref.root)
        # ranges that start or end exactly on BO boundaries
        for va, n in [*WINDOWS, *((x + 8 * P, 1) for x in ANCHORS), *((x, 8) for x in ANCHORS)]:
            got = [self.to_ref[h] for h in self.real.pts_in_range(va, n)]
            assert got == self.ref.pts_in_range(va, n)

    @invariant()
    def same_find_phys(self) -> None:
        for lo, hi in [(0, P), (P, 2 * P), (0, PHYS), (PHYS, PHYS + 4 * P), (P, VA_LIMIT)]:
            for system in (False, True):
                assert self.real.find_phys(lo, hi, system) == self.ref.find_phys(lo, hi, system)
        for lo, hi in [(0, P), (P, VA_LIMIT)]:
            for va, n in WINDOWS:
                for system in (False, True):
                    got = self.real.find_phys_in(va + P, n - 1, lo, hi, system)
                    assert got == self.ref.find_phys_in(va + P, n - 1, lo, hi, system)

    @invariant()
    def same_ptes_and_walks(self) -> None:
        # Every PTE any step can reach, and a scan of each window.  A walk depends only on
        # the PTE and on which BOs exist (same_bos), so walking the pages this step touched
        # is enough to check the walk logic itself; all touched pages would be slow.
        for va, n in WINDOWS:
            assert list(self.real.read_ptes(va, n)) == self.ref.read_ptes(va, n)
            for perms in (0, int(RW)):
                assert self.real.scan(va, n, perms) == self.ref.scan(va, n, perms)
        for page in self.recent:
            for perms in (0, R, R | W | X):
                assert self.real.walk(page * P, perms) == self.ref.walk(page * P, perms)
        self.recent.clear()


test_page_table_matches_reference = PageTableMachine.TestCase


def test_a_handle_of_another_table_is_refused_not_obeyed() -> None:
    """Handles carry their context's tag: pt2 must not free its own table when handed
    the handle of pt1's table at the same index."""
    with PageTable(root_addr=ROOT_ADDR) as pt1, PageTable(root_addr=ROOT_ADDR) as pt2:
        (h1,) = [h for h in pt1.ensure(VA, 1) if pt1.info(h).level is Level.PTB]
        (h2,) = [h for h in pt2.ensure(VA, 1) if pt2.info(h).level is Level.PTB]
        assert h1 & 0xFFFF_FFFF == h2 & 0xFFFF_FFFF  # the same slot in both tables
        raises(BadHandle, lambda: pt2.free(h1), shown("pt", h1))
        assert pt2.lookup(Level.PTB, VA) == h2  # untouched
        pt2.free(h2)


def test_translates_is_the_walks_verdict(pt: PageTable) -> None:
    """``translates`` (one C call, no Walk) answers what ``walk(...).ok`` answers, for
    every reason a walk stops and for the permissions asked."""
    far = VA + (1 << 40)  # no page table there
    pt.ensure(VA, 4)
    pt.map(VA, 1, PHYS, Pte.READABLE)
    pt.map(VA + P, 1, PHYS, Pte.READABLE | Pte.WRITEABLE)
    pt.invalidate(VA + 2 * P, 1, Invalidate.SILENT_RETRY)
    pt.invalidate(VA + 3 * P, 1, Invalidate.NORETRY)
    seen = set()
    for va in (VA, VA + 0x123, VA + P, VA + 2 * P, VA + 3 * P, VA + 4 * P, far):
        for perms in (0, int(Pte.READABLE), int(Pte.WRITEABLE), RW, int(Pte.EXECUTABLE)):
            w = pt.walk(va, perms)
            seen.add(w.reason)
            assert pt.translates(va, perms) is w.ok, (hex(va), perms, w)
    assert seen == set(WalkReason)


def test_translates_bad_input_is_walks_error(pt: PageTable) -> None:
    """Arguments the C call refuses get the error ``walk`` raises, word for word."""
    cases: list[tuple[object, object]] = [(VA_LIMIT, 0), (1 << 64, 0), (-1, 0), (0, 1 << 3), ("0", 0), (0, None)]
    for va, perms in cases:
        with pytest.raises(VmcoreError) as walk_err:
            pt.walk(va, perms)  # type: ignore[arg-type]
        with pytest.raises(VmcoreError) as err:
            pt.translates(va, perms)  # type: ignore[arg-type]
        assert (type(err.value), str(err.value)) == (type(walk_err.value), str(walk_err.value))
    pt.close()
    raises(StateError, lambda: pt.translates(VA), "closed")


def test_translating_prefix_counts_the_leading_pairs_that_translate(pt: PageTable) -> None:
    """``translating_prefix`` is ``translates`` over a batch, stopping at the first pair
    that does not translate or that ``walk`` would refuse (an address past the VA limit,
    permission bits other than R/W/X)."""
    from array import array

    pt.ensure(VA, 4)
    pt.map(VA, 1, PHYS, Pte.READABLE)
    pt.map(VA + P, 1, PHYS, Pte.READABLE | Pte.WRITEABLE)
    pt.invalidate(VA + 2 * P, 1, Invalidate.SILENT_RETRY)
    vas = [VA, VA + 0x123, VA + P, VA + 2 * P, VA + 3 * P, VA + (1 << 40), VA_LIMIT]
    perm_sets = [0, int(Pte.READABLE), int(Pte.WRITEABLE), RW, 1 << 3]
    rng = random.Random(3)
    for _ in range(300):
        n = rng.randrange(8)
        pairs = [(rng.choice(vas), rng.choice(perm_sets)) for _ in range(n)]
        want = 0
        for va, perms in pairs:
            try:
                ok = pt.translates(va, perms)
            except VmcoreError:
                ok = False
            if not ok:
                break
            want += 1
        got = pt.translating_prefix(array("Q", [v for v, _ in pairs]), array("Q", [p for _, p in pairs]))
        assert got == want, pairs
    with pytest.raises(VmcoreError, match="2 addresses but 1 permission sets"):
        pt.translating_prefix(array("Q", [VA, VA]), array("Q", [0]))
    with pytest.raises(VmcoreError, match="must be array"):
        pt.translating_prefix([VA], array("Q", [0]))  # type: ignore[arg-type]
    pt.close()
    raises(StateError, lambda: pt.translating_prefix(array("Q", [VA]), array("Q", [0])), "closed")
