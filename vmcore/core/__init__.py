"""Python wrappers over the C core (``vmcore._core``): one module per subsystem.

Engine code imports these wrappers, never ``vmcore._core`` itself.
"""

from __future__ import annotations

from vmcore.core.fences import Fence, FenceKind, FenceState, FenceTable, Node, NodeKind, WaitForGraph
from vmcore.core.pagetable import (
    PAGE_SIZE,
    Invalidate,
    Level,
    PageTable,
    PtCounters,
    Pte,
    PtInfo,
    Walk,
    WalkReason,
)
from vmcore.core.pool import BlockInfo, Pool, PoolStats
from vmcore.core.ring import (
    Command,
    Corruption,
    Damage,
    Op,
    Packet,
    Ring,
    RingMode,
    RingPointers,
    packet_dw,
)
from vmcore.core.store import PageStore

__all__ = [
    "PAGE_SIZE",
    "BlockInfo",
    "Command",
    "Corruption",
    "Damage",
    "Fence",
    "FenceKind",
    "FenceState",
    "FenceTable",
    "Invalidate",
    "Level",
    "Node",
    "NodeKind",
    "Op",
    "Packet",
    "PageStore",
    "PageTable",
    "Pool",
    "PoolStats",
    "PtCounters",
    "PtInfo",
    "Pte",
    "Ring",
    "RingMode",
    "RingPointers",
    "WaitForGraph",
    "Walk",
    "WalkReason",
    "packet_dw",
]
