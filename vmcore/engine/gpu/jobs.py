"""User jobs and the GPU engines that run them.

Models ``amdgpu_cs`` submission (a job's completion is a user fence; at submission it
goes on the BOs the job uses and, as the ``pt_fences`` policy says, on its VM's
page-table reservation), KFD user queues (family ``queues``: a compute or sdma job of a
KFD process carries no dma-fence and no implicit sync; a CS job ``after`` one is
submitted by the application once it completed) and the engines executing jobs in submission order once their
dependencies signaled.  A running job accesses its pages through the C core's page
tables; a page that does not translate stalls it on a retry or no-retry fault (posted
through the fault handler) or, behind a silent-retry PTE, without one.

Invariants: an engine runs one job at a time, the head of its queue; a job's fence
signals exactly once, with an error when its process was killed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from vmcore.core import FenceKind
from vmcore.core.pagetable import Pte, WalkReason
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.ih import FaultHandler
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.gpu.vm import VmManager
from vmcore.engine.model import PAGE, Engine, Job, Process, Usage
from vmcore.engine.sim import Proc, Signal, SimFence, Sleep, WaitFence, WaitSignal
from vmcore.errors import ScenarioError

Gen = Generator[Any, Any, Any]

RETRY_DELAY_NS = 5_000
"""A job whose fault could not be resolved faults again after this delay."""
MAX_RETRIES = 64
"""After this many unresolved retries of one page a job stops faulting and stalls."""
ECANCELED = -125
_RETRY_SLEEP = Sleep(RETRY_DELAY_NS)
_SILENT_RETRY, _RETRYABLE = WalkReason.SILENT_RETRY, (WalkReason.INVALID, WalkReason.NO_TABLE)
"""Walk reasons read per fault (see ``model.VRAM`` on enum member reads)."""


class Jobs:
    """Submitting user jobs and the engine actors that run them."""

    def __init__(self, dev: Device, ttm: Ttm, vms: VmManager, faults: FaultHandler) -> None:
        self.dev = dev
        self.ttm = ttm
        self.vms = vms
        self.faults = faults
        self.jobs: dict[str, Job] = {}

    def start(self, eng: Engine) -> None:
        eng.actor = self.dev.sim.spawn(eng.name, self._engine_loop(eng), kind="engine")

    # -- submission --------------------------------------------------------------------
    def submit_job(self, job: Job) -> None:
        dev = self.dev
        proc = job.process
        gpu = job.engine.gpu
        if gpu.name not in proc.vms:
            raise ScenarioError(
                f"job {job.name}: process {proc.name} has no VM on {gpu.name} (engine {job.engine.name})"
            )
        if proc.killed:
            dev.log("app", "job refused", f"{job.name}: {proc.name} was killed")
            return
        kfd = job.kfd
        deps: list[SimFence] = []
        for a in job.after:
            if a.fence is not None:
                deps.append(a.fence)
        for bo, write in job.uses:
            if bo.place is None:
                raise ScenarioError(
                    f"job {job.name} uses {bo.name}, which has no memory (its allocation failed)"
                )
            if not kfd:  # implicit sync is amdgpu_cs's; a user queue has none
                deps += bo.resv.fences(Usage.READ if write else Usage.WRITE)
        for e in job.engine.queue:
            if e.fence is not None:
                deps.append(e.fence)
        # a KFD job's fence stands for its user-mode completion signal: ordering and
        # ``after`` only, on no reservation
        job.fence = dev.sim.fence(FenceKind.USER, f"{job.name}", producer=gpu.index, deps=deps)
        job.deps = deps
        assert job.engine.actor is not None
        dev.sim.produced_by(job.fence, job.engine.actor.node)
        for bo, write in job.uses:
            if not kfd:
                bo.resv.add(job.fence, Usage.WRITE if write else Usage.READ)
            self.ttm.touch(bo)
        vm = proc.vms[gpu.name]
        if not kfd and dev.policies.cs_fence_on_page_tables(gpu.name, proc.name, job.name):
            vm.resv.add(job.fence, Usage.WRITE)
            dev.mon.find(
                "user fence on page tables",
                dev.sim.now,
                f"job {job.name}'s user fence was added to the page-table reservation of {proc.name} on {gpu.name}",
            )
        proc.jobs.append(job)
        self.jobs[job.name] = job
        job.engine.queue.append(job)
        job.wake = Signal(f"{job.name} wake")
        dev.sim.fire(self._engine_signal(job.engine))
        dev.log("app", "submit", f"{job.name} on {job.engine.name}")

    def host_waits(self, job: Job) -> list[SimFence]:
        """What the application waits for before it submits ``job``: an ``amdgpu_cs`` job
        cannot depend on a user queue's completion through a dma-fence (a user queue has
        none), so the application waits for the KFD jobs it comes ``after`` and submits it
        then; their completion never becomes a fence on a reservation."""
        if job.kfd:
            return []
        return [a.fence for a in job.after if a.kfd and a.fence is not None and not a.fence.signaled]

    @staticmethod
    def _engine_signal(eng: Engine) -> Signal:
        if eng.signal is None:
            eng.signal = Signal(f"{eng.name} queue")
        return eng.signal

    def finish_job(self, job: Job) -> None:
        """The job is over: its fence signals (with an error when its process was killed)."""
        dev = self.dev
        if job.finished is not None:
            return
        job.finished = dev.sim.now
        assert job.fence is not None
        if job.process.killed:
            job.error = job.error or "killed"
            dev.sim.signal(job.fence, ECANCELED)
            dev.log(job.engine.name, "aborted", f"{job.name}: {job.error}")
        else:
            dev.sim.signal(job.fence)
            dev.log(job.engine.name, "done", job.name)

    # -- the engines -------------------------------------------------------------------
    def _engine_loop(self, eng: Engine) -> Proc:
        sim = self.dev.sim
        sig = self._engine_signal(eng)
        assert eng.actor is not None
        while True:
            if not eng.queue:
                sim.node_names[eng.actor.node] = eng.name
                yield WaitSignal(sig)
                continue
            job = eng.queue[0]
            # the head of the queue waits for its dependencies and its root PD before it
            # starts: a cycle through it must not call it running yet
            sim.node_names[eng.actor.node] = f"{eng.name} waiting to start {job.name}"
            for f in job.deps:
                yield WaitFence(f)
            if not job.process.killed:
                yield from self.vms.restore_root_pd(job.process.vms[eng.gpu.name])
            if not job.process.killed:
                sim.node_names[eng.actor.node] = f"{eng.name} running {job.name}"
                job.started = sim.now
                self.dev.log(eng.name, "start", job.name)
                yield from self._run_job(eng, job)
            if eng.queue and eng.queue[0] is job:
                eng.queue.pop(0)
            self.finish_job(job)

    def _run_job(self, eng: Engine, job: Job) -> Gen:
        """Access the job's pages in the order of each access's walk (address order unless
        a ``pattern`` or a recorded trace says otherwise), spread evenly over ``takes``.

        Pages that translate are accessed as time passes; a PTE update touching the pages
        still ahead wakes the job so it walks them again.  A page that does not translate
        stalls the job: a retry or no-retry fault, or a silent retry without a fault.
        """
        dev = self.dev
        sim = dev.sim
        store = dev.memory.store
        proc = job.process
        vm = proc.vms[eng.gpu.name]
        total = sum(a.accesses() for a in job.accesses) or 1
        start = sim.now
        stalled_for = 0
        pos = 0
        rw, ro = int(Pte.READABLE | Pte.WRITEABLE), int(Pte.READABLE)
        for acc in job.accesses:
            for run_va, npages, write in acc.runs(dev.seed, job.name):
                perms = rw if write else ro
                src = None if acc.src is None else acc.src + (run_va - acc.va)
                i = 0
                retries = 0
                retry_page = -1
                while i < npages:
                    while proc.quiesced:
                        t0 = sim.now
                        yield WaitSignal(proc.resume)
                        stalled_for += sim.now - t0
                    if proc.killed:
                        return
                    idx, walk = vm.pt.scan(run_va + i * PAGE, npages - i, perms)
                    if idx > 0 and write:
                        # the pages of this window are written through the PTEs as they are now
                        if src is not None:
                            store.gpu_copy(vm.pt, src + i * PAGE, run_va + i * PAGE, idx)
                        else:
                            store.gpu_write(vm.pt, run_va + i * PAGE, idx, acc.value)
                    if idx > 0:
                        t_end = start + stalled_for + ((pos + i + idx) * job.takes) // total
                        if t_end > sim.now:
                            watch = (job, run_va + i * PAGE, run_va + (i + idx) * PAGE)
                            vm.watching.append(watch)
                            why = yield WaitSignal(job.wake or Signal("never"), None, t_end)
                            vm.watching.remove(watch)
                            if why == "signal":
                                done = ((sim.now - start - stalled_for) * total) // job.takes - pos
                                i = max(i, min(i + idx, done))
                                continue
                        i += idx
                        continue
                    va = run_va + i * PAGE
                    if va != retry_page:  # retries count per page: a new page starts afresh
                        retry_page, retries = va, 0
                    self._touch_range(proc, va)
                    t0 = sim.now
                    watch = (job, va, va + PAGE)
                    if walk.reason is _SILENT_RETRY or retries >= MAX_RETRIES:
                        if walk.reason is _SILENT_RETRY:
                            dev.log(eng.name, "silent retry", f"{job.name} at {va:#x}")
                        vm.watching.append(watch)
                        yield WaitSignal(job.wake or Signal("never"))
                        vm.watching.remove(watch)
                    else:
                        retry = (
                            eng.retry
                            and vm.retry_faults
                            and walk.reason in _RETRYABLE
                        )
                        if retries:
                            dev.mon.count("retries", 1, proc)
                        fault = self.faults.post_fault(
                            vm, va, write, retry, walk.reason.name.lower().replace("_", " ")
                        )
                        if fault is None:
                            yield _RETRY_SLEEP
                        else:
                            node = self.faults.fault_node(fault)
                            yield WaitSignal(fault.waited(), node or None)
                            if proc.killed:
                                return
                            if fault.outcome != "mapped":
                                yield _RETRY_SLEEP
                        retries += 1
                    stalled_for += sim.now - t0
                pos += npages
        end = start + stalled_for + job.takes
        if end > sim.now:
            yield Sleep(end - sim.now)

    def _touch_range(self, proc: Process, va: int) -> None:
        r = proc.range_at(va)
        if r is not None:
            r.uses += 1
            if r.svm_bo is not None:
                self.ttm.touch(r.svm_bo)
