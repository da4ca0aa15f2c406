"""Writes the recorded access lists the bundled workloads replay (``accesses "FILE"``).

Run ``python scenarios/workloads/make_traces.py`` after changing it; a test checks that
the files here are what it writes.

* ``gemm.trace``: a tiled matrix multiply C = A x B, as Rodinia/PolyBench GEMM walks
  it tile by tile: for each tile (i, j) of C, for each k, the tiles A(i, k) and B(k, j)
  are read; then C(i, j) is written. A, B and C are 4 x 4 tiles of 64KiB each (1MiB a
  matrix), one after the other from 0x4000_0000.
* ``hotspot.trace``: Rodinia's Hotspot stencil: a grid of 32 rows of 64KiB read into a
  second grid and back, four iterations; computing a row reads that row and its two
  neighbours in the source grid and writes the row in the destination grid.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = 0x4000_0000
PAGE = 4096
TILE = 64 * 1024
TILES = 4
ROWS = 32
ROW = 64 * 1024


def _pages(start: int, size: int, write: bool = False) -> list[str]:
    return [f"{start + i * PAGE:#x}{' w' if write else ''}" for i in range(size // PAGE)]


def gemm() -> list[str]:
    matrix = TILES * TILES * TILE
    a, b, c = BASE, BASE + matrix, BASE + 2 * matrix

    def tile(m: int, i: int, j: int) -> int:
        return m + (i * TILES + j) * TILE

    out = ["# tiled GEMM C = A x B: 4 x 4 tiles of 64KiB per matrix (written by make_traces.py)"]
    for i in range(TILES):
        for j in range(TILES):
            for k in range(TILES):
                out += _pages(tile(a, i, k), TILE)
                out += _pages(tile(b, k, j), TILE)
            out += _pages(tile(c, i, j), TILE, write=True)
    return out


def hotspot() -> list[str]:
    grids = [BASE, BASE + ROWS * ROW]
    out = ["# Hotspot stencil: 32 rows of 64KiB, two grids, four iterations (written by make_traces.py)"]
    for it in range(4):
        src, dst = grids[it % 2], grids[(it + 1) % 2]
        for r in range(ROWS):
            for n in (r - 1, r, r + 1):
                if 0 <= n < ROWS:
                    out += _pages(src + n * ROW, ROW)
            out += _pages(dst + r * ROW, ROW, write=True)
    return out


TRACES = {"gemm.trace": gemm, "hotspot.trace": hotspot}


def main() -> None:
    for name, make in TRACES.items():
        (HERE / name).write_text("\n".join(make()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
