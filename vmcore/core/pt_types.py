"""The gfx9 page-table encoding the C core uses (``pt.c``), as Python sees it: sizes,
levels, PTE bits, invalidation modes, and what a walk or a page-table BO reports.  Plain
values only; :mod:`vmcore.core.pagetable` holds the page table itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from vmcore._core import lib

PAGE_SIZE: Final[int] = lib.VMC_PAGE_SIZE
PAGE_SHIFT: Final[int] = lib.VMC_PAGE_SHIFT
ENTRIES_PER_PT: Final[int] = lib.VMC_ENTRIES_PER_PT
VA_LIMIT: Final[int] = 1 << lib.VMC_VA_BITS
PTE_ADDR_MASK: Final[int] = lib.VMC_PTE_ADDR_MASK
PDE_ADDR_MASK: Final[int] = lib.VMC_PDE_ADDR_MASK
READ_LIMIT: Final[int] = 1 << 24
"""Most PTEs one :meth:`PageTable.read_ptes` call copies out (128 MiB of PTEs)."""


class Level(enum.IntEnum):
    """Page-table levels, root first (``enum amdgpu_vm_level``)."""

    PDB2 = lib.VMC_LEVEL_PDB2
    PDB1 = lib.VMC_LEVEL_PDB1
    PDB0 = lib.VMC_LEVEL_PDB0
    PTB = lib.VMC_LEVEL_PTB


class Pte(enum.IntFlag):
    """PTE/PDE bits as amdgpu encodes them for gfx9 (``AMDGPU_PTE_*`` in amdgpu_vm.h)."""

    VALID = lib.VMC_PTE_VALID
    SYSTEM = lib.VMC_PTE_SYSTEM
    SNOOPED = lib.VMC_PTE_SNOOPED
    TMZ = lib.VMC_PTE_TMZ
    EXECUTABLE = lib.VMC_PTE_EXECUTABLE
    READABLE = lib.VMC_PTE_READABLE
    WRITEABLE = lib.VMC_PTE_WRITEABLE
    PRT = lib.VMC_PTE_PRT
    PDE_PTE = lib.VMC_PDE_PTE
    LOG = lib.VMC_PTE_LOG
    TF = lib.VMC_PTE_TF


RW: Final = Pte.READABLE | Pte.WRITEABLE
PERMS: Final = Pte.READABLE | Pte.WRITEABLE | Pte.EXECUTABLE


class Invalidate(enum.IntEnum):
    """What an invalidated PTE becomes."""

    INVALID = lib.VMC_INV_INVALID
    """Not valid: the next access takes a retry fault (or a no-retry fault)."""
    SILENT_RETRY = lib.VMC_INV_SILENT_RETRY
    """Valid, system, no permissions: the hardware retries without raising a fault."""
    NORETRY = lib.VMC_INV_NORETRY
    """``AMDGPU_VM_NORETRY_FLAGS``: the next access takes a no-retry fault."""


class WalkReason(enum.IntEnum):
    """Why a page-table walk stopped."""

    OK = lib.VMC_WALK_OK
    NO_TABLE = lib.VMC_WALK_NO_TABLE
    INVALID = lib.VMC_WALK_INVALID
    SILENT_RETRY = lib.VMC_WALK_SILENT_RETRY
    NORETRY = lib.VMC_WALK_NORETRY
    PERMISSION = lib.VMC_WALK_PERMISSION


@dataclass(frozen=True, slots=True)
class Walk:
    """Result of translating one address: where the walk stopped, why, and what it read."""

    level: Level
    reason: WalkReason
    pte: int
    phys: int

    @property
    def ok(self) -> bool:
        return self.reason is WalkReason.OK


@dataclass(frozen=True, slots=True)
class PtInfo:
    """One page-table BO: its level, the VA it covers, where it lives, what it holds."""

    level: Level
    va_base: int
    va_span: int
    addr: int
    nchildren: int
    nvalid: int


@dataclass(frozen=True, slots=True)
class PtCounters:
    valid_ptes: int
    resident_pts: int
    bytes_used: int


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
    "PtCounters",
    "PtInfo",
    "Pte",
    "Walk",
    "WalkReason",
]
