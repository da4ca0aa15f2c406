"""Family ``evict``: victim order when memory is needed (TTM's LRU walk upstream)."""

from __future__ import annotations

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


POLICIES = [Lru, Fifo, Lfu]
