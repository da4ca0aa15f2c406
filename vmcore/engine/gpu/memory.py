"""Physical memory: placements in VRAM, GTT and system memory, and the address map.

Every byte of simulated memory has one global physical address, so a PTE names it
unambiguously: GPU ``i``'s VRAM starts at ``(i + 1) << 40`` and system memory (GTT
included) at ``1 << 44``; PTEs carry the SYSTEM bit for the latter.  VRAM and GTT
come from the C core's buddy pools; system memory is never short and its addresses are
never reused, so a PTE still pointing at freed system pages is always detectable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vmcore.core import PageStore, Pool
from vmcore.engine.model import PAGE, VRAM, Domain, Gpu, Placement
from vmcore.errors import LimitExceeded

if TYPE_CHECKING:
    from vmcore.engine.model import Vm
    from vmcore.engine.monitor import Monitor
    from vmcore.engine.sim import Sim

SYSTEM_BASE = 1 << 44
SYSTEM_SPAN = 1 << 40
"""System memory (GTT included) is the window [SYSTEM_BASE, SYSTEM_BASE + SYSTEM_SPAN)."""
MAX_GPUS = 64
"""GPU ``i``'s VRAM is at ``(i + 1) << 40``, skipping the system window: room for 64 GPUs of
up to 1 TiB each below the 48-bit physical limit of a PTE."""


def vram_base(gpu: Gpu) -> int:
    slot = gpu.index + 1
    if slot >= SYSTEM_BASE >> 40:
        slot += SYSTEM_SPAN >> 40  # GPU 15 and later sit above system memory
    return slot << 40


class SystemMemory:
    """System RAM and GTT addresses: a bump allocator (addresses never reused)."""

    def __init__(self, store: PageStore) -> None:
        self.next = SYSTEM_BASE
        self.live = 0
        self.store = store

    def alloc(self, size: int, domain: Domain = Domain.SYSTEM) -> Placement:
        size = (size + PAGE - 1) // PAGE * PAGE
        base = self.next
        if base + size > SYSTEM_BASE + SYSTEM_SPAN:
            raise LimitExceeded(
                f"system memory: {size} more bytes would pass the simulation's 1 TiB of system "
                "allocations (addresses are never reused)"
            )
        self.next += size
        self.live += size
        self.store.add_region(base, size // PAGE)  # new pages read 0
        return Placement(domain, None, [(0, base, size)], None)

    def free(self, place: Placement) -> None:
        self.live -= place.size


def pool_alloc(pool: Pool, base: int, size: int, contiguous: bool) -> list[tuple[int, int, int]] | None:
    """Blocks of ``pool`` covering ``size`` bytes (one block when contiguous), or None;
    as (pool handle, physical address, bytes), the pool's offsets placed at ``base``.

    Non-contiguous requests take the largest power-of-two blocks first, as a BO made of
    several buddy blocks does (one core call: ``Pool.alloc_bo``).
    """
    blocks = pool.alloc_bo(size, contiguous)
    if blocks is None:
        return None
    return [(h, base + off, n) for h, off, n in blocks]


def pool_free(pool: Pool, blocks: list[tuple[int, int, int]]) -> None:
    for h, _, _ in blocks:
        pool.free(h)


class Memory:
    """The device's physical memory: the page store, system memory, the dummy page, and
    the VRAM and GTT pools of each GPU (kept on the :class:`Gpu`)."""

    def __init__(self, sim: Sim, mon: Monitor) -> None:
        self.sim = sim
        self.mon = mon
        self.store = PageStore()
        self.sysmem = SystemMemory(self.store)
        self.dummy_page = self.sysmem.alloc(PAGE)
        """``adev->dummy_page_addr``: where the ``dummy-page`` fault policy maps."""

    def split(self, place: Placement, offset: int) -> tuple[Placement, Placement]:
        """Cut ``place`` (system memory, or a view of an SVM range's VRAM BO, neither of which
        owns pool blocks) at byte ``offset``, a page multiple inside it, into two placements;
        ``place`` itself is left empty."""
        assert place.pool is None, place
        assert 0 < offset < place.size and offset % PAGE == 0, (offset, place.size)
        left: list[tuple[int, int, int]] = []
        right: list[tuple[int, int, int]] = []
        off = offset
        for h, base, size in place.blocks:
            if off >= size:
                left.append((h, base, size))
                off -= size
            elif off == 0:
                right.append((h, base, size))
            else:
                left.append((h, base, off))
                right.append((h, base + off, size - off))
                off = 0
        place.blocks = []
        return Placement(place.domain, place.gpu, left, place.pool), Placement(
            place.domain, place.gpu, right, place.pool
        )

    def add_gpu(self, gpu: Gpu) -> None:
        """Give ``gpu`` its VRAM and GTT pools and its VRAM pages in the store."""
        gpu.vram = Pool(gpu.vram_size, f"{gpu.name}.vram")
        gpu.gtt = Pool(gpu.gtt_size, f"{gpu.name}.gtt")
        self.store.add_region(vram_base(gpu), gpu.vram_size // PAGE)

    def try_alloc(self, gpu: Gpu | None, domain: Domain, size: int, contiguous: bool) -> Placement | None:
        """Memory of ``domain`` if it fits now (nothing is evicted), else None."""
        if domain is Domain.SYSTEM:
            return self.sysmem.alloc(size)
        assert gpu is not None
        if domain is Domain.GTT:
            assert gpu.gtt is not None
            blocks = pool_alloc(gpu.gtt, self.sysmem.next, size, contiguous)
            if blocks is None:
                return None
            # GTT pages live in system memory: give them fresh system addresses
            place = self.sysmem.alloc(size, Domain.GTT)
            place.blocks = [
                (h, place.blocks[0][1] + sum(b[2] for b in blocks[:i]), s)
                for i, (h, _, s) in enumerate(blocks)
            ]
            place.pool = gpu.gtt
            place.gpu = gpu
            return place
        assert gpu.vram is not None
        blocks = pool_alloc(gpu.vram, vram_base(gpu), size, contiguous)
        if blocks is None:
            return None
        for _, base, n in blocks:
            self.store.fill(base, n // PAGE, 0)  # new memory reads 0
        tl = self.mon.timeline
        if tl is not None:
            tl.vram_used += sum(b[2] for b in blocks)
            tl.record(self.sim.now, 0, tl.vram_used)
        return Placement(VRAM, gpu, blocks, gpu.vram)

    def free(
        self,
        place: Placement,
        why: str | Callable[[], str],
        mapped_at: list[tuple[Vm, int, int]] | None = None,
    ) -> None:
        """Give memory back, after checking that no valid PTE where it was mapped
        (``mapped_at``: VM, VA, pages) still points into it; ``why`` (or what makes it)
        names the freeing in a stale-PTE finding."""
        system = place.domain is not VRAM
        for vm, va, npages in mapped_at or ():
            if not vm.alive:
                continue
            for _, base, size in place.blocks:
                n, first = vm.pt.find_phys_in(va, npages, base, base + size, system)
                if n:
                    self.mon.find(
                        "stale pte",
                        self.sim.now,
                        f"{n} valid PTE(s) of {vm.process.name} on {vm.gpu.name} (first at VA {first:#x}) "
                        f"still point to memory freed by {why if isinstance(why, str) else why()}",
                    )
                    break
        if place.pool is not None:
            pool_free(place.pool, place.blocks)
            tl = self.mon.timeline
            if tl is not None and place.gpu is not None and place.pool is place.gpu.vram and place.blocks:
                tl.vram_used -= sum(b[2] for b in place.blocks)
                tl.record(self.sim.now, 0, tl.vram_used)
        if place.domain is not VRAM:
            self.sysmem.free(place)
        place.blocks = []

    def close(self, gpus: list[Gpu]) -> None:
        self.store.close()
        for gpu in gpus:
            for pool in (gpu.vram, gpu.gtt, gpu.pt_reserve):
                if pool is not None:
                    pool.close()
