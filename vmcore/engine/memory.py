"""Physical memory: placements in VRAM, GTT and system memory, and the address map.

Every byte of simulated memory has one global physical address, so a PTE names it
unambiguously: GPU ``i``'s VRAM starts at ``(i + 1) << 40`` and system memory (GTT
included) at ``1 << 44``; PTEs carry the SYSTEM bit for the latter.  VRAM and GTT
come from the C core's buddy pools; system memory is never short and its addresses are
never reused, so a PTE still pointing at freed system pages is always detectable.
"""

from __future__ import annotations

from vmcore.core import PageStore, Pool
from vmcore.engine.model import PAGE, Domain, Gpu, Placement

SYSTEM_BASE = 1 << 44


def vram_base(gpu: Gpu) -> int:
    return (gpu.index + 1) << 40


class SystemMemory:
    """System RAM and GTT addresses: a bump allocator (addresses never reused)."""

    def __init__(self, store: PageStore) -> None:
        self.next = SYSTEM_BASE
        self.live = 0
        self.store = store

    def alloc(self, size: int, domain: Domain = Domain.SYSTEM) -> Placement:
        size = (size + PAGE - 1) // PAGE * PAGE
        base = self.next
        self.next += size
        self.live += size
        self.store.add_region(base, size // PAGE)  # new pages read 0
        return Placement(domain, None, [(0, base, size)], None)

    def free(self, place: Placement) -> None:
        self.live -= place.size


def pool_alloc(pool: Pool, base: int, size: int, contiguous: bool) -> list[tuple[int, int, int]] | None:
    """Blocks of ``pool`` covering ``size`` bytes (one block when contiguous), or None.

    Non-contiguous requests take the largest power-of-two blocks first, as a BO made of
    several buddy blocks does.
    """
    size = (size + PAGE - 1) // PAGE * PAGE
    stats = pool.stats
    if contiguous:
        want = 1 << (size - 1).bit_length() if size > PAGE else PAGE
        if want > stats.largest_free:
            return None
        h = pool.alloc(want)
        info = pool.block(h)
        return [(h, base + info.offset, size)]
    if size > stats.free:
        return None
    out: list[tuple[int, int, int]] = []
    remaining = size
    while remaining:
        largest = pool.stats.largest_free
        chunk = 1 << (remaining.bit_length() - 1)
        chunk = min(chunk, largest)
        h = pool.alloc(chunk)
        info = pool.block(h)
        out.append((h, base + info.offset, info.size))
        remaining -= info.size
    return out


def pool_free(pool: Pool, blocks: list[tuple[int, int, int]]) -> None:
    for h, _, _ in blocks:
        pool.free(h)
