"""The objects of the simulated memory system: GPUs, engines, processes, VMs, BOs, ranges, jobs.

State lives here; the mechanics that change it live in the other engine modules.
Names follow amdgpu: a VM's page tables share the root PD's reservation object, a
reservation holds (fence, usage) pairs, a job's finished fence is a user fence."""

from __future__ import annotations

import bisect
import enum
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmcore.core import PageTable, Pool, Ring
from vmcore.engine.sim import Signal
from vmcore.hooks.decisions import RootPdMode

if TYPE_CHECKING:
    from vmcore.engine.gpu.ih import IhRing
    from vmcore.engine.gpu.ring import Entity, PageQueue
    from vmcore.engine.gpu.svm_bo import SvmBo
    from vmcore.engine.gpu.ttm import Lru
    from vmcore.engine.sim import Actor, SimFence

PAGE = 4096
GRANULE = 2 << 20
VM_FAULT = 1
"""``fault_path`` of work ``amdgpu_vm_handle_fault`` does (an address that is no SVM range)."""
SVM_FAULT = 2
"""``fault_path`` of work KFD's ``svm_range_restore_pages`` does (0: not the fault handler)."""
PROCESS_COUNTERS = (
    "faults",
    "retries",
    "cpu_faults",
    "migrations",
    "evictions",
    "bytes_moved",
    "pt_allocations",
    "alloc_failures",
    "thrashed",
    "prefetched",
)
"""The counters kept per process as well as for the run (the owner of what was counted:
the faulting process, the owner of the BO or range moved)."""


class Usage(enum.IntEnum):
    """``enum dma_resv_usage``: a query for one usage also returns every lower one."""

    KERNEL = 0
    WRITE = 1
    READ = 2
    BOOKKEEP = 3


