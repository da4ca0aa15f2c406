"""Family ``queues``: what a job on a ``compute`` or ``sdma`` engine is.

Upstream, compute work is a KFD user queue: its jobs carry no dma-fence.  Each process
has one eviction fence (``amdgpu_amdkfd_fence``), added with BOOKKEEP usage to the
reservation of every BO of the process and of its root PDs (``init_kfd_vm`` in
drivers/gpu/drm/amd/amdgpu/amdgpu_amdkfd_gpuvm.c).  Waiting for it makes KFD preempt the
process's queues (``amdkfd_fence_enable_signaling`` ->
``kgd2kfd_schedule_evict_and_restore_process``); the fence signals once they are
preempted, and the restore worker revalidates the BOs and resumes the queues
``PROCESS_RESTORE_TIME_MS`` later (drivers/gpu/drm/amd/amdkfd/kfd_priv.h).  The seed
thread's cases are about ``amdgpu_cs`` jobs (``cs``).
"""

from __future__ import annotations

from vmcore.hooks.decisions import QueueModel
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class Kfd(Policy):
    family = "queues"
    name = "kfd"
    doc = (
        "KFD user queues (upstream): compute and sdma jobs carry no dma-fence; the process's eviction "
        "fence sits (BOOKKEEP) on its BOs and root PDs, and waiting for it preempts the process's "
        "queues, which signals it; the restore worker resumes them 100 ms later."
    )

    @hookimpl
    def vmcore_queue_model(self, process: str) -> QueueModel:
        return QueueModel.KFD


class Cs(Policy):
    family = "queues"
    name = "cs"
    doc = (
        "amdgpu_cs submissions (the 2019 model): every compute and sdma job's completion is a "
        "dma-fence on the BOs it uses and, as pt_fences says, on its VM's page-table reservation."
    )

    @hookimpl
    def vmcore_queue_model(self, process: str) -> QueueModel:
        return QueueModel.CS


POLICIES = [Kfd, Cs]
