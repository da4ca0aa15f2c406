"""Family ``fault``: a fault the handler cannot map.

Upstream ``amdgpu_vm_handle_fault`` writes the no-retry PTE when
``svm_range_restore_pages`` fails (drivers/gpu/drm/amd/amdgpu/amdgpu_vm.c), and the
process is killed on the resulting no-retry fault.
"""

from __future__ import annotations

from vmcore.hooks.decisions import FaultAction, FaultInfo
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class MapOrKill(Policy):
    family = "fault"
    name = "map-or-kill"
    doc = "A no-retry fault: the process is killed (upstream; Felix's position in the thread)."

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        return FaultAction.KILL


class SilenceRetry(Policy):
    family = "fault"
    name = "silence-retry"
    doc = "Write a silent-retry PTE and move on (Christian's alternative): the job stalls without faulting."

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        return FaultAction.SILENCE


class DummyPage(Policy):
    family = "fault"
    name = "dummy-page"
    doc = "Map the dummy page: the job completes, reading garbage."

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        return FaultAction.DUMMY


POLICIES = [MapOrKill, SilenceRetry, DummyPage]