class Resv:
    """A reservation object: the fences of a BO (or of all page tables of a VM)."""

    __slots__ = ("entries", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[tuple[SimFence, Usage]] = []

    def add(self, fence: SimFence, usage: Usage) -> None:
        self.prune()
        self.entries.append((fence, usage))

    # a fence's wait-for node is 0 once it signaled: tested directly, these run per use
    def prune(self) -> None:
        if any(not f.node for f, _ in self.entries):
            self.entries = [(f, u) for f, u in self.entries if f.node]

    def fences(self, upto: Usage) -> list[SimFence]:
        """Unsignaled fences of usage ``upto`` or lower (``dma_resv_for_each_fence``)."""
        return [f for f, u in self.entries if u <= upto and f.node]

    def idle(self, upto: Usage = Usage.BOOKKEEP) -> bool:
        """No unsignaled fence of usage ``upto`` or lower (``dma_resv_test_signaled``)."""
        for f, u in self.entries:  # noqa: SIM110 (a plain loop: this runs per eviction candidate)
            if f.node and u <= upto:
                return False
        return True


class EngineKind(enum.StrEnum):
    GFX = "gfx"
    COMPUTE = "compute"
    MM = "mm"
    SDMA = "sdma"


@dataclass(eq=False)
class Engine:
    """A GPU engine; ``retry`` says whether it supports recoverable (retry) faults."""

    name: str
    kind: EngineKind
    gpu: Gpu
    retry: bool = False
    locked: bool = False
    queue: list[Job] = field(default_factory=list)
    ring: Ring | None = None
    """sdma engines: the kernel page queue carrying page-table updates and kernel copies."""
    actor: Actor | None = None
    signal: Signal | None = None
    """Fired when a job is queued."""


@dataclass(eq=False)
class Gpu:
    name: str
    vram_size: int
    gtt_size: int
    index: int = 0
    engines: dict[str, Engine] = field(default_factory=dict)
    vram: Pool | None = None
    gtt: Pool | None = None
    hive: str = ""
    pt_reserve: Pool | None = None
    """The emergency pool for page tables, when the alloc policy keeps one."""
    pt_reserve_base: int = 0
    pq: PageQueue | None = None
    """The page queue: the kernel ring of the first ``sdma`` engine (set at start)."""
    ih: IhRing | None = None
    """The IH ring and its fault filter (set at start)."""
    pt_at: dict[int, Bo] = field(default_factory=dict)
    """Address -> PD/PT BO of every live page table of this GPU's VMs."""
    lru: Lru | None = None
    """TTM's LRU of the eviction candidates in this GPU's VRAM."""

    @property
    def sdma(self) -> Engine:
        """The engine whose kernel ring is the page queue."""
        for e in self.engines.values():
            if e.kind is EngineKind.SDMA:
                return e
        raise KeyError(self.name)


@dataclass(eq=False)
class Link:
    a: str
    b: str
    kind: str
    bandwidth: int
    latency: int


class Domain(enum.StrEnum):
    VRAM = "vram"
    GTT = "gtt"
    SYSTEM = "system"


VRAM = Domain.VRAM  # per-fault paths read this: Domain.VRAM costs ~95 ns (EnumType.__getattr__, 3.11)


@dataclass(eq=False)
class Placement:
    """Where some memory is: a domain, the GPU for VRAM, the blocks and the base address.

    VRAM addresses are offsets in the GPU's VRAM; GTT and system memory share one
    system address space (PTEs carry the SYSTEM bit for them).
    """

    domain: Domain
    gpu: Gpu | None
    blocks: list[tuple[int, int, int]] = field(default_factory=list)
    """(pool handle, offset, size) for VRAM and GTT; system memory has one pseudo block."""
    pool: Pool | None = None

    @property
    def size(self) -> int:
        return sum(b[2] for b in self.blocks)

    def where(self) -> str:
        return f"{self.gpu.name}.vram" if self.domain is VRAM and self.gpu else str(self.domain)

    def address_of(self, offset: int) -> int:
        """Physical address of byte ``offset`` of this placement."""
        for _, base, size in self.blocks:
            if offset < size:
                return base + offset
            offset -= size
        raise IndexError(offset)

    def runs(self, offset: int, length: int) -> list[tuple[int, int]]:
        """Physically contiguous (address, bytes) runs covering [offset, offset + length)."""
        out = []
        for _, base, size in self.blocks:
            if length <= 0:
                break
            if offset >= size:
                offset -= size
                continue
            n = min(size - offset, length)
            out.append((base + offset, n))
            length -= n
            offset = 0
        return out


@dataclass(eq=False)
class Bo:
    """A buffer object: its placement, reservation object, LRU stamp and mappings."""

    name: str
    size: int
    owner: Process | None
    home: Domain
    gpu: Gpu | None
    pinned: bool = False
    contiguous: bool = False
    place: Placement | None = None
    moving: bool = False
    """A move (eviction, revalidation) is copying it: it holds the BO's reservation, so
    no other move takes it meanwhile (TTM evicts a BO only with its reservation held)."""
    resv: Resv = field(default_factory=lambda: Resv("bo"))
    lru: int = 0
    uses: int = 0
    created: int = 0
    mappings: dict[Vm, int] = field(default_factory=dict)
    """VM -> VA where the BO is mapped."""
    pt_of: Vm | None = None
    """Page-table BOs: the VM and the handle in its page table."""
    pt_handle: int = 0
    pt_level: int = 0
    pt_va: int = 0
    """PD/PT BOs: the first VA their entries map (the PTE-write sink's base)."""
    order: int = 0
    """When it was registered with TTM, among everything TTM knows (ties in LRU order)."""
    lru_home: Lru | None = None
    """The LRU of eviction candidates it is on, if any (``Ttm.placed`` keeps it true)."""


@dataclass(eq=False)
class Granule:
    """One migration unit of an SVM range and where its data is."""

    range: SvmRange
    index: int
    va: int
    size: int
    place: Placement
    migrating: bool = False
    vram_visits: dict[str, int] | None = None
    """How many times it migrated into each GPU's VRAM: twice into one, it thrashed."""

    @property
    def npages(self) -> int:
        return self.size // PAGE


@dataclass(eq=False)
class SvmRange:
    """An HMM/SVM range of a process with KFD's attributes."""

    process: Process
    start: int
    size: int
    preferred: str | None = None
    access: list[str] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)
    no_access: list[str] = field(default_factory=list)
    granularity: int = GRANULE
    readonly: bool = False
    exec: bool = False
    granules: list[Granule] = field(default_factory=list)
    unmapped: bool = False
    """A munmap took it out of the process's ranges: nothing migrates or maps it any more."""
    svm_bo: SvmBo | None = None
    """Its VRAM (``prange->svm_bo``): every granule of it in VRAM is in this BO."""
    uses: int = 0
    """GPU accesses to it, kept across evictions: what ``lfu`` counts for its BO."""
    _sets: tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]] | None = None

    def request_sets(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
        """(access, in_place, (gpu, hive) of the process's GPUs) as a migration request
        carries them: fixed once the range is registered, made once."""
        if self._sets is None:
            self._sets = (
                tuple(self.access),
                tuple(self.in_place),
                tuple((g.name, g.hive) for g in self.process.gpus),
            )
        return self._sets

    @property
    def end(self) -> int:
        return self.start + self.size

    def granule_at(self, va: int) -> Granule:
        # granules are cut at multiples of the granularity: try the arithmetic first
        i = va // self.granularity - self.start // self.granularity
        if 0 <= i < len(self.granules):
            g = self.granules[i]
            if g.va <= va < g.va + g.size:
                return g
        i = bisect.bisect_right(self.granules, va, key=lambda g: g.va) - 1
        if i >= 0:
            g = self.granules[i]
            if g.va <= va < g.va + g.size:
                return g
        raise KeyError(hex(va))


@dataclass(eq=False)
class Vm:
    """A process's VM on one GPU: page tables in the core, a root PD, two entities."""

    process: Process
    gpu: Gpu
    pasid: int
    pt: PageTable
    resv: Resv
    root: Bo
    retry_faults: bool = True
    prefill: bool = False
    pt_bos: dict[int, Bo] = field(default_factory=dict)
    """PT handle -> BO (root excluded)."""
    immediate: Entity | None = None
    delayed: Entity | None = None
    watching: list[tuple[Job, int, int]] = field(default_factory=list)
    """Jobs whose next accesses depend on PTEs of this VM: (job, lo, hi); a PTE update
    overlapping [lo, hi) wakes the job so it walks again."""
    alive: bool = True
    root_fence: SimFence | None = None
    """fence-root-pd: the kernel fence that keeps the root PD resident."""
    root_mode: RootPdMode = RootPdMode.MOVABLE
    """How the root PD stays usable (the root_pd policy's answer when the VM was made)."""

    def __hash__(self) -> int:
        return id(self)


@dataclass(eq=False)
class Process:
    name: str
    pasid: int
    gpus: list[Gpu]
    retry_faults: bool = True
    prefill: bool = False
    vms: dict[str, Vm] = field(default_factory=dict)
    ranges: list[SvmRange] = field(default_factory=list)
    bos: list[Bo] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    killed: bool = False
    killed_at: int | None = None
    kill_reason: str = ""
    released: bool = False
    quiesced: int = 0
    """Reasons the process's queues are stopped now: migrations in flight (retry faults
    off, prefill) and a preemption by its eviction fence."""
    kfd: bool = False
    """Its compute and sdma jobs are KFD user queues (the ``queues`` family said ``kfd``)."""
    eviction_fence: SimFence | None = None
    """KFD: the eviction fence now on its BOs and root PDs (BOOKKEEP); waiting for it
    preempts the queues, which signals it; the restore worker makes the next one."""
    resume: Signal = field(default_factory=lambda: Signal("queues"))
    """Fired when the queues resume (or the process is killed)."""
    teardown: Actor | None = None
    refs: int = 0
    """References on the process held by work in flight for it (``kfd_lookup_process_by_pasid``
    ... ``kfd_unref_process``): the fault handler restoring one of its faults, a migration of
    one of its granules, a move of one of its BOs, a call of its application thread.  Its
    teardown (``kfd_process_wq_release``) waits for the last one to be dropped."""
    unref: Signal = field(default_factory=lambda: Signal("references"))
    """Fired when the last reference is dropped."""
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROCESS_COUNTERS, 0))
    """This process's share of the run's counters (``METRIC of P``)."""
    last_range: SvmRange | None = field(default=None, repr=False)  # what range_at found last

    def range_at(self, va: int) -> SvmRange | None:
        """The SVM range with a granule at ``va`` (a munmap can leave holes in a range).
        Ranges never overlap, and the next ``va`` is usually in the one found last: it is
        still one of ``ranges`` unless a munmap took it out (and marked it ``unmapped``)."""
        r = self.last_range  # (a split shrinks it: its bounds are read anew, not r.end, a call)
        if r is None or r.unmapped or not r.start <= va < r.start + r.size:
            for r in self.ranges:
                if r.start <= va < r.start + r.size:
                    self.last_range = r
                    break
            else:
                return None
        try:
            r.granule_at(va)
        except KeyError:
            return None
        return r


