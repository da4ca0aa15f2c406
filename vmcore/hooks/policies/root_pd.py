"""Family ``root_pd``: keeping the root PD usable for the VM's lifetime.

Upstream ``amdgpu_vm_init`` does not pin the root PD; ``amdgpu_vm_evictable`` lets it
be evicted only when idle (drivers/gpu/drm/amd/amdgpu/amdgpu_vm.c).
"""

from __future__ import annotations

from vmcore.hooks.decisions import RootPdMode
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class Movable(Policy):
    family = "root_pd"
    name = "movable-root-pd"
    doc = "Not pinned; evictable only when idle, restored before the VM's next job (upstream)."

    @hookimpl
    def vmcore_root_pd(self, gpu: str, process: str) -> RootPdMode:
        return RootPdMode.MOVABLE


class Pinned(Policy):
    family = "root_pd"
    name = "pin-root-pd"
    doc = "Pinned for the VM's lifetime: small pinned blocks fragment VRAM."

    @hookimpl
    def vmcore_root_pd(self, gpu: str, process: str) -> RootPdMode:
        return RootPdMode.PINNED


class Fenced(Policy):
    family = "root_pd"
    name = "fence-root-pd"
    doc = "Kept resident by a kernel fence that signals at VM teardown."

    @hookimpl
    def vmcore_root_pd(self, gpu: str, process: str) -> RootPdMode:
        return RootPdMode.FENCED


POLICIES = [Movable, Pinned, Fenced]
