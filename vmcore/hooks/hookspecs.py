"""Hook specifications: the contract between vmcore and policy plugins.

There are two kinds of hooks.

*Decision hooks* belong to a policy family (``queues``, ``alloc``, ``evict``, ``root_pd``,
``pt_fences``, ``update``, ``fault``, ``migration``, ``pt_move``).  A scenario has one
active policy per family and only that policy's implementation is consulted; returning
``None`` (or not implementing the hook) lets the family's built-in default policy
answer instead, so a policy need implement only what it changes.  Each is called once
per decision (per fault, per allocation, per update), never per page.

*Observer hooks* are called on every plugin: events, extra ``expect`` predicates,
metrics, command-line options, and the registration of policy names.

External plugins register under the entry-point group ``vmcore``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

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

PROJECT = "vmcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: decision hook name -> policy family
FAMILY_OF_HOOK: dict[str, str] = {
    "vmcore_queue_model": "queues",
    "vmcore_alloc_mode": "alloc",
    "vmcore_pt_reserve": "alloc",
    "vmcore_evict_order": "evict",
    "vmcore_root_pd": "root_pd",
    "vmcore_cs_fence_on_page_tables": "pt_fences",
    "vmcore_update_path": "update",
    "vmcore_fault_action": "fault",
    "vmcore_migration": "migration",
    "vmcore_hint_silent_retry": "migration",
    "vmcore_pt_move": "pt_move",
    "vmcore_prefetch": "prefetch",
}


# -- decision hooks -------------------------------------------------------------------
@hookspec(firstresult=True)
def vmcore_queue_model(process: str) -> QueueModel | None:
    """Family ``queues``: what the jobs of ``process`` on ``compute`` and ``sdma`` engines are.

    Called once per process, when it is created.  ``KFD``: KFD user queues, whose jobs
    carry no dma-fence; the process has one eviction fence, on the reservations of its
    BOs and root PDs (BOOKKEEP), and waiting for it preempts the process's queues.
    ``CS``: ``amdgpu_cs`` submissions whose completion is a dma-fence (the 2019 model).
    Jobs on ``gfx`` and ``mm`` engines are always ``CS``.  ``None``: the default policy
    ``kfd`` answers ``KFD`` (upstream ``init_kfd_vm``, ``amdgpu_amdkfd_fence``).
    """


@hookspec(firstresult=True)
def vmcore_alloc_mode(request: AllocRequest) -> AllocMode | None:
    """Family ``alloc``: how may the fault handler get memory for ``request``?

    Called once per allocation the fault handler makes: a page table
    (``request.purpose == "pt"``) or the pages a granule migrates into
    (``"migration"``); ``request.svm`` says which fault path makes it.  Allocations
    outside the fault handler are always ``TTM``.  Return an
    :class:`~vmcore.hooks.decisions.AllocMode`; ``RESERVE`` is honoured only for page
    tables and only when :func:`vmcore_pt_reserve` set a pool aside.  ``None``: the
    default policy ``ttm`` answers ``TTM`` on the SVM path and ``NO_WAIT`` for the page
    tables of ``amdgpu_vm_handle_fault`` (upstream: ``bp.no_wait_gpu = immediate``).
    """


@hookspec(firstresult=True)
def vmcore_pt_reserve(gpu: str, vram_size: int) -> int | None:
    """Family ``alloc``: bytes of VRAM to set aside for page tables on ``gpu``.

    Called once per GPU when the scenario starts.  The reserve is pinned VRAM that only
    page tables allocated with ``AllocMode.RESERVE`` use.  ``None`` or 0: no reserve.
    """


@hookspec(firstresult=True)
def vmcore_evict_order(candidates: list[EvictCandidate]) -> list[EvictCandidate] | None:
    """Family ``evict``: the order in which to try ``candidates`` when memory is needed.

    Return a list drawn from ``candidates`` (leaving some out is allowed: they are not
    evicted).  ``None``: the default policy ``lru`` answers, least recently used first.
    Called once per pass over the candidates, with every candidate: a policy that
    implements it pays for the list; under ``lru`` itself TTM walks an LRU it keeps up to
    date instead, without building one.
    """


@hookspec(firstresult=True)
def vmcore_root_pd(gpu: str, process: str) -> RootPdMode | None:
    """Family ``root_pd``: how the root PD of ``process``'s VM on ``gpu`` stays usable.

    Called once when the VM is created.  ``None``: the default policy answers
    ``MOVABLE`` (upstream).
    """


@hookspec(firstresult=True)
def vmcore_cs_fence_on_page_tables(gpu: str, process: str, job: str) -> bool | None:
    """Family ``pt_fences``: does job ``job``'s fence go on its VM's page-table reservation?

    Called once per job at submission.  Its fence always goes on the BOs it uses.
    ``True``: also on the shared PD/PT reservation, as ``amdgpu_cs_submit`` does
    upstream; ``False``: the 2019 proposal, page tables carry kernel fences only.
    ``None``: the default policy answers ``True``.
    """


@hookspec(firstresult=True)
def vmcore_update_path(request: UpdateRequest) -> UpdatePath | None:
    """Family ``update``: which path a page-table update takes.

    Called once per update (a batch of PTEs).  ``None``: the default policy answers
    ``IMMEDIATE`` for ``amdgpu_vm_handle_fault``'s updates and ``DELAYED`` for all else,
    the SVM fault path's mapping included (upstream ``vm->immediate`` / ``vm->delayed``;
    ``svm_range_map_to_gpu`` passes ``immediate = false``).  The built-in update
    policies answer from ``fault_path``, ``kind`` and ``svm`` alone: when one is active,
    the engine asks it once per combination and reuses the answers.
    """


@hookspec(firstresult=True)
def vmcore_fault_action(fault: FaultInfo) -> FaultAction | None:
    """Family ``fault``: what to do with a fault the handler cannot map.

    Called once per such fault: a no-retry fault, an access to an address with no
    range or mapping, a write through a read-only PTE.  ``None``: the default policy
    answers ``KILL`` (upstream: the process gets a no-retry fault and is killed).
    """


@hookspec(firstresult=True)
def vmcore_migration(request: MigrationRequest) -> MigrationDecision | None:
    """Family ``migration``: where a faulting granule's data should be, and who moves it.

    Called once per retry fault on an SVM range.  Return a
    :class:`~vmcore.hooks.decisions.MigrationDecision`.  ``None``: the default policy
    ``on-fault`` answers with the upstream choice, ``svm_range_best_restore_location``
    (the preferred location when the faulting GPU can use it, else the faulting GPU's
    VRAM when it is in ``access``), in the fault handler, without silent retry.
    """


@hookspec(firstresult=True)
def vmcore_hint_silent_retry(request: HintRequest) -> bool | None:
    """Family ``migration``: does the MMU notifier put PTEs into silent-retry mode while a
    ``migrate`` hint (KFD's prefetch) moves ``request``'s data?

    Called once per ``migrate`` statement.  ``True``: silent retry while the copy runs,
    then invalid; ``False``: invalid at once, so a job touching the range faults.
    ``None``: the default policy answers ``False``.  The built-in migration policies
    answer their ``silent_retry`` parameter.
    """


@hookspec(firstresult=True)
def vmcore_prefetch(request: PrefetchRequest) -> list[tuple[int, int]] | None:
    """Family ``prefetch``: what else a retry fault migrates with its granule.

    Called once per fault whose granule the fault handler migrated, after the copy.
    Answers ``(address, size)`` ranges of the faulting range whose granules follow it to
    ``request.target`` (and are mapped on the faulting GPU).  ``None`` or ``[]``: nothing
    more (the default, ``none``: upstream migrates the faulting granule alone).
    """


@hookspec(firstresult=True)
def vmcore_pt_move(gpu: str, process: str) -> PtMove | None:
    """Family ``pt_move``: what happens to a page table that must leave its memory.

    Called once per page table evicted.  ``None``: the default policy answers ``MIGRATE``.
    """


# -- observer hooks -------------------------------------------------------------------
@hookspec
def vmcore_event(time: int, actor: str, action: str, detail: str) -> None:
    """Observer: one event of the run log (simulated ns, actor, action, detail).

    Called for every logged event on every plugin that implements it; keep it cheap.
    The return value is ignored.
    """


@hookspec
def vmcore_run_started(scenario: str, seed: int) -> None:
    """Observer: a run of ``scenario`` is about to start (one call per schedule explored).

    Called on every plugin and on the run's active policies.  Active policy instances are
    reused across runs of a scenario; a policy that keeps state between decisions (a
    fault history, say) resets it here.  ``seed`` is the run's seed (``--seed``, or
    ``vmcore compare``'s ``--seeds``): a policy that draws random numbers seeds its
    generator from it, so that the same seed gives the same run.  An implementation may
    leave ``seed`` out of its parameters, as pluggy allows.
    """


@hookspec
def vmcore_expect_predicates() -> Mapping[str, Callable[..., bool]] | None:
    """Observer: extra ``expect`` predicates, by name.

    Each callable receives a read-only view of the run (:class:`vmcore.engine.view.RunView`:
    ``metric(name[, process])``, ``faults``, ``findings``, ``deadlocks``, ``stalls``,
    ``leaks``, and ``system`` and ``monitor`` for anything else, whose containers are
    read-only and whose methods are not reachable, so a predicate cannot change the
    verdict) and the predicate's arguments as strings, and returns whether the predicate
    holds: a bool, or ``(bool, why)`` to say why.
    """


@hookspec
def vmcore_metrics(result: Any) -> Mapping[str, float] | None:
    """Observer: extra metrics computed at the end of a run, by name.

    ``result`` is the same view predicates get.  The metrics join the run's metrics and
    may be used in ``expect NAME OP N``; a name a built-in metric already has is an error.
    """


@hookspec
def vmcore_metric_names() -> list[str] | None:
    """Observer: the names of the metrics this plugin's ``vmcore_metrics`` returns, so that
    ``expect NAME OP N`` can be checked when a file is compiled."""


@hookspec
def vmcore_addoption(parser: Any) -> None:
    """Observer: add options to the ``vmcore`` command line (an ``argparse`` parser)."""


@hookspec
def vmcore_policies() -> list[Any] | None:
    """Observer: policy classes this plugin adds.

    Each class has ``family`` and ``name`` class attributes and takes its parameters as
    keyword arguments; an instance implements its family's decision hooks.
    """
