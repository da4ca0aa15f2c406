"""The page store: one 64-bit value per simulated physical page, in the C core (``store.c``)."""

from __future__ import annotations

from typing import Any

from vmcore._core import ffi, lib
from vmcore.core._status import U64_MAX, CoreObject, check, fail, uint
from vmcore.core.pagetable import PageTable
from vmcore.errors import StateError


class PageStore(CoreObject):
    """Values of physical pages; regions are added as memory comes into being (0 when new)."""

    __slots__ = ("_out", "_out2", "_s")

    def __init__(self) -> None:
        out = ffi.new("vmc_store **")
        st = lib.vmc_store_create(out)
        if st:
            check(st, "PageStore")
        self._s: Any = out[0]
        self._out: Any = ffi.new("uint64_t *")
        self._out2: Any = ffi.new("uint64_t *")

    def close(self) -> None:
        if getattr(self, "_s", None) is not None:
            lib.vmc_store_destroy(self._s)
            self._s = None

    def _h(self, op: str) -> Any:
        if self._s is None:
            raise StateError(f"{op}: the page store was closed", lib.VMC_E_STATE)
        return self._s

    def add_region(self, base: int, npages: int) -> None:
        op = "PageStore.add_region"
        if not (
            type(base) is type(npages) is int and 0 <= base <= U64_MAX and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "base", base)
            uint(op, "npages", npages)
        st = lib.vmc_store_add_region(self._h(op), base, npages)
        if st == lib.VMC_E_BUSY:
            raise fail(st, op, "the region overlaps one already added", base=base, npages=npages)
        if st:
            check(st, op, base=base, npages=npages)

    def fill(self, phys: int, npages: int, value: int) -> None:
        op = "PageStore.fill"
        if not (
            type(phys) is type(npages) is type(value) is int
            and 0 <= phys <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= value <= U64_MAX
        ):  # the common case in one test
            uint(op, "phys", phys)
            uint(op, "npages", npages)
            uint(op, "value", value)
        st = lib.vmc_store_fill(self._h(op), phys, npages, value)
        if st == lib.VMC_E_RANGE:
            raise fail(st, op, "the pages are not inside one region of memory", phys=phys, npages=npages)
        if st:
            check(st, op, phys=phys, npages=npages)

    def copy(self, src: int, dst: int, npages: int) -> None:
        op = "PageStore.copy"
        if not (
            type(src) is type(dst) is type(npages) is int
            and 0 <= src <= U64_MAX
            and 0 <= dst <= U64_MAX
            and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "src", src)
            uint(op, "dst", dst)
            uint(op, "npages", npages)
        st = lib.vmc_store_copy(self._h(op), src, dst, npages)
        if st == lib.VMC_E_RANGE:
            raise fail(
                st,
                op,
                "source or destination is not inside one region of memory",
                src=src,
                dst=dst,
                npages=npages,
            )
        if st:
            check(st, op, src=src, dst=dst, npages=npages)

    def get(self, phys: int) -> int:
        op = "PageStore.get"
        uint(op, "phys", phys)
        st = lib.vmc_store_get(self._h(op), phys, self._out)
        if st:
            check(st, op, phys=phys)
        return int(self._out[0])

    def check(self, phys: int, npages: int, value: int) -> tuple[int, int]:
        """(index of the first page not holding ``value`` — npages when none —, the value there)."""
        op = "PageStore.check"
        if not (
            type(phys) is type(npages) is type(value) is int
            and 0 <= phys <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= value <= U64_MAX
        ):  # the common case in one test
            uint(op, "phys", phys)
            uint(op, "npages", npages)
            uint(op, "value", value)
        check(
            lib.vmc_store_check(self._h(op), phys, npages, value, self._out, self._out2),
            op,
            phys=phys,
            npages=npages,
        )
        return int(self._out[0]), int(self._out2[0])

    def gpu_write(self, pt: PageTable, va: int, npages: int, value: int) -> int:
        """Write ``value`` through ``pt``'s PTEs (a GPU access); returns the pages written."""
        op = "PageStore.gpu_write"
        if not (
            type(va) is type(npages) is type(value) is int
            and 0 <= va <= U64_MAX
            and 0 <= npages <= U64_MAX
            and 0 <= value <= U64_MAX
        ):  # the common case in one test
            uint(op, "va", va)
            uint(op, "npages", npages)
            uint(op, "value", value)
        check(
            lib.vmc_vm_store_write(pt._h("store"), self._h(op), va, npages, value, self._out),
            op,
            va=va,
            npages=npages,
        )
        return int(self._out[0])

    def gpu_copy(self, pt: PageTable, src_va: int, dst_va: int, npages: int) -> int:
        """Copy page values from ``src_va`` to ``dst_va`` through ``pt``'s PTEs."""
        op = "PageStore.gpu_copy"
        if not (
            type(src_va) is type(dst_va) is type(npages) is int
            and 0 <= src_va <= U64_MAX
            and 0 <= dst_va <= U64_MAX
            and 0 <= npages <= U64_MAX
        ):  # the common case in one test
            uint(op, "src_va", src_va)
            uint(op, "dst_va", dst_va)
            uint(op, "npages", npages)
        st = lib.vmc_vm_store_copy(pt._h("store"), self._h(op), src_va, dst_va, npages, self._out)
        if st:
            check(st, op, src_va=src_va, dst_va=dst_va, npages=npages)
        return int(self._out[0])
