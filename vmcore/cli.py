"""The ``vmcore`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vmcore import __version__
from vmcore.errors import VmcoreError

DESCRIPTION = """\
vmcore: a laboratory for GPU virtual-memory management policies.

It models how amdgpu keeps page tables, fences and the SDMA ring consistent while
retry page faults, evictions and migrations happen, and checks policies against
.vms scenarios.
"""

EPILOG = """\
examples:
  vmcore demo            map, walk and invalidate a range through the C core
  vmcore --version       print the version
"""


def _demo(args: argparse.Namespace) -> int:
    """A short tour of the C core: page tables, a fence chain, the ring, a pool."""
    from vmcore.core import FenceKind, FenceTable, Invalidate, PageTable, Pool, Pte, Ring

    out = sys.stdout
    va, npages = 0x4000_0000, args.pages
    with Pool(16 << 20, "vram") as vram, PageTable(root_addr=0) as pt:
        root = vram.alloc(4096)
        made = pt.ensure(va, npages, lambda level, base: vram.block(vram.alloc(4096)).offset)
        pt.map(va, npages, phys=0x10_0000, flags=Pte.READABLE | Pte.WRITEABLE)
        c = pt.counters
        out.write(f"page tables: mapped {npages} pages at {va:#x} using {len(made)} new PD/PT BOs\n")
        out.write(f"  valid PTEs {c.valid_ptes}, resident PD/PT BOs {c.resident_pts}, {c.bytes_used} bytes\n")
        w = pt.walk(va + 5 * 4096 + 0x10, Pte.READABLE)
        out.write(f"  walk {va + 5 * 4096 + 0x10:#x}: {w.reason.name} at {w.level.name} -> {w.phys:#x}\n")
        pt.invalidate(va, 16, Invalidate.SILENT_RETRY)
        w = pt.walk(va)
        out.write(f"  after silent-retry invalidation of 16 pages: walk {va:#x} -> {w.reason.name}\n")
        s = vram.stats
        out.write(
            f"vram pool: {s.free} of {s.size} bytes free, largest free block {s.largest_free}, fragmentation {s.fragmentation:.3f}\n"
        )
        vram.free(root)
    with FenceTable() as fences:
        user = fences.create(FenceKind.USER, producer=1, arm=True)
        move = fences.create(FenceKind.KERNEL, producer=2, deps=[user], arm=True)
        out.write(
            f"fences: a kernel move fence after a user job depends on user work: {move.depends_on_user}\n"
        )
    with Ring(64) as ring:
        ring.lock(1)
        ring.reserve(1, 8)
        ring.emit_fence(1, 0x1000, 1)
        ring.commit(1)
        ring.unlock(1)
        p = ring.consume()
        out.write(f"ring: consumed {p.opcode.name if p else 'nothing'}; intact: {ring.check() is None}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmcore",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="a short tour of the C core", description=_demo.__doc__)
    demo.add_argument("--pages", type=int, default=1024, help="pages to map (default 1024)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args))
    except VmcoreError as e:
        print(f"vmcore: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vmcore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
