"""The top of the .vms AST: a file of ``use``, ``gpu``, ``link`` and ``scenario`` items."""

from __future__ import annotations

from dataclasses import dataclass, field

from vmcore.dsl.ast.statements import Stmt
from vmcore.dsl.ast.values import NOPOS, Pos, Val


@dataclass(frozen=True, slots=True)
class Use:
    path: str
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class EngineDef:
    name: str
    kind: str
    retry: bool
    lock: str | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class GpuDef:
    name: str
    vram: Val | None
    gtt: Val | None
    engines: tuple[EngineDef, ...]
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class LinkDef:
    a: str
    b: str
    kind: str
    bandwidth: Val | None
    latency: Val | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Loop:
    """``VAR in [VALUE, ...]`` of a scenario's ``for``."""

    var: str
    values: tuple[Val, ...]
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ScenarioDef:
    name: str
    loops: tuple[Loop, ...]
    """The ``for`` loops; the scenario runs once per combination of their values."""
    body: tuple[Stmt, ...]
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class File:
    items: tuple[Use | GpuDef | LinkDef | ScenarioDef, ...]
    path: str = field(default="", compare=False)


__all__ = ["EngineDef", "File", "GpuDef", "LinkDef", "Loop", "ScenarioDef", "Use"]
