"""vmcore plugin: the ``migration`` policy ``no-ping-pong``.

Case 10 of the 2019 thread.  Felix Kuehling: "it may be better to leave that page in
system memory where it can be accessed by multiple GPUs, rather than bouncing it around
between GPUs."  Upstream's fault handler migrates the faulting granule to the faulting
GPU's VRAM (``svm_range_best_restore_location``), so two GPUs taking turns on one
granule move it on every turn.

``no-ping-pong`` keeps a per-granule fault history in the policy instance.  The first
GPU to fault on a granule gets upstream's choice (usually its own VRAM).  When a
*different* GPU faults on it, that is a bounce; after ``max_bounces`` bounces the
granule *settles*: it goes to system memory (``settle = "system"``) or stays where it is
when the faulting GPU can reach it over XGMI (``settle = "stay"``), and every later
fault maps it where it is instead of moving it.

Decisions use only the :class:`~vmcore.hooks.decisions.MigrationRequest` fields and that
history.  A ``preferred`` location, or a faulting GPU that is not in the range's
``access`` list (``in_place`` or no access), gets upstream's choice unchanged: the user
already said where the data should be.

Parameters::

    policy migration = "no-ping-pong"(max_bounces = 0, settle = "system", silent_retry = false)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from vmcore import (
    HintRequest,
    MigrationDecision,
    MigrationRequest,
    Policy,
    PolicyError,
    best_restore_location,
    hookimpl,
)

__version__ = "0.1.0"

SETTLE = ("system", "stay")


@dataclass
class GranuleHistory:
    """What the policy remembers about one granule (keyed by process and granule start)."""

    faults: list[str] = field(default_factory=list)
    """The GPUs that faulted on it, in order."""
    last_gpu: str | None = None
    """The GPU the granule last followed."""
    bounces: int = 0
    """How often a GPU other than ``last_gpu`` faulted on it."""
    settled: bool = False
    """Whether it no longer follows faulting GPUs."""


def hive_of(request: MigrationRequest, gpu: str) -> str:
    return dict(request.hives).get(gpu, gpu)


def reachable(request: MigrationRequest, location: str) -> bool:
    """Whether the faulting GPU can map ``location`` in place (system memory, or VRAM of its hive)."""
    if location == "system":
        return True
    return hive_of(request, location.removesuffix(".vram")) == hive_of(request, request.gpu)


class NoPingPong(Policy):
    """Follow the first faulting GPU; settle a granule once other GPUs fault on it."""

    family = "migration"
    name = "no-ping-pong"
    params: ClassVar[dict[str, Any]] = {"max_bounces": 0, "settle": "system", "silent_retry": False}
    doc = (
        "A granule follows the first GPU that faults on it; after `max_bounces` faults by other "
        'GPUs it settles in system memory (settle = "system") or where it is when reachable '
        '(settle = "stay") and is mapped there from then on.'
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.args["settle"] not in SETTLE:
            raise PolicyError(
                f"policy {self.name}: settle must be one of {', '.join(map(repr, SETTLE))}, "
                f"got {self.args['settle']!r}"
            )
        self.history: dict[tuple[str, int], GranuleHistory] = {}

    # vmcore reuses active policy instances for every run of a scenario (explorations run
    # it thousands of times): forget the last run's history when a new one starts.
    @hookimpl
    def vmcore_run_started(self, scenario: str) -> None:
        self.history.clear()

    @hookimpl
    def vmcore_hint_silent_retry(self, request: HintRequest) -> bool:
        return bool(self.args["silent_retry"])

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        silent = bool(self.args["silent_retry"])
        h = self.history.setdefault((request.process, request.granule_start), GranuleHistory())
        h.faults.append(request.gpu)
        if request.preferred is not None or request.gpu not in request.access:
            return MigrationDecision(best_restore_location(request), True, silent)
        if h.settled:
            return MigrationDecision(self._stay(request), True, silent)
        if h.last_gpu is not None and h.last_gpu != request.gpu:
            h.bounces += 1
            if h.bounces > int(self.args["max_bounces"]):
                h.settled = True
                target = "system" if self.args["settle"] == "system" else self._stay(request)
                return MigrationDecision(target, True, silent)
        h.last_gpu = request.gpu
        return MigrationDecision(best_restore_location(request), True, silent)

    @staticmethod
    def _stay(request: MigrationRequest) -> str:
        return request.location if reachable(request, request.location) else "system"


@hookimpl
def vmcore_policies() -> list[Any]:
    """The policies this plugin adds (the module itself is the plugin)."""
    return [NoPingPong]


__all__ = ["SETTLE", "GranuleHistory", "NoPingPong", "hive_of", "reachable", "vmcore_policies"]
