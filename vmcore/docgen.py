"""Pictures for the docs, drawn by vmcore from real runs: ``python -m vmcore.docgen docs/img``.

* ``fault-path-deadlock.svg`` — the wait-for cycle of the fault-path eviction deadlock
  (scenarios/03-fault-path-allocation.vms under ``evict-lru``), as the engine reports it;
* ``page-table-walk.svg`` — how the C core walks a 48-bit VA through PDB2, PDB1, PDB0
  and the PTB, with the entry index each level uses for a sample address.

A test regenerates them and compares, so the pictures cannot drift from the code.
"""

from __future__ import annotations

import io
import math
import re
import sys
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from vmcore.core import Level, PageTable, Pte

ROOT = Path(__file__).resolve().parent.parent


def _svg(width: int, height: int, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">'
    )
    defs = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>'
    )
    return "\n".join([head, defs, *body, "</svg>"]) + "\n"


def cycle_svg(cycle: list[str], title: str) -> str:
    """Nodes of a wait-for cycle on a circle, each waiting for the next (red arrows)."""
    n = len(cycle)
    w, h = 760, 520
    cx, cy, r = w / 2, h / 2 + 10, 190
    pos = [
        (
            cx + r * math.cos(2 * math.pi * i / n - math.pi / 2),
            cy + r * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i in range(n)
    ]
    body = [f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for i in range(n):
        (x1, y1), (x2, y2) = pos[i], pos[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1.0
        sx, sy = x1 + dx / d * 40, y1 + dy / d * 22
        ex, ey = x2 - dx / d * 40, y2 - dy / d * 22
        body.append(
            f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="#c0392b" '
            'stroke-width="2" marker-end="url(#arrow)"/>'
        )
    for (x, y), name in zip(pos, cycle, strict=True):
        fence = name.startswith("fence ")
        tw = max(80, 7.4 * len(name) + 16)
        shape = (
            f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{tw / 2:.1f}" ry="16" fill="#fdf2e9" stroke="#c0392b"/>'
            if fence
            else f'<rect x="{x - tw / 2:.1f}" y="{y - 16:.1f}" width="{tw:.1f}" height="32" rx="4" fill="#eaf2f8" stroke="#c0392b"/>'
        )
        body.append(shape)
        body.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{escape(name)}</text>')
    body.append(
        f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle" fill="#555">each arrow: "waits for"</text>'
    )
    return _svg(w, h, body)


def walk_svg(va: int) -> str:
    """The four levels a walk of ``va`` goes through, with the index each one uses."""
    page = va & ~0xFFF
    with PageTable(root_addr=0x1000) as pt:
        pt.ensure(page, 1)
        pt.map(page, 1, 0x23_4000, Pte.READABLE | Pte.WRITEABLE)
        walk = pt.walk(va, Pte.READABLE)
        infos = []
        for level in Level:
            h = pt.lookup(level, va)
            assert h is not None
            infos.append((level, pt.info(h)))
    w, h = 820, 300
    body = [
        f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="14">'
        f"walk of VA {va:#x}: PDB2 -&gt; PDB1 -&gt; PDB0 -&gt; PTB -&gt; {walk.phys:#x}</text>"
    ]
    shifts = {Level.PDB2: 39, Level.PDB1: 30, Level.PDB0: 21, Level.PTB: 12}
    for i, (level, info) in enumerate(infos):
        x = 20 + i * 195
        idx = (va >> shifts[level]) & 0x1FF
        body.append(f'<rect x="{x}" y="60" width="170" height="150" rx="6" fill="#eaf2f8" stroke="#2e4053"/>')
        body.append(f'<text x="{x + 85}" y="82" text-anchor="middle" font-weight="bold">{level.name}</text>')
        body.append(
            f'<text x="{x + 85}" y="104" text-anchor="middle">VA bits {shifts[level] + 8}..{shifts[level]}</text>'
        )
        body.append(f'<text x="{x + 85}" y="126" text-anchor="middle">BO at {info.addr:#x}</text>')
        body.append(f'<rect x="{x + 15}" y="140" width="140" height="26" fill="#fdf2e9" stroke="#c0392b"/>')
        body.append(f'<text x="{x + 85}" y="158" text-anchor="middle">entry [{idx}]</text>')
        what = "PDE: next table" if level is not Level.PTB else "PTE: VALID|R|W"
        body.append(f'<text x="{x + 85}" y="190" text-anchor="middle" fill="#555">{what}</text>')
        if i < len(infos) - 1:
            body.append(
                f'<line x1="{x + 155}" y1="153" x2="{x + 210}" y2="153" stroke="#2e4053" stroke-width="2" marker-end="url(#arrow)"/>'
            )
    body.append(
        f'<text x="{w / 2}" y="250" text-anchor="middle">page offset {va & 0xFFF:#x}; '
        f"PTE = {walk.pte:#x} (address bits 47..12 | flags)</text>"
    )
    return _svg(w, h, body)


def deadlock_cycle() -> list[str]:
    from vmcore.dsl.compiler import Compiler
    from vmcore.hooks.manager import plugin_manager

    pm = plugin_manager(entry_points=False)
    items = Compiler(pm).compile_path(ROOT / "scenarios" / "03-fault-path-allocation.vms")
    item = next(c for c in items if c.name.endswith("deadlocks"))
    r = item.build(pm, {}).run()
    return r.deadlocks[0]


TUTORIAL_SWEEP = ("evict=lru,mru", "prefetch=none,sequential")
TUTORIAL_METRICS = ("faults", "migrations", "thrashed", "prefetched", "completion_time")


def _tutorial_rows() -> list[Any]:
    """The sweep docs/compare-tutorial.md runs: kmeans.vms, two eviction orders, two prefetchers."""
    from vmcore.cli.compare import sweep, sweep_choices
    from vmcore.dsl.compiler import Compiler
    from vmcore.hooks.manager import plugin_manager

    pm = plugin_manager(entry_points=False)
    items = Compiler(pm).compile_path(ROOT / "scenarios" / "workloads" / "kmeans.vms")
    return sweep(items, pm, sweep_choices(TUTORIAL_SWEEP, pm), [0], timeline=True)


def compare_table(rows: list[Any]) -> str:
    """The table ``vmcore compare`` prints for the tutorial's sweep, as plain text."""
    from rich.console import Console

    from vmcore.cli.compare import render

    console = Console(record=True, width=110, color_system=None, file=io.StringIO())
    render(rows, TUTORIAL_METRICS, console)
    return console.export_text()


def compare_pictures(rows: list[Any]) -> dict[str, str]:
    from vmcore.cli.plots import plot_bars, plot_timeline

    with tempfile.TemporaryDirectory() as tmp:
        bars, line = Path(tmp) / "bars.svg", Path(tmp) / "timeline.svg"
        plot_bars(str(bars), rows, list(TUTORIAL_METRICS[:3]))
        plot_timeline(str(line), rows)
        return {
            "compare-bars.svg": bars.read_text(encoding="utf-8"),
            "compare-timeline.svg": line.read_text(encoding="utf-8"),
        }


TABLE_BLOCK = re.compile(r"(<!-- generated: compare-table [^>]*-->\n```text\n)(.*?)(```\n<!-- end compare-table -->)", re.S)


def tutorial_text(text: str, table: str) -> str:
    """docs/compare-tutorial.md with its generated table replaced by ``table``."""
    return TABLE_BLOCK.sub(lambda m: m.group(1) + table + m.group(3), text)


def pictures() -> dict[str, str]:
    rows = _tutorial_rows()
    return {
        "fault-path-deadlock.svg": cycle_svg(
            deadlock_cycle(), "fault-path eviction under evict-lru: the wait-for cycle"
        ),
        "page-table-walk.svg": walk_svg(0x7F12_3456_7ABC),
        **compare_pictures(rows),
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in pictures().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    tutorial = ROOT / "docs" / "compare-tutorial.md"
    text = tutorial.read_text(encoding="utf-8")
    new = tutorial_text(text, compare_table(_tutorial_rows()))
    if new != text:
        tutorial.write_text(new, encoding="utf-8")
        print(f"wrote the table in {tutorial}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
