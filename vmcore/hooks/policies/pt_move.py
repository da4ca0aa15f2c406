"""Family ``pt_move``: page tables that must leave their memory."""

from __future__ import annotations

from vmcore.hooks.decisions import PtMove
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class Migrate(Policy):
    family = "pt_move"
    name = "migrate"
    doc = "Copied through the page queue; the parent PDE follows."

    @hookimpl
    def vmcore_pt_move(self, gpu: str, process: str) -> PtMove:
        return PtMove.MIGRATE


class Reallocate(Policy):
    family = "pt_move"
    name = "reallocate"
    doc = "Freed; the PTEs are re-faulted into a new page table (Christian's idea in the thread)."

    @hookimpl
    def vmcore_pt_move(self, gpu: str, process: str) -> PtMove:
        return PtMove.REALLOCATE


POLICIES = [Migrate, Reallocate]
