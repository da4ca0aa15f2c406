"""The extension builds, imports and answers."""

from __future__ import annotations

from vmcore.core import PageTable, Pte, WalkReason


def test_map_then_walk() -> None:
    with PageTable() as pt:
        pt.ensure(0x1000_0000, 4)
        pt.map(0x1000_0000, 4, phys=0x20_0000, flags=Pte.READABLE)
        w = pt.walk(0x1000_2000, Pte.READABLE)
        assert w.reason is WalkReason.OK
        assert w.phys == 0x20_2000
