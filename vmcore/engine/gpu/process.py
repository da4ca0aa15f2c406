"""Process lifetime: creation (a VM per GPU), queue eviction and restore, kill, teardown
and what a killed process leaks.

Models ``kfd_process.c``: a process gets a PASID and a VM on each of its GPUs; killing
it destroys its queues (unfinished jobs end with an error fence), drops its pending
faults, and releases it (``kfd_process_wq_release``) once the last reference on it is
dropped (``Process.refs``: work in flight for it finishes first) and its last fences
signaled: PTEs first, then the memory they pointed to.

A process whose queues are KFD user queues (family ``queues``, ``kfd``) has one eviction
fence (``amdgpu_amdkfd_fence``), added with BOOKKEEP usage to the reservations of its
root PDs (``init_kfd_vm``) and of its BOs.  The first wait for it is its
``enable_signaling``: KFD preempts the process's queues
(``kgd2kfd_schedule_evict_and_restore_process`` -> ``evict_process_worker``; CWSR saves
the waves, which works while they are stalled on a retry fault), the fence signals, and
``PROCESS_RESTORE_TIME_MS`` later the restore worker (``restore_process_worker``)
revalidates the evicted BOs, puts a new eviction fence on everything and resumes the
queues.

Invariants: a live KFD process has exactly one unsignalled eviction fence, except
between a preemption and its restore; ``quiesced`` counts one for a preemption in
progress.
"""

from __future__ import annotations

from vmcore.core import FenceKind
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.ih import PASID_BITS, FaultHandler
from vmcore.engine.gpu.jobs import Jobs
from vmcore.engine.gpu.svm_bo import free_place
from vmcore.engine.gpu.vm import VmManager
from vmcore.engine.model import Process, Usage
from vmcore.engine.sim import Actor, Proc, Signal, SimFence, Sleep, WaitFence, WaitSignal
from vmcore.errors import ScenarioError
from vmcore.hooks.decisions import QueueModel

PREEMPT_NS = 10_000
"""Preempting a process's queues (the CWSR save of its waves): a model figure."""
PROCESS_RESTORE_NS = 100 * 1_000_000
"""``PROCESS_RESTORE_TIME_MS`` (100, drivers/gpu/drm/amd/amdkfd/kfd_priv.h): the restore
worker runs this long after a preemption."""


