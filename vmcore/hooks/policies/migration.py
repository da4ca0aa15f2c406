"""Family ``migration``: when and where SVM data moves.

Upstream: ``svm_range_restore_pages`` migrates the faulting granule to
``svm_range_best_restore_location`` inside the fault handler and maps it on the faulting
GPU only (drivers/gpu/drm/amd/amdkfd/kfd_svm.c).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore.hooks.decisions import HintRequest, MigrationDecision, MigrationRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


def _hive(request: MigrationRequest, gpu: str) -> str:
    return dict(request.hives).get(gpu, gpu)


def best_restore_location(request: MigrationRequest) -> str:
    """``svm_range_best_restore_location`` for a retry fault (XNACK on)."""
    gpu = request.gpu
    pref = request.preferred
    if pref is not None:
        if pref == "system" or pref == f"{gpu}.vram":
            return pref
        pgpu = pref.removesuffix(".vram")
        if _hive(request, pgpu) == _hive(request, gpu):
            return pref
    if gpu in request.access:
        return f"{gpu}.vram"
    if gpu in request.in_place:
        loc = request.location
        if loc != "system" and _hive(request, loc.removesuffix(".vram")) == _hive(request, gpu):
            return loc
        return "system"
    return request.location


class _MigrationPolicy(Policy):
    """What the built-in migration policies share: the ``silent_retry`` parameter, which
    also decides how a ``migrate`` hint invalidates."""

    family = "migration"
    params: ClassVar[dict[str, Any]] = {"silent_retry": False}

    @hookimpl
    def vmcore_hint_silent_retry(self, request: HintRequest) -> bool:
        return bool(self.args["silent_retry"])


class OnFault(_MigrationPolicy):
    name = "on-fault"
    doc = "The fault handler migrates one granule to the best location (upstream)."

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        return MigrationDecision(best_restore_location(request), True, bool(self.args["silent_retry"]))


class HintOnly(_MigrationPolicy):
    name = "hint-only"
    doc = "Only `migrate` hints move data; faults map it where it is."

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        loc = request.location
        if loc != "system" and _hive(request, loc.removesuffix(".vram")) != _hive(request, request.gpu):
            loc = "system"  # unreachable from the faulting GPU: bring it home
        return MigrationDecision(loc, True, bool(self.args["silent_retry"]))


class FaultWorker(_MigrationPolicy):
    name = "fault-worker"
    doc = "Faults map where the data is and queue a worker that migrates later, outside the fault handler (Felix's proposal)."

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        return MigrationDecision(best_restore_location(request), False, bool(self.args["silent_retry"]))


class KeepSharedInSystem(_MigrationPolicy):
    name = "keep-shared-in-system"
    doc = "A range whose access and in_place GPUs span more than one hive stays in system memory; others as on-fault."

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        gpus = set(request.access) | set(request.in_place)
        hives = {_hive(request, g) for g in gpus}
        if len(hives) > 1:
            return MigrationDecision("system", True, bool(self.args["silent_retry"]))
        return MigrationDecision(best_restore_location(request), True, bool(self.args["silent_retry"]))


POLICIES: list[type[Policy]] = [OnFault, HintOnly, FaultWorker, KeepSharedInSystem]
