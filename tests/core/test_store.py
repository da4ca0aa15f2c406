"""The page store: values per physical page, moved in bulk, read through PTEs."""

from __future__ import annotations

import pytest

from vmcore.core import PageStore, PageTable, Pte
from vmcore.errors import BusyError, Misaligned, OutOfRange, VmcoreError


def test_new_regions_read_zero_and_fill_copy_get() -> None:
    with PageStore() as s:
        s.add_region(0x10_0000, 8)
        assert s.check(0x10_0000, 8, 0) == (8, 0)
        s.fill(0x10_2000, 2, 5)
        assert [s.get(0x10_0000 + i * 4096) for i in range(5)] == [0, 0, 5, 5, 0]
        s.add_region(0x90_0000, 4)
        s.copy(0x10_2000, 0x90_1000, 2)
        assert s.check(0x90_1000, 2, 5) == (2, 5)
        assert s.check(0x90_0000, 4, 5) == (0, 0)


def test_gpu_access_goes_through_the_ptes_stale_ones_included() -> None:
    with PageStore() as s, PageTable() as pt:
        s.add_region(0x10_0000, 4)
        s.add_region(0x20_0000, 4)
        pt.ensure(0x4000_0000, 4)
        pt.map(0x4000_0000, 2, 0x10_0000, Pte.READABLE | Pte.WRITEABLE)
        assert s.gpu_write(pt, 0x4000_0000, 4, 3) == 2  # unmapped pages are skipped
        assert s.check(0x10_0000, 2, 3) == (2, 3)
        # the data moved but the PTE was not updated: a write through it lands in the old page
        s.copy(0x10_0000, 0x20_0000, 2)
        s.gpu_write(pt, 0x4000_0000, 1, 8)
        assert s.get(0x10_0000) == 8 and s.get(0x20_0000) == 3
        pt.map(0x4000_2000, 1, 0x20_0000)
        assert s.gpu_copy(pt, 0x4000_0000, 0x4000_2000, 1) == 1
        assert s.get(0x20_0000) == 8


def test_bad_input_is_a_clear_error() -> None:
    with PageStore() as s:
        s.add_region(0x10_0000, 4)
        with pytest.raises(BusyError, match="overlaps"):
            s.add_region(0x10_2000, 4)
        with pytest.raises(OutOfRange, match="not inside one region"):
            s.fill(0x10_2000, 4, 1)
        with pytest.raises(Misaligned):
            s.fill(0x10_0010, 1, 1)
        with pytest.raises(OutOfRange, match="npages=-1"):
            s.fill(0x10_0000, -1, 1)
        with pytest.raises(VmcoreError):
            s.get(0x5000_0000)
        assert s.check(0x10_0000, 4, 0) == (4, 0)  # nothing was changed by the refused calls
    with pytest.raises(VmcoreError, match="closed"):
        s.get(0x10_0000)
