"""Writes the recorded access lists the bundled workloads replay (``accesses "FILE"``).

Run ``python scenarios/workloads/make_traces.py`` after changing it; a test checks that
the files here are what it writes.

Each list records one access per 64KiB (``STEP``) of the memory a kernel walks, the
size of the region a GPU's access counters count, not one per 4KiB page: a fault
migrates a whole granule (512KiB here), so the pages in between add touches, not faults.

* ``gemm.trace``: a tiled matrix multiply C = A x B, as Rodinia/PolyBench GEMM walks
  it tile by tile: for each tile (i, j) of C, for each k, the tiles A(i, k) and B(k, j)
  are read; then C(i, j) is written. A, B and C are 4 x 4 tiles of 512KiB each (8MiB a
  matrix), one after the other from 0x4000_0000.
* ``hotspot.trace``: Rodinia's Hotspot stencil: a grid of 32 rows of 512KiB read into a
  second grid and back, four iterations; computing a row reads that row and its two
  neighbours in the source grid and writes the row in the destination grid.
* ``random.trace``: UVMSmart's random-access microbenchmark: every 64KiB of 48MiB once
  in a random order (seeded: the file is the same on every run), twice, each pass in an
  order of its own.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = 0x4000_0000
STEP = 64 * 1024
TILE = 512 * 1024
TILES = 4
ROWS = 32
ROW = 512 * 1024
RANDOM_SIZE = 48 << 20


def _pages(start: int, size: int, write: bool = False) -> list[str]:
    return [f"{start + i * STEP:#x}{' w' if write else ''}" for i in range(size // STEP)]


def gemm() -> list[str]:
    matrix = TILES * TILES * TILE
    a, b, c = BASE, BASE + matrix, BASE + 2 * matrix

    def tile(m: int, i: int, j: int) -> int:
        return m + (i * TILES + j) * TILE

    out = ["# tiled GEMM C = A x B: 4 x 4 tiles of 512KiB per matrix, one access per 64KiB (written by make_traces.py)"]
    for i in range(TILES):
        for j in range(TILES):
            for k in range(TILES):
                out += _pages(tile(a, i, k), TILE)
                out += _pages(tile(b, k, j), TILE)
            out += _pages(tile(c, i, j), TILE, write=True)
    return out


def hotspot() -> list[str]:
    grids = [BASE, BASE + ROWS * ROW]
    out = ["# Hotspot stencil: 32 rows of 512KiB, two grids, four iterations, one access per 64KiB (written by make_traces.py)"]
    for it in range(4):
        src, dst = grids[it % 2], grids[(it + 1) % 2]
        for r in range(ROWS):
            for n in (r - 1, r, r + 1):
                if 0 <= n < ROWS:
                    out += _pages(src + n * ROW, ROW)
            out += _pages(dst + r * ROW, ROW, write=True)
    return out


def random_order() -> list[str]:
    rng = random.Random(1)
    out = ["# random accesses: every 64KiB of 48MiB in a random order, twice (written by make_traces.py)"]
    for _ in range(2):
        order = list(range(RANDOM_SIZE // STEP))
        rng.shuffle(order)
        out += [f"{BASE + i * STEP:#x}" for i in order]
    return out


TRACES = {"gemm.trace": gemm, "hotspot.trace": hotspot, "random.trace": random_order}


def main() -> None:
    for name, make in TRACES.items():
        (HERE / name).write_text("\n".join(make()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
