"""Family ``evict``: victim order when memory is needed (TTM's LRU walk upstream).

The alternatives are the replacement policies that GPU unified-memory studies compare:
GPGPU-Sim's UVMSmart offers LRU, LFU and random replacement for its oversubscription
experiments, and gpu_ext (eBPF policies in the NVIDIA UVM driver) adds FIFO, MRU and
frequency-based orders; MRU is the classic answer to a cyclic sweep larger than memory,
where LRU evicts exactly what the sweep needs next.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from vmcore.hooks.decisions import EvictCandidate
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies.base import Policy


class Lru(Policy):
    family = "evict"
    name = "lru"
    doc = "Least recently used first (``ttm_lru_walk_for_evict``)."

    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        return sorted(candidates, key=lambda c: (c.lru, c.created))


class Fifo(Policy):
    family = "evict"
    name = "fifo"
    doc = "Oldest allocation first."

    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        return sorted(candidates, key=lambda c: c.created)


class Lfu(Policy):
    family = "evict"
    name = "lfu"
    doc = "Least frequently used first."

    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        return sorted(candidates, key=lambda c: (c.uses, c.lru))


class Mru(Policy):
    family = "evict"
    name = "mru"
    doc = "Most recently used first: keeps the older part of a cyclic sweep resident."

    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        return sorted(candidates, key=lambda c: (-c.lru, -c.created))


class Random(Policy):
    family = "evict"
    name = "random"
    params: ClassVar[dict[str, Any]] = {"seed": 0}
    doc = (
        "A random order, drawn from ``seed`` and the run's seed: the same seeds give the "
        "same victims, run after run (UVMSmart's random replacement)."
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.rng = random.Random(self.args["seed"])

    @hookimpl
    def vmcore_run_started(self, scenario: str, seed: int) -> None:
        self.rng = random.Random(f"{self.args['seed']}:{seed}")

    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        # from the order TTM listed them in, so that the draw alone decides
        order = list(candidates)
        self.rng.shuffle(order)
        return order


POLICIES = [Lru, Fifo, Lfu, Mru, Random]
