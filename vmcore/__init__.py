"""vmcore: a laboratory for GPU virtual-memory management policies.

vmcore models how amdgpu keeps page tables, fences and the SDMA ring consistent while
retry page faults, evictions and migrations happen, and lets policy authors plug in
their own decisions and check them against scenarios.

What a plugin or scenario author needs is exported here, and the bundled plugins import
nothing else (a test keeps them to it):

* writing a policy: :func:`hookimpl`, :class:`Policy`, :class:`PolicyError`, and the
  requests and answers of the decision hooks (:class:`AllocRequest` → :class:`AllocMode`,
  :class:`FaultInfo` → :class:`FaultAction`, ...), with :func:`best_restore_location`,
  upstream's answer to "where should this range live after a retry fault";
* observing a run: :class:`RunState`, the run view that ``expect`` predicates and
  ``vmcore_metrics`` receive, and :class:`Result`;
* running scenarios from Python: :class:`Scenario` and :func:`plugin_manager`.

The layers underneath are importable but not advertised: ``vmcore.core`` (the C core),
``vmcore.hooks`` (the plugin API's modules), ``vmcore.engine``, ``vmcore.dsl`` (the
language) and ``vmcore.cli`` (the front end).
"""

from __future__ import annotations

__version__ = "0.1.0"

from vmcore.engine import Result, Scenario
from vmcore.engine.checks import RunState
from vmcore.errors import VmcoreError
from vmcore.hooks.decisions import (
    AllocMode,
    AllocRequest,
    EvictCandidate,
    FaultAction,
    FaultInfo,
    HintRequest,
    MigrationDecision,
    MigrationRequest,
    PrefetchRequest,
    PtMove,
    QueueModel,
    RootPdMode,
    UpdatePath,
    UpdateRequest,
)
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies import Policy, PolicyError
from vmcore.hooks.policies.migration import best_restore_location

__all__ = [
    "AllocMode",
    "AllocRequest",
    "EvictCandidate",
    "FaultAction",
    "FaultInfo",
    "HintRequest",
    "MigrationDecision",
    "MigrationRequest",
    "Policy",
    "PolicyError",
    "PrefetchRequest",
    "PtMove",
    "QueueModel",
    "Result",
    "RootPdMode",
    "RunState",
    "Scenario",
    "UpdatePath",
    "UpdateRequest",
    "VmcoreError",
    "__version__",
    "best_restore_location",
    "hookimpl",
    "plugin_manager",
]