class Processes:
    """The processes of the device, by name, and their life cycle."""

    def __init__(self, dev: Device, vms: VmManager, faults: FaultHandler, jobs: Jobs) -> None:
        self.dev = dev
        self.vms = vms
        self.faults = faults
        self.jobs = jobs
        self.processes: dict[str, Process] = dev.processes
        self.next_pasid = 0x8001
        self._eviction_fences: dict[int, Process] = {}
        """id of an unsignalled eviction fence -> its process."""
        dev.sim.on_wait.append(self._on_wait)

    def create_process(self, name: str, gpus: list[str], retry_faults: bool, prefill: bool) -> Proc:
        if name in self.processes:
            raise ScenarioError(f"process {name!r} is defined twice")
        gl = []
        for g in gpus:
            if g not in self.dev.gpus:
                raise ScenarioError(f"process {name} on unknown GPU {g!r}")
            gl.append(self.dev.gpus[g])
        if self.next_pasid >= 1 << PASID_BITS:
            raise ScenarioError(f"process {name}: no PASID left (they are {PASID_BITS} bits)")
        proc = Process(name, self.next_pasid, gl, retry_faults, prefill)
        proc.resume = Signal(f"{name} queues")
        proc.kfd = self.dev.policies.queue_model(name) is QueueModel.KFD
        self.next_pasid += 1
        self.processes[name] = proc
        for gpu in gl:
            yield from self.vms.create_vm(proc, gpu)
        if proc.kfd:
            self._new_eviction_fence(proc)
        return proc

    # -- KFD queue eviction and restore --------------------------------------------------
    def _new_eviction_fence(self, proc: Process) -> None:
        """``amdgpu_amdkfd_fence_create``: on every root PD and BO of the process (BOOKKEEP)."""
        fence = self.dev.sim.fence(FenceKind.KERNEL, f"eviction fence {proc.name}")
        proc.eviction_fence = fence
        self._eviction_fences[id(fence)] = proc
        for vm in proc.vms.values():
            vm.resv.add(fence, Usage.BOOKKEEP)
        for bo in proc.bos:
            bo.resv.add(fence, Usage.BOOKKEEP)

    def _on_wait(self, actor: Actor, fence: SimFence) -> None:
        """``amdkfd_fence_enable_signaling``: the first wait for an eviction fence starts
        the preemption of its process's queues."""
        proc = self._eviction_fences.pop(id(fence), None)
        if proc is None or proc.killed:
            return
        ev = self.dev.sim.spawn(f"kfd evict {proc.name}", self._evict_queues(proc, fence, actor.name))
        self.dev.sim.produced_by(fence, ev.node)

    def _evict_queues(self, proc: Process, fence: SimFence, waiter: str) -> Proc:
        """``evict_process_worker`` then, later, ``restore_process_worker``."""
        dev = self.dev
        dev.quiesce(proc)
        for job in proc.jobs:
            if job.wake is not None and job.finished is None:
                dev.sim.fire(job.wake)  # a running job stops where it is (CWSR)
        dev.log("kfd", "evict queues", f"{proc.name}: {waiter} waits for its eviction fence")
        yield Sleep(PREEMPT_NS)
        if proc.killed:
            return  # the kill signalled the fence and resumed what waited
        dev.sim.signal(fence)
        dev.log("kfd", "queues preempted", f"{proc.name}: eviction fence signalled")
        yield Sleep(PROCESS_RESTORE_NS)
        if proc.killed:
            return
        for bo in list(proc.bos):
            if proc.killed:
                break
            # the restore worker holds the process: its teardown waits for it (cancel_delayed_work_sync)
            yield from dev.holding((proc,), self.vms.revalidate_bo(bo))
        if proc.killed:
            return  # killed meanwhile: no new eviction fence for queues that are gone
        self._new_eviction_fence(proc)
        dev.resume_queues(proc)
        dev.log("kfd", "restore queues", f"{proc.name}: BOs revalidated, queues resumed")

    def kill(self, proc: Process, reason: str) -> None:
        """Destroy P's queues: jobs end with an error fence, pending faults are dropped."""
        dev = self.dev
        if proc.killed:
            return
        proc.killed = True
        proc.killed_at = dev.sim.now
        proc.kill_reason = reason
        dev.log("kfd", "kill", f"{proc.name}: {reason}")
        if proc.eviction_fence is not None:
            # the queues are destroyed: nothing is left to preempt
            self._eviction_fences.pop(id(proc.eviction_fence), None)
            dev.sim.signal(proc.eviction_fence)
        self.faults.drop_faults_of(proc)
        for job in proc.jobs:
            if job.wake is not None:
                dev.sim.fire(job.wake)
            if (
                job.started is None
                and job.finished is None
                and job in job.engine.queue
                and job.engine.queue[0] is not job
            ):
                job.engine.queue.remove(job)
                job.error = "killed before it ran"
                self.jobs.finish_job(job)
        for vm in proc.vms.values():
            for job, _, _ in list(vm.watching):
                if job.wake is not None:
                    dev.sim.fire(job.wake)
        dev.sim.fire(proc.resume)
        proc.quiesced = 0
        proc.teardown = dev.sim.spawn(f"teardown {proc.name}", self._teardown(proc))

    def _teardown(self, proc: Process) -> Proc:
        """``kfd_process_wq_release``: once the last reference on the process is dropped
        (a fault being restored, a migration, a BO move, a call of its application
        thread: each finishes first), wait for the VMs' last fences, then free page
        tables and memory (PTEs first).  Nothing takes a new reference on a killed
        process, except a move TTM makes of one of its BOs, waited for before that BO."""
        memory = self.dev.memory
        for job in proc.jobs:
            if job.fence is not None and not job.fence.signaled:
                yield WaitFence(job.fence)
        while True:
            for vm in proc.vms.values():
                for f in vm.resv.fences(Usage.BOOKKEEP):
                    if f is vm.root_fence:
                        continue
                    yield WaitFence(f)
            if not proc.refs:
                break
            # work in flight may add updates of its own: their fences are waited for again
            yield from self._unreferenced(proc)
        for vm in proc.vms.values():
            self.vms.fini(vm)
        for bo in proc.bos:
            for f in bo.resv.fences(Usage.BOOKKEEP):
                yield WaitFence(f)
            yield from self._unreferenced(proc)
            if bo.place is not None:
                if bo.pinned and bo.place.pool is not None:
                    for h, _, _ in bo.place.blocks:
                        bo.place.pool.unpin(h)
                memory.free(bo.place, f"teardown of {proc.name}")
                bo.place = None
                self.vms.ttm.placed(bo)
            self.vms.bos.pop(bo.name, None)
        for r in proc.ranges:
            for g in r.granules:
                if g.place.blocks:
                    free_place(self.dev, self.vms.ttm, g, g.place, f"teardown of {proc.name}", [])
        self.dev.log("kfd", "teardown", f"{proc.name} released")
        proc.released = True

    @staticmethod
    def _unreferenced(proc: Process) -> Proc:
        """Wait until no work in flight holds ``proc``."""
        while proc.refs:
            yield WaitSignal(proc.unref)

    def leaks(self) -> list[str]:
        """What killed processes still hold once their teardown should have finished."""
        out = []
        for proc in self.processes.values():
            if not proc.killed:
                continue
            held = []
            for vm in proc.vms.values():
                if vm.alive:
                    held.append(f"VM on {vm.gpu.name}")
                if vm.root.place is not None:
                    held.append(f"root PD on {vm.gpu.name}")
                if vm.pt_bos:
                    held.append(f"{len(vm.pt_bos)} page table(s) on {vm.gpu.name}")
            for bo in proc.bos:
                if bo.place is not None:
                    held.append(f"BO {bo.name}")
            for r in proc.ranges:
                n = sum(1 for g in r.granules if g.place.blocks)
                if n:
                    held.append(f"{n} granule(s) of range {r.start:#x}")
            pending = sum(
                1
                for g in self.dev.gpus.values()
                if g.ih is not None
                for f in g.ih.pending.values()
                if f.vm.process is proc
            )
            if pending:
                held.append(f"{pending} pending fault(s)")
            if held:
                out.append(f"{proc.name}: " + ", ".join(held))
        return out
