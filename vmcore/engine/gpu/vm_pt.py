"""Page tables: PD/PT BOs, the PTEPDE packets of an update, and the paths updates take.

Models ``amdgpu_vm_pt.c`` (``amdgpu_vm_ptes_update`` allocates missing page tables and
writes one PTEPDE packet per leaf table touched) and the commit side of
``amdgpu_vm_sdma.c`` (an update is a kernel job on the VM's immediate or delayed entity,
waits only for the kernel fences on the page-table reservation, and adds its own fence
there as BOOKKEEP).  The PTE-write sink (``write_ptes``) is where PTEs really change:
the SDMA executor (or the CPU path) calls it when it executes a PTEPDE packet.

Invariants: every PD/PT BO of a VM shares the root PD's reservation; ``gpu.pt_at`` maps
the address of every live PD/PT of the GPU's VMs to its BO, so a PTE write finds its
table by address as the hardware does, and a write to a table that moved is lost.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from vmcore.core import FenceKind, NodeKind, Op
from vmcore.core.pagetable import ENTRIES_PER_PT, Invalidate, Level, Pte
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.ring import DIRECT_WRITER, KernelJob, Packets, PageQueue
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.model import PAGE, SVM_FAULT, Bo, Domain, Placement, Usage, Vm
from vmcore.engine.sim import SimFence, WaitFence
from vmcore.errors import ScenarioError
from vmcore.hooks.decisions import UpdatePath

Gen = Generator[Any, Any, Any]

SILENT_FLAGS = int(Pte.VALID | Pte.SYSTEM | Pte.SNOOPED)
"""``amdgpu_vm_handle_fault``'s silent-retry PTE: valid, system, no permissions."""
NORETRY_FLAGS = int(Pte.EXECUTABLE | Pte.PDE_PTE | Pte.TF)
"""``AMDGPU_VM_NORETRY_FLAGS``."""
_VALID = int(Pte.VALID)
_OP_PTEPDE, _PTB = Op.PTEPDE, Level.PTB
_CPU, _DIRECT, _IMMEDIATE = UpdatePath.CPU, UpdatePath.DIRECT, UpdatePath.IMMEDIATE
"""Enum members as module constants for the per-fault paths: under Python 3.11 a read
through the class (``Level.PTB``) costs ~95 ns, EnumType.__getattr__ keeping it off the fast path."""


def bo_flags(bo: Bo) -> int:
    """PTE flags of a BO mapping where the BO is now."""
    flags = int(Pte.READABLE | Pte.WRITEABLE)
    if bo.place is not None and bo.place.domain is not Domain.VRAM:
        flags |= int(Pte.SYSTEM | Pte.SNOOPED)
    return flags


def describe_pte(value: int) -> str:
    if value == 0:
        return "invalid"
    if value == SILENT_FLAGS:
        return "silent retry"
    if value == NORETRY_FLAGS:
        return "no-retry"
    return f"{value & 0x0000_FFFF_FFFF_F000:#x}"


def _watched(vm: Vm, va: int, npages: int) -> bool:
    """Does a running job watch any of these pages (a PTE write there wakes it)?"""
    end = va + npages * PAGE
    return any(lo < end and va < hi for _, lo, hi in vm.watching)


