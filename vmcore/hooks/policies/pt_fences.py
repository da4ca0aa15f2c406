"""Family ``pt_fences``: where a job's (user) fence goes.

Upstream ``amdgpu_cs_submit`` adds the CS fence to every object locked in the CS,
including the root PD whose reservation all page tables share
(drivers/gpu/drm/amd/amdgpu/amdgpu_cs.c), as WRITE (gang leader) or READ usage.
"""

from __future__ import annotations

from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class CsFencesOnPt(Policy):
    family = "pt_fences"
    name = "cs-fences-on-pt"
    doc = "On the shared PD/PT reservation of its VM and on the BOs it uses (upstream)."

    @hookimpl
    def vmcore_cs_fence_on_page_tables(self, gpu: str, process: str, job: str) -> bool:
        return True


class KernelFencesOnly(Policy):
    family = "pt_fences"
    name = "kernel-fences-only"
    doc = "Only on the BOs it uses: page tables carry kernel fences only (the 2019 proposal)."

    @hookimpl
    def vmcore_cs_fence_on_page_tables(self, gpu: str, process: str, job: str) -> bool:
        return False


POLICIES = [CsFencesOnPt, KernelFencesOnly]
