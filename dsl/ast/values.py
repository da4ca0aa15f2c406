"""Positions, literals and locations: the leaves of the .vms AST.

Every node keeps its source position (excluded from equality, so that a file and its
formatted version compare equal).  Literal values keep the text they were written as,
so the formatter can reprint them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    col: int


NOPOS = Pos(0, 0)


@dataclass(frozen=True, slots=True)
class Val:
    """A literal: ``kind`` is int, decimal, size, time, str, bool or name (a loop variable)."""

    kind: str
    value: int | float | str | bool
    text: str = field(default="", compare=False)
    pos: Pos = field(default=NOPOS, compare=False)

    def __str__(self) -> str:
        return self.text or str(self.value)


def text_of(v: Val | None) -> str:
    """A literal as it was written ("" for none)."""
    return "" if v is None else (v.text or str(v.value))


@dataclass(frozen=True, slots=True)
class Loc:
    """``system``, ``GPU.vram`` or ``GPU.gtt``."""

    gpu: str | None
    domain: str
    pos: Pos = field(default=NOPOS, compare=False)

    def __str__(self) -> str:
        return "system" if self.gpu is None else f"{self.gpu}.{self.domain}"


@dataclass(frozen=True, slots=True)
class Cond:
    """``if VAR ==|!= VALUE`` after a statement."""

    var: str
    op: str
    value: Val
    pos: Pos = field(default=NOPOS, compare=False)

    def format(self) -> str:
        return f" if {self.var} {self.op} {text_of(self.value)}"


__all__ = ["NOPOS", "Cond", "Loc", "Pos", "Val", "text_of"]
