"""What a policy hook is asked and what it may answer.

Requests are frozen snapshots: a policy decides from them and can change the run only
through its answer, never by reaching into engine state.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class AllocMode(enum.StrEnum):
    """How an allocation the fault handler makes may get memory."""

    TTM = "ttm"
    """As TTM allocates (upstream): evict what ``amdgpu_ttm_bo_eviction_valuable`` allows in the
    evict family's order and wait for it; a page table whose reservation is busy is not a
    candidate (``amdgpu_vm_evictable``)."""
    WAIT = "wait"
    """Evict victims in the evict family's order and wait for their fences, busy page
    tables included (the 2019 hazard)."""
    NO_WAIT = "no-wait"
    """Evict only idle victims (``ttm_operation_ctx.no_wait_gpu``); fail if that is not enough."""
    RESERVE = "reserve"
    """Page tables only: take it from the emergency pool."""
    FAIL = "fail"
    """Never evict: the fault is retried later."""


class QueueModel(enum.StrEnum):
    """What a job on a ``compute`` or ``sdma`` engine is (family ``queues``)."""

    KFD = "kfd"
    """A KFD user queue: no dma-fence per job; the process's eviction fence (BOOKKEEP on
    its BOs and root PDs) preempts its queues when waited for (upstream)."""
    CS = "cs"
    """An ``amdgpu_cs`` submission: the job's completion is a dma-fence on the BOs it uses
    and, as the ``pt_fences`` policy says, on its VM's page-table reservation (2019)."""


class RootPdMode(enum.StrEnum):
    """How a VM's root PD stays usable (family ``root_pd``)."""

    MOVABLE = "movable"
    """Not pinned; evictable only when idle (upstream ``amdgpu_vm_evictable``)."""
    PINNED = "pinned"
    """Pinned for the VM's lifetime: costs contiguous VRAM."""
    FENCED = "fenced"
    """Kept resident by a kernel fence that signals only at VM teardown."""


class UpdatePath(enum.StrEnum):
    """The path a page-table update takes to the PTEs (family ``update``)."""

    DIRECT = "direct"
    """Written straight into the page queue by the submitting actor (``amdgpu_job_submit_direct``)."""
    IMMEDIATE = "immediate"
    """Through the VM's immediate scheduler entity (``vm->immediate``)."""
    DELAYED = "delayed"
    """Through the VM's delayed scheduler entity (``vm->delayed``)."""
    CPU = "cpu"
    """Written by the CPU after waiting for the page tables' kernel fences (``amdgpu_vm_cpu_funcs``)."""


class FaultAction(enum.StrEnum):
    """What happens to a fault the handler cannot map (family ``fault``)."""

    KILL = "kill"
    """Report a no-retry fault: the process is killed."""
    SILENCE = "silence"
    """Write a silent-retry PTE: the job stalls without faulting until the PTE changes."""
    DUMMY = "dummy"
    """Map the dummy page: the job completes, reading garbage."""


class PtMove(enum.StrEnum):
    """What happens to a page table that must leave its memory (family ``pt_move``)."""

    MIGRATE = "migrate"
    """Copy the page table through the page queue and update its parent PDE."""
    REALLOCATE = "reallocate"
    """Free it; its PTEs are lost and re-faulted."""


@dataclass(frozen=True, slots=True)
class AllocRequest:
    """An allocation made by the fault handler."""

    gpu: str
    """The GPU whose VRAM the allocation is in."""
    purpose: str
    """"pt" (a page table) or "migration" (pages a granule migrates into)."""
    size: int
    """Bytes wanted."""
    process: str
    """The process the fault belongs to."""
    svm: bool = False
    """True on KFD's SVM fault path (``svm_range_restore_pages``); False on
    ``amdgpu_vm_handle_fault``'s (an address that is not an SVM range)."""


