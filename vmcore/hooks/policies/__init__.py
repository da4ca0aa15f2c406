"""vmcore's built-in policies: plugins of the same kind users write, one module per family.

The first policy of each family is the default and models upstream amdgpu today.
"""

from __future__ import annotations

from typing import Any

from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies import (
    alloc,
    evict,
    fault,
    migration,
    prefetch,
    pt_fences,
    pt_move,
    queues,
    root_pd,
    update,
)
from vmcore.hooks.policies.base import Policy, PolicyError

FAMILIES: dict[str, list[type[Policy]]] = {
    "queues": queues.POLICIES,
    "alloc": alloc.POLICIES,
    "evict": evict.POLICIES,
    "prefetch": prefetch.POLICIES,
    "root_pd": root_pd.POLICIES,
    "pt_fences": pt_fences.POLICIES,
    "update": update.POLICIES,
    "fault": fault.POLICIES,
    "migration": migration.POLICIES,
    "pt_move": pt_move.POLICIES,
}


class BuiltinPolicies:
    """The plugin that registers the built-in policy names."""

    @hookimpl(trylast=True)
    def vmcore_policies(self) -> list[Any]:
        return [cls for classes in FAMILIES.values() for cls in classes]


__all__ = ["FAMILIES", "BuiltinPolicies", "Policy", "PolicyError"]