class PageTables:
    """Page-table allocation, update packets and update submission for every VM."""

    def __init__(self, dev: Device, ttm: Ttm, bos: dict[str, Bo]) -> None:
        self.dev = dev
        self.ttm = ttm
        self.bos = bos
        self._updates = 0

    # -- page-table BOs --------------------------------------------------------------
    def ensure_pts(self, vm: Vm, va: int, npages: int, *, fault_path: int) -> Gen:
        """Allocate the PDs/PTs missing under [va, va + npages pages); returns success."""
        dev = self.dev
        for level, base in vm.pt.missing(va, npages):
            if vm.pt.lookup(level, base) is not None:
                continue
            place = yield from self.ttm.alloc(
                vm.gpu,
                Domain.VRAM,
                PAGE,
                contiguous=True,
                fault_path=fault_path,
                purpose="pt",
                process=vm.process.name,
            )
            if place is None:
                dev.mon.count("alloc_failures", 1, vm.process)
                dev.log(
                    dev.current_name(),
                    "pt alloc failed",
                    f"{vm.process.name}@{vm.gpu.name} level {level.name} at {base:#x}",
                )
                return False
            if (
                not vm.alive
                or vm.pt.lookup(level, base) is not None
                or (level > Level.PDB1 and vm.pt.lookup(Level(level - 1), base) is None)
            ):
                dev.memory.free(place, "a page table allocated twice")
                if not vm.alive:
                    return False
                continue
            addr = place.address_of(0)
            h = vm.pt.alloc(level, base, addr)
            bo = Bo(
                f"{vm.process.name}.pt{vm.gpu.name}.{level.name}@{base:#x}",
                PAGE,
                vm.process,
                Domain.VRAM,
                vm.gpu,
                place=place,
                resv=vm.resv,
                created=dev.sim.now,
            )
            bo.pt_of, bo.pt_handle, bo.pt_level = vm, h, int(level)
            bo.pt_va = vm.pt.info(h).va_base
            self.ttm.register(bo)
            self.ttm.placed(bo)
            self.ttm.touch(bo)
            vm.pt_bos[h] = bo
            vm.gpu.pt_at[addr] = bo
            self.bos[bo.name] = bo
            dev.mon.count("pt_allocations", 1, vm.process)
        return True

    def drop_pt(self, vm: Vm, bo: Bo) -> None:
        """Free a page-table BO (its PTEs are gone with it)."""
        assert bo.place is not None
        vm.gpu.pt_at.pop(bo.place.address_of(0), None)
        vm.pt_bos.pop(bo.pt_handle, None)
        self.bos.pop(bo.name, None)
        self.dev.memory.free(bo.place, f"freeing page table {bo.name}")
        bo.place = None
        self.ttm.placed(bo)

    # -- packets -----------------------------------------------------------------------
    def _ptb_chunks(self, vm: Vm, va: int, npages: int, need: bool) -> list[tuple[int, int, int]]:
        """(pe address, first page index in range, count) per PTB; missing PTBs skipped."""
        out = []
        page = 0
        while page < npages:
            a = va + page * PAGE
            first = (a >> 12) & (ENTRIES_PER_PT - 1)
            cnt = min(ENTRIES_PER_PT - first, npages - page)
            h = vm.pt.lookup(_PTB, a)
            if h is not None:
                bo = vm.pt_bos.get(h)
                addr = (
                    bo.place.address_of(0) if bo is not None and bo.place is not None else vm.pt.info(h).addr
                )
                out.append((addr + first * 8, page, cnt))
            elif need:
                raise ScenarioError(f"page table missing at {a:#x}")
            page += cnt
        return out

    def map_packets(self, vm: Vm, va: int, npages: int, place: Placement, flags: int) -> Packets:
        """PTEPDE packets mapping [va, va + npages pages) to ``place``."""
        pkts: Packets = []
        for pe, first, cnt in self._ptb_chunks(vm, va, npages, True):
            off = first * PAGE
            for addr, nbytes in place.runs(off, cnt * PAGE):
                n = nbytes // PAGE
                pkts.append((_OP_PTEPDE, pe, flags | _VALID, addr, PAGE, n))
                pe += n * 8
        return pkts

    def fill_packets(self, vm: Vm, va: int, npages: int, value: int, incr: int = 0) -> Packets:
        """PTEPDE packets writing ``value`` into every existing PTE of the range."""
        return [
            (_OP_PTEPDE, pe, value, 0, incr, cnt) for pe, _, cnt in self._ptb_chunks(vm, va, npages, False)
        ]

    # -- submission ----------------------------------------------------------------------
    def update(
        self,
        vm: Vm,
        packets: Packets,
        *,
        fault_path: int,
        kind: str,
        deps: list[SimFence] | None = None,
        wait: tuple[int, int] | None = None,
    ) -> Gen:
        """Submit a page-table update on the path the update policy picks; returns its
        fence (or None).  ``wait=(va, npages)``: the update covers those pages and the
        caller waits for it here; a quiet page queue then runs it at once
        (``PageQueue.run_now``) unless a job watches those pages."""
        dev = self.dev
        path = dev.policies.update_path_of(
            vm.gpu.name, vm.process.name, bool(fault_path), kind, fault_path == SVM_FAULT
        )
        deps = list(deps or [])
        if not packets:
            return None
        pq = vm.gpu.pq
        assert pq is not None
        if path is _CPU:
            for f in vm.resv.fences(Usage.KERNEL):
                yield WaitFence(f)
            for _, pe, flags, addr, incr, count in packets:
                self.write_ptes(pq, pe, flags, addr, incr, count)
            return None
        entity = None
        if path is not _DIRECT:
            if vm.immediate is None or vm.delayed is None:
                raise ScenarioError("VM without entities")
            entity = vm.immediate if path is _IMMEDIATE else vm.delayed
            # page-table updates wait only for kernel fences (moves) on the PT reservation
            deps += vm.resv.fences(Usage.KERNEL)
            if entity.last is not None and not entity.last.signaled:
                deps.append(entity.last)  # FIFO: ordered after the entity's previous job
        self._updates += 1
        n = self._updates

        def name() -> str:
            return f"{kind} {vm.process.name}@{vm.gpu.name}#{n}"

        quiet = entity is not None and wait is not None and not _watched(vm, *wait)
        if quiet and entity is not None and pq.run_now(entity, packets, deps, name):
            return None
        fence = dev.sim.fence(FenceKind.KERNEL, name(), deps=deps)
        if entity is None:
            # amdgpu_job_submit_direct: straight into the ring, no scheduler, no dependencies
            node = dev.sim.node(NodeKind.JOB, f"direct update {fence.name}")
            dev.sim.produced_by(fence, node)
            yield from pq.ring_write(DIRECT_WRITER, packets, fence)
        else:
            vm.resv.add(fence, Usage.BOOKKEEP)
            pq.push_kernel_job(entity, KernelJob(fence.name, packets, deps, fence))
        if wait is not None:
            yield WaitFence(fence)
        return fence

    def map_range(
        self,
        vm: Vm,
        va: int,
        npages: int,
        place: Placement,
        flags: int,
        *,
        fault_path: int,
        kind: str = "map",
        deps: list[SimFence] | None = None,
    ) -> Gen:
        """Allocate missing page tables, write the PTEs, wait for the update; returns success."""
        ok = yield from self.ensure_pts(vm, va, npages, fault_path=fault_path)
        if not ok:
            return False
        yield from self.update(
            vm,
            self.map_packets(vm, va, npages, place, flags),
            fault_path=fault_path,
            kind=kind,
            deps=deps,
            wait=(va, npages),
        )
        return True

    # -- the PTE-write sink ------------------------------------------------------------
    def write_ptes(self, pq: PageQueue, pe: int, flags: int, addr: int, incr: int, count: int) -> None:
        """Write ``count`` PTEs at ``pe`` as the SDMA engine (or the CPU) does."""
        dev = self.dev
        base = pe & ~(PAGE - 1)
        bo = pq.gpu.pt_at.get(base)
        if bo is None or bo.pt_of is None or not bo.pt_of.alive:
            dev.log(pq.engine.name, "pte write lost", f"no page table at {base:#x}")
            return
        vm = bo.pt_of
        va = bo.pt_va + ((pe - base) // 8) * PAGE
        value = flags | addr
        if value == 0:
            vm.pt.invalidate(va, count, Invalidate.INVALID)
        elif value == SILENT_FLAGS:
            vm.pt.invalidate(va, count, Invalidate.SILENT_RETRY)
        elif value == NORETRY_FLAGS:
            vm.pt.invalidate(va, count, Invalidate.NORETRY)
        elif incr == PAGE:
            vm.pt.map(va, count, addr, flags & ~_VALID)
        else:
            for i in range(count):
                vm.pt.map(va + i * PAGE, 1, addr + i * incr, flags & ~_VALID)
        if dev.mon.logging:
            what = f"{vm.process.name}@{vm.gpu.name} {va:#x} +{count} pages -> {describe_pte(value)}"
            dev.log(pq.engine.name, "pte update", what)
        if vm.watching:
            end = va + count * PAGE
            for job, lo, hi in list(vm.watching):
                if lo < end and va < hi and job.wake is not None:
                    dev.sim.fire(job.wake)