@dataclass(frozen=True, slots=True)
class EvictCandidate:
    """Something in VRAM that could be evicted."""

    name: str
    """The BO's name, or ``process:va`` of an SVM range's VRAM BO (what the answer is matched by)."""
    kind: str
    """"bo", "pt" (a page table), "root_pd" or "range" (an SVM range's VRAM BO, evicted whole)."""
    size: int
    """Bytes it holds in VRAM."""
    lru: int
    """When it was last used, as TTM's use counter: larger is more recent."""
    uses: int
    """How many times it was used."""
    created: int
    """Simulated time it was allocated (a BO or page table) or last came into VRAM (a
    range's granule)."""
    busy: bool
    """Whether it has unsignaled fences (any usage)."""


UPDATE_KINDS = ("map", "invalidate", "unmap")
"""What an :class:`UpdateRequest` may be: a mapping, an MMU-notifier invalidation, an unmap."""


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """A page-table update about to be submitted."""

    gpu: str
    """The GPU whose page tables are updated."""
    process: str
    """The process the VM belongs to."""
    fault_path: bool
    """True when the fault handler makes it."""
    kind: str
    """"map", "invalidate" (MMU notifier) or "unmap"."""
    svm: bool = False
    """With ``fault_path``: True on KFD's SVM fault path (``svm_range_map_to_gpu``,
    ``immediate = false`` upstream), False on ``amdgpu_vm_handle_fault``'s
    (``immediate = true``)."""


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """A fault the handler cannot map (no-retry fault, unmapped address, permission)."""

    gpu: str
    """The faulting GPU."""
    process: str
    """The faulting process."""
    address: int
    """The faulting address."""
    write: bool
    """Whether the access was a write."""
    reason: str
    """Why it cannot be mapped, in words ("no range or mapping at the address", ...)."""


@dataclass(frozen=True, slots=True)
class MigrationRequest:
    """Where should a faulting granule's data be?"""

    gpu: str
    """The faulting GPU."""
    process: str
    """The faulting process."""
    address: int
    """The faulting address."""
    granule_start: int
    """The first address of the faulting granule (the range's migration unit)."""
    granule_size: int
    """The granule's size in bytes."""
    location: str
    """Where the data is now: "system" or "GPU.vram"."""
    preferred: str | None
    """The range's ``preferred`` location, if it has one."""
    access: tuple[str, ...]
    """The GPUs that map the range on fault (its ``access`` set)."""
    in_place: tuple[str, ...]
    """The GPUs that map the data where it is (its ``in_place`` set)."""
    hives: tuple[tuple[str, str], ...]
    """(gpu, hive) for every GPU of the process."""
    retry_faults: bool
    """Whether the process takes retry faults (XNACK on)."""


@dataclass(frozen=True, slots=True)
class PrefetchRequest:
    """A retry fault has just migrated its granule: what else should follow it?

    Asked once per fault that migrated its granule in the fault handler. The answer is a
    list of ``(address, size)`` ranges; the granules of the faulting range that overlap
    them and are not on ``target`` yet migrate there too, and are mapped on the
    faulting GPU. Parts outside the faulting range are ignored.
    """

    gpu: str
    """The faulting GPU."""
    process: str
    """The faulting process."""
    address: int
    """The faulting address."""
    granule_start: int
    """The first address of the faulting granule."""
    granule_size: int
    """The faulting granule's size (the range's migration unit)."""
    range_start: int
    """The first address of the SVM range the fault is in."""
    range_size: int
    """The size of the SVM range the fault is in."""
    target: str
    """Where the faulting granule went: "GPU.vram" or "system"."""
    resident: Callable[[int, int], int]
    """``resident(address, size)``: how many bytes of that part of the range are on
    ``target`` now (after the faulting granule's migration)."""


@dataclass(frozen=True, slots=True)
class HintRequest:
    """A ``migrate`` hint (KFD's prefetch) about to move data."""

    process: str
    """The process the hint is about."""
    address: int
    """The first address of the hinted range."""
    size: int
    """Bytes it covers."""
    target: str
    """"system" or "GPU.vram", as the statement names it."""


@dataclass(frozen=True, slots=True)
class MigrationDecision:
    """Where a faulting granule's data should be, and how it gets there (family ``migration``)."""

    target: str
    """"system" or "GPU.vram": where the data should end up."""
    in_fault_handler: bool = True
    """False: map where the data is now and let the migration worker move it later."""
    silent_retry: bool = False
    """The MMU notifier invalidates into silent-retry mode while the copy runs."""