@dataclass(frozen=True, slots=True)
class Access:
    """The pages a job accesses, and in what order.

    ``pattern`` orders the pages of ``va +size``: ``sequential`` (address order),
    ``reverse``, ``random`` (a permutation drawn from the run's seed and the job's name)
    or ``stride`` (every ``stride`` bytes, then again from the next page, until every
    page is touched); ``passes`` repeats the whole walk. ``trace`` replaces all of that
    with a recorded access list: packed native 64-bit entries, a page address
    with bit 0 set for a write (``accesses "FILE"``). The order is generated as the job
    runs, never kept as a Python object per access.
    """

    va: int
    size: int
    write: bool
    value: int = 1
    src: int | None = None
    """For the destination of ``copies``: the VA the values are read from."""
    pattern: str = "sequential"
    stride: int = 0
    passes: int = 1
    trace: bytes | None = None

    def accesses(self) -> int:
        """How many page accesses the walk makes."""
        if self.trace is not None:
            return len(self.trace) // 8 * self.passes
        return max(1, self.size // PAGE) * self.passes

    def runs(self, seed: int, job: str) -> Iterator[tuple[int, int, bool]]:
        """The walk as runs of consecutive pages: (first page's VA, pages, write)."""
        n = max(1, self.size // PAGE)
        va, write = self.va, self.write
        pattern = self.pattern
        order: array[int] | None = None
        if pattern == "random" and self.trace is None:
            order = array("Q", range(n))
            random.Random(f"{seed}:{job}").shuffle(order)
        for _ in range(self.passes):
            if self.trace is not None:
                yield from _trace_runs(self.trace)
            elif pattern == "sequential":
                yield va, n, write
            elif pattern == "reverse":
                for i in range(n - 1, -1, -1):
                    yield va + i * PAGE, 1, write
            elif order is not None:
                for i in order:
                    yield va + i * PAGE, 1, write
            elif pattern == "stride":
                step = max(1, self.stride // PAGE)
                for first in range(min(step, n)):
                    for i in range(first, n, step):
                        yield va + i * PAGE, 1, write
            else:
                raise ValueError(f"access pattern {pattern!r}: not sequential, reverse, random or stride")


def _trace_runs(trace: bytes) -> Iterator[tuple[int, int, bool]]:
    """A recorded access list as runs: consecutive pages with the same write bit merge."""
    start = -1
    n = 0
    write = False
    for e in memoryview(trace).cast("Q"):
        page, w = e & ~(PAGE - 1), bool(e & 1)
        if n and w == write and page == start + n * PAGE:
            n += 1
            continue
        if n:
            yield start, n, write
        start, n, write = page, 1, w
    if n:
        yield start, n, write


@dataclass(eq=False)
class Job:
    """A user command submission: its accesses, BOs, dependencies and finished fence."""

    name: str
    engine: Engine
    process: Process
    accesses: list[Access]
    uses: list[tuple[Bo, bool]]
    after: list[Job]
    takes: int
    fence: SimFence | None = None
    actor: Actor | None = None
    started: int | None = None
    finished: int | None = None
    error: str = ""
    wake: Signal | None = None
    node: int = 0
    deps: list[SimFence] = field(default_factory=list)
    """Fences the job waits for before it runs (``after`` jobs, implicit sync)."""

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def kfd(self) -> bool:
        """Work on a KFD user queue (no dma-fence on any reservation), not an ``amdgpu_cs`` job."""
        return self.process.kfd and self.engine.kind in (EngineKind.COMPUTE, EngineKind.SDMA)
