"""Core benchmark: PTE writes, walks, fences and ring traffic, C core vs pure-Python reference.

Run: ``python benchmarks/core.py [--pages N]``.  Prints one ``name: value`` line per
figure; ``pte_writes_per_s`` (range maps through the C core) and
``speedup_vs_reference`` (the same maps through ``tests/core/ref_pt.py``) are the
figures issue 2 sets targets for (>= 5e7 PTE writes/s and >= 50x).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.core.ref_fences import RefFenceTable
from tests.core.ref_pt import RefPageTable
from tests.core.ref_ring import RefRing
from vmcore.core import FenceKind, FenceTable, Invalidate, PageTable, Pte, Ring, RingMode

VA = 0x1_0000_0000


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Fastest of ``repeat`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def page_tables(cls: Any, npages: int, repeat: int) -> dict[str, float]:
    pt = cls(root_addr=0)
    pt.ensure(VA, npages)
    flags = Pte.READABLE | Pte.WRITEABLE
    t_map = best_of(repeat, lambda: pt.map(VA, npages, 0x4000_0000, flags))
    t_inv = best_of(repeat, lambda: pt.invalidate(VA, npages, Invalidate.SILENT_RETRY))
    pt.map(VA, npages, 0x4000_0000, flags)
    nwalk = min(npages, 100_000)

    def walks() -> None:
        for i in range(nwalk):
            pt.walk(VA + (i << 12), Pte.READABLE)

    t_walk = best_of(repeat, walks)
    out = {
        "map_s": t_map,
        "pte_writes_per_s": npages / t_map,
        "invalidates_per_s": npages / t_inv,
        "walks_per_s": nwalk / t_walk,
    }
    if hasattr(pt, "scan"):
        t_scan = best_of(repeat, lambda: pt.scan(VA, npages, Pte.READABLE))
        out["scanned_pages_per_s"] = npages / t_scan
    out["bytes_per_mapped_page"] = pt.counters.bytes_used / npages
    return out


def fences(cls: Any, n: int, repeat: int) -> float:
    def run() -> None:
        t = cls()
        prev = t.create(FenceKind.USER, producer=1, arm=True)
        for i in range(n):
            f = t.create(FenceKind.KERNEL, producer=2)
            f.add_dep(prev)
            f.arm()
            if i % 2:
                prev.signal()
            else:
                assert f.depends_on_user
            prev = f

    return n / best_of(repeat, run)


def ring(cls: Any, n: int, repeat: int) -> float:
    def run() -> None:
        r = cls(1024, RingMode.LOCKED)
        for i in range(n):
            r.lock(1)
            r.reserve(1, 4)
            r.emit_fence(1, 0x1000, i & 0xFFFF_FFFF)
            r.commit(1)
            r.unlock(1)
            r.consume()

    return n / best_of(repeat, run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1 << 20, help="pages to map (default 1M)")
    ap.add_argument("--ops", type=int, default=100_000, help="fence and ring operations (default 100k)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    a = ap.parse_args()

    c = page_tables(PageTable, a.pages, a.repeat)
    ref = page_tables(RefPageTable, a.pages, 1)
    print(f"pages: {a.pages}")
    print(f"pte_writes_per_s: {c['pte_writes_per_s']:.0f}")
    print(f"reference_pte_writes_per_s: {ref['pte_writes_per_s']:.0f}")
    print(f"speedup_vs_reference: {c['pte_writes_per_s'] / ref['pte_writes_per_s']:.1f}")
    print(f"invalidates_per_s: {c['invalidates_per_s']:.0f}")
    print(f"invalidate_speedup_vs_reference: {c['invalidates_per_s'] / ref['invalidates_per_s']:.1f}")
    print(f"scanned_pages_per_s: {c['scanned_pages_per_s']:.0f}")
    print(f"walks_per_s: {c['walks_per_s']:.0f}")
    print(f"walk_speedup_vs_reference: {c['walks_per_s'] / ref['walks_per_s']:.1f}")
    print(f"bytes_per_mapped_page: {c['bytes_per_mapped_page']:.2f}")
    cf = fences(FenceTable, a.ops, a.repeat)
    rf = fences(RefFenceTable, a.ops, 1)
    print(f"fence_create_depend_signal_per_s: {cf:.0f}")
    print(f"fence_speedup_vs_reference: {cf / rf:.2f}")
    cr = ring(Ring, a.ops, a.repeat)
    rr = ring(RefRing, a.ops, 1)
    print(f"ring_reserve_commit_per_s: {cr:.0f}")
    print(f"ring_speedup_vs_reference: {cr / rr:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
