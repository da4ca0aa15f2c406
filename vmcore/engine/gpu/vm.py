"""VMs: creation with their root PD and entities, BO mappings, root-PD restore, and the
moves TTM asks of BOs and page tables.

Models ``amdgpu_vm_init`` (a root PD whose reservation every PD/PT shares, the
``immediate`` and ``delayed`` entities), ``amdgpu_vm_bo_map``/``unmap`` (an unmap waits
for the VM's own user work, ``AMDGPU_SYNC_EQ_OWNER``), ``amdgpu_vm_validate`` (an
evicted root PD comes back before the VM's next job), and ``amdgpu_bo_move`` for
evictions: wait for the BO's fences, copy it through TTM's entity, remap it where it
went.  A page table that must leave follows the ``pt_move`` policy.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from vmcore.core import FenceKind, PageTable
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.gpu.vm_pt import PageTables, bo_flags
from vmcore.engine.model import PAGE, Bo, Domain, Gpu, Process, Resv, Usage, Vm
from vmcore.engine.sim import WaitFence
from vmcore.errors import ScenarioError
from vmcore.hooks.decisions import PtMove, RootPdMode

Gen = Generator[Any, Any, Any]


def bo_scope(bo: Bo) -> list[tuple[Vm, int, int]]:
    """Where ``bo`` is mapped: (VM, VA, pages), for the stale-PTE check when it moves."""
    return [(vm, va, (bo.size + PAGE - 1) // PAGE) for vm, va in bo.mappings.items()]


class VmManager:
    """VM creation, BO mappings, root-PD restore, and BO/page-table eviction."""

    def __init__(self, dev: Device, ttm: Ttm, pts: PageTables, bos: dict[str, Bo]) -> None:
        self.dev = dev
        self.ttm = ttm
        self.pts = pts
        self.bos = bos

    # -- VMs ---------------------------------------------------------------------------
    def create_vm(self, proc: Process, gpu: Gpu) -> Gen:
        """``amdgpu_vm_init``: the root PD (as the root_pd policy says) and two entities."""
        dev = self.dev
        name = proc.name
        mode = dev.policies.root_pd(gpu.name, name)
        place = yield from self.ttm.alloc(
            gpu, Domain.VRAM, PAGE, contiguous=True, fault_path=False, purpose="pt", process=name
        )
        if place is None:
            raise ScenarioError(f"no VRAM on {gpu.name} for the root PD of {name}")
        resv = Resv(f"{name}@{gpu.name} page tables")
        root = Bo(
            f"{name}.root_pd@{gpu.name}",
            PAGE,
            proc,
            Domain.VRAM,
            gpu,
            place=place,
            resv=resv,
            created=dev.sim.now,
        )
        vm = Vm(
            proc,
            gpu,
            proc.pasid,
            PageTable(root_addr=place.address_of(0)),
            resv,
            root,
            proc.retry_faults,
            proc.prefill,
        )
        root.pt_of = vm
        root.pt_va = vm.pt.info(vm.pt.root).va_base
        vm.root_mode = mode
        if mode is RootPdMode.PINNED:
            assert place.pool is not None
            place.pool.pin(place.blocks[0][0])
            root.pinned = True
        elif mode is RootPdMode.FENCED:
            keep = dev.sim.fence(FenceKind.KERNEL, f"root PD keep-alive {name}@{gpu.name}")
            # BOOKKEEP: it keeps the root PD busy (never idle, so never evicted) without
            # making page-table updates, which wait for KERNEL fences, wait for it
            resv.add(keep, Usage.BOOKKEEP)
            vm.root_fence = keep
        pq = gpu.pq
        assert pq is not None
        vm.immediate = pq.add_entity(f"{name}@{gpu.name} immediate")
        vm.delayed = pq.add_entity(f"{name}@{gpu.name} delayed")
        gpu.pt_at[place.address_of(0)] = root
        self.bos[root.name] = root
        self.ttm.register(root)
        self.ttm.placed(root)
        proc.vms[gpu.name] = vm
        dev.log(
            "app",
            "process",
            f"{name} on {gpu.name}: pasid {proc.pasid:#x}, root PD at {place.address_of(0):#x} ({mode})",
        )

    def restore_root_pd(self, vm: Vm) -> Gen:
        """An evicted root PD comes back to VRAM before the VM's next job (the validation a
        CS does upstream: amdgpu_vm_validate)."""
        root = vm.root
        if not vm.alive or root.place is None or root.place.domain is Domain.VRAM:
            return
        # the validation holds the process: a kill meanwhile tears the VM down afterwards
        yield from self.dev.holding((vm.process,), self._restore_root_pd(vm))

    def _restore_root_pd(self, vm: Vm) -> Gen:
        dev = self.dev
        root = vm.root
        old = root.place  # another thread may restore it while this one allocates
        assert old is not None
        new = yield from self.ttm.alloc(
            vm.gpu,
            Domain.VRAM,
            PAGE,
            contiguous=True,
            fault_path=False,
            purpose="pt",
            process=vm.process.name,
        )
        if new is None or root.place is not old or not vm.alive or root.moving:
            # restored meanwhile, or another engine's validation is copying it back now
            if new is not None:
                dev.memory.free(new, "a root PD restored twice")
            return
        pq = vm.gpu.pq
        assert pq is not None
        root.moving = True
        try:
            yield from pq.copy(old, new, PAGE, f"restore root PD of {vm.process.name}@{vm.gpu.name}", root.resv)
        finally:
            root.moving = False
        root.place = new
        self.ttm.placed(root)
        vm.gpu.pt_at.pop(old.address_of(0), None)
        vm.gpu.pt_at[new.address_of(0)] = root
        vm.pt.move(vm.pt.root, new.address_of(0))
        dev.memory.free(old, f"restoring the root PD of {vm.process.name}")
        dev.log(
            dev.current_name(),
            "root PD restored",
            f"{vm.process.name}@{vm.gpu.name} at {new.address_of(0):#x}",
        )

    def fini(self, vm: Vm) -> None:
        """``amdgpu_vm_fini``: free the page tables and the root PD (PTEs before memory)."""
        dev = self.dev
        vm.alive = False
        if vm.root_fence is not None:
            dev.sim.signal(vm.root_fence)
        for bo in list(vm.pt_bos.values()):
            self.pts.drop_pt(vm, bo)
        if vm.root.place is not None:
            if vm.root.pinned and vm.root.place.pool is not None:
                vm.root.place.pool.unpin(vm.root.place.blocks[0][0])
            vm.gpu.pt_at.pop(vm.root.place.address_of(0), None)
            self.bos.pop(vm.root.name, None)
            vm.pt.close()  # the PTEs go before the memory they point to
            dev.memory.free(vm.root.place, f"teardown of {vm.process.name}")
            vm.root.place = None
            self.ttm.placed(vm.root)
        else:
            vm.pt.close()
        pq = vm.gpu.pq
        assert pq is not None
        pq.remove_entities(vm.immediate, vm.delayed)

    def create_bo(
        self, name: str, loc: str, size: int, owner: Process, pinned: bool, contiguous: bool
    ) -> Gen:
        """``amdgpu_bo_create``: a BO of ``owner`` in ``loc``; one that does not fit exists
        without memory (the application's allocation failed)."""
        dev = self.dev
        if name in self.bos:
            raise ScenarioError(f"BO {name!r} is defined twice")
        domain, gpu = dev.where(loc)
        if domain is Domain.VRAM:
            assert gpu is not None
            if size > gpu.vram_size:
                raise ScenarioError(f"BO {name} ({size} bytes) is larger than {loc} ({gpu.vram_size} bytes)")
            place = yield from self.ttm.alloc(
                gpu, domain, size, contiguous=contiguous, fault_path=False, purpose="bo", process=owner.name
            )
        else:
            place = dev.memory.try_alloc(gpu or owner.gpus[0], domain, size, contiguous)
        if place is None:
            # the application's allocation fails (-ENOMEM); the BO exists without memory
            dev.mon.count("alloc_failures", 1, owner)
            dev.mon.find("allocation failed", dev.sim.now, f"BO {name} ({size} bytes) does not fit in {loc}")
        bo = Bo(
            name,
            size,
            owner,
            domain,
            gpu,
            pinned=pinned,
            contiguous=contiguous,
            place=place,
            resv=Resv(name),
            created=dev.sim.now,
        )
        if pinned and place is not None and place.pool is not None:
            for h, _, _ in place.blocks:
                place.pool.pin(h)
        if owner.eviction_fence is not None:
            bo.resv.add(owner.eviction_fence, Usage.BOOKKEEP)  # a KFD BO carries its process's eviction fence
        self.ttm.register(bo)
        self.ttm.placed(bo)
        self.ttm.touch(bo)
        self.bos[name] = bo
        owner.bos.append(bo)
        dev.log(
            "app", "bo", f"{name} {size} bytes in {place.where() if place else 'nowhere: allocation failed'}"
        )
        return bo

    # -- BO mappings -------------------------------------------------------------------
    def map_bo(self, bo: Bo, proc: Process, va: int) -> Gen:
        if bo.place is None:
            raise ScenarioError(f"map {bo.name}: the BO has no memory (its allocation failed)")
        for vm in proc.vms.values():
            if not self.dev.reachable(vm.gpu, bo.place):
                continue
            deps = bo.resv.fences(Usage.KERNEL)
            ok = yield from self.pts.map_range(
                vm,
                va,
                (bo.size + PAGE - 1) // PAGE,
                bo.place,
                bo_flags(bo),
                fault_path=False,
                deps=deps,
            )
            if ok:
                bo.mappings[vm] = va
        self.dev.log("app", "map", f"{bo.name} into {proc.name} at {va:#x}")

    def unmap_bo(self, bo: Bo, proc: Process) -> Gen:
        fences = []
        for vm, va in list(bo.mappings.items()):
            if vm.process is not proc:
                continue
            # AMDGPU_SYNC_EQ_OWNER: an unmap waits for the VM's own amdgpu_cs work (a KFD
            # user queue's jobs have no fence to wait for)
            deps = [
                j.fence
                for j in proc.jobs
                if j.fence is not None and not j.fence.signaled and j.engine.gpu is vm.gpu and not j.kfd
            ]
            f = yield from self.pts.update(
                vm,
                self.pts.fill_packets(vm, va, (bo.size + PAGE - 1) // PAGE, 0),
                fault_path=False,
                kind="unmap",
                deps=deps,
            )
            del bo.mappings[vm]
            if f is not None:
                fences.append(f)
        for f in fences:
            yield WaitFence(f)
        self.dev.log("app", "unmap", f"{bo.name} from {proc.name}")

    @staticmethod
    def bo_at(vm: Vm, va: int) -> tuple[Bo, int] | None:
        """The BO of ``vm``'s process mapped at ``va`` in ``vm``, and its base VA."""
        for bo in vm.process.bos:
            base = bo.mappings.get(vm)
            if base is not None and base <= va < base + bo.size:
                return bo, base
        return None

    # -- moves TTM asks for ------------------------------------------------------------
    def evict_bo(self, bo: Bo, fault_path: int, why: str) -> Gen:
        """Evict a BO, a page table or a root PD out of VRAM; returns success."""
        dev = self.dev
        actor = dev.current_name()
        fences = bo.resv.fences(Usage.BOOKKEEP)
        dev.log(actor, "evict", f"{bo.name} ({why}); waits for {len(fences)} fence(s)")
        for f in fences:
            yield WaitFence(f)
        if bo.place is None or bo.place.domain is not Domain.VRAM or bo.moving:
            return False  # freed or moved meanwhile, or another move holds its reservation
        # the move holds the BO (and so its owner: a teardown frees it only afterwards)
        owners = (bo.owner,) if bo.owner is not None else ()
        bo.moving = True
        try:
            return (yield from dev.holding(owners, self._move_out(bo, fault_path, actor)))
        finally:
            bo.moving = False

    def _move_out(self, bo: Bo, fault_path: int, actor: str) -> Gen:
        """``amdgpu_bo_move`` out of VRAM, the BO reserved: a page table as ``pt_move``
        says, anything else copied to GTT (or system memory) and remapped there."""
        dev = self.dev
        assert bo.place is not None
        if bo.pt_of is not None and bo.pt_handle:
            vm = bo.pt_of
            move = dev.policies.pt_move(vm.gpu.name, vm.process.name)
            if move is PtMove.REALLOCATE:
                info = vm.pt.info(bo.pt_handle)
                if info.nchildren:
                    return False
                vm.pt.free(bo.pt_handle)
                self.pts.drop_pt(vm, bo)
                dev.log(actor, "pt freed", f"{bo.name}: its PTEs will be re-faulted")
                dev.mon.count("evictions", 1, bo.owner)
                return True
        old = bo.place
        assert bo.gpu is not None or old.gpu is not None
        gpu = old.gpu
        assert gpu is not None and gpu.pq is not None
        dst = dev.memory.try_alloc(gpu, Domain.GTT, bo.size, False)
        if dst is None:
            dst = dev.memory.sysmem.alloc(bo.size)
        yield from gpu.pq.copy(old, dst, bo.size, f"evict {bo.name}", bo.resv)
        bo.place = dst
        self.ttm.placed(bo)
        if bo.pt_of is not None:
            vm = bo.pt_of
            del vm.gpu.pt_at[old.address_of(0)]
            vm.gpu.pt_at[dst.address_of(0)] = bo
            if bo.pt_handle:
                vm.pt.move(bo.pt_handle, dst.address_of(0))
            else:
                vm.pt.move(vm.pt.root, dst.address_of(0))
        for vm, va in list(bo.mappings.items()):
            if vm.alive:
                yield from self.pts.map_range(
                    vm, va, bo.size // PAGE, dst, bo_flags(bo), fault_path=fault_path, kind="map"
                )
        dev.memory.free(old, f"eviction of {bo.name}", bo_scope(bo))
        dev.mon.count("evictions", 1, bo.owner)
        dev.mon.count("bytes_moved", bo.size, bo.owner)
        dev.log(actor, "evicted", f"{bo.name} to {dst.where()}")
        return True

    def revalidate_bo(self, bo: Bo) -> Gen:
        """KFD's restore worker (``amdgpu_amdkfd_gpuvm_restore_process_bos``): a BO evicted
        from its home VRAM goes back when it fits there without evicting anything else,
        and is remapped; otherwise it stays where it is, mapped there."""
        dev = self.dev
        old = bo.place
        if (
            bo.home is not Domain.VRAM
            or bo.gpu is None
            or old is None
            or old.domain is Domain.VRAM
            or bo.moving
        ):
            return
        gpu = bo.gpu
        new = dev.memory.try_alloc(gpu, Domain.VRAM, bo.size, bo.contiguous)
        if new is None or gpu.pq is None:
            if new is not None:
                dev.memory.free(new, f"revalidation of {bo.name}")
            return
        bo.moving = True
        try:
            yield from gpu.pq.copy(old, new, bo.size, f"revalidate {bo.name}", bo.resv)
            bo.place = new
            self.ttm.placed(bo)
            for vm, va in list(bo.mappings.items()):
                if vm.alive:
                    yield from self.pts.map_range(vm, va, bo.size // PAGE, new, bo_flags(bo), fault_path=0)
        finally:
            bo.moving = False
        dev.memory.free(old, f"revalidation of {bo.name}", bo_scope(bo))
        dev.mon.count("bytes_moved", bo.size, bo.owner)
        dev.log(dev.current_name(), "revalidated", f"{bo.name} to {new.where()}")

    def evict_page_tables(self, proc: Process, gpu: str | None, va: int | None) -> Gen:
        """``evict page tables of P [on GPU] [at ADDR]``: push them out of VRAM."""
        for vm in list(proc.vms.values()):
            if (gpu is not None and vm.gpu.name != gpu) or not vm.alive:
                continue  # a torn-down VM has no page tables left to evict
            handles = (
                vm.pt.pts_in_range(va & ~(PAGE - 1), 1) if va is not None else vm.pt.pts_in_range(0, 1 << 36)
            )
            for h in handles:
                bo = vm.pt_bos.get(h)
                if bo is not None and bo.place is not None and bo.place.domain is Domain.VRAM:
                    yield from self.ttm.evict(bo, fault_path=False, why="evict page tables")
        self.dev.log("app", "evict page tables", f"{proc.name}")
