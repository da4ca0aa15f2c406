"""The typed AST of a .vms file.

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
    """A literal: ``kind`` is int, size, time, str, bool or name (a loop variable)."""

    kind: str
    value: int | str | bool
    text: str = field(default="", compare=False)
    pos: Pos = field(default=NOPOS, compare=False)

    def __str__(self) -> str:
        return self.text or str(self.value)


@dataclass(frozen=True, slots=True)
class Loc:
    """``system``, ``GPU.vram`` or ``GPU.gtt``."""

    gpu: str | None
    domain: str
    pos: Pos = field(default=NOPOS, compare=False)

    def __str__(self) -> str:
        return "system" if self.gpu is None else f"{self.gpu}.{self.domain}"


# -- top level ----------------------------------------------------------------------
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
class Cond:
    var: str
    op: str
    value: Val
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Stmt:
    """A statement with its optional ``if`` condition."""

    node: Node
    cond: Cond | None = None
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class ScenarioDef:
    name: str
    loop_var: str | None
    loop_values: tuple[Val, ...]
    body: tuple[Stmt, ...]
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class File:
    items: tuple[Use | GpuDef | LinkDef | ScenarioDef, ...]
    path: str = field(default="", compare=False)


# -- statements ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PolicyStmt:
    family: str
    name: Val
    params: tuple[tuple[str, Val], ...]
    has_parens: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ExploreStmt:
    runs: Val
    strategy: str | None
    depth: Val | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ProcessStmt:
    name: str
    gpus: tuple[str, ...]
    attrs: tuple[tuple[str, bool], ...]
    has_block: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class SvmAttr:
    name: str
    """preferred, access, in_place, no_access, granularity, readonly or exec."""
    loc: Loc | None = None
    gpus: tuple[str, ...] = ()
    size: Val | None = None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class SvmStmt:
    process: str
    addr: Val
    size: Val
    loc: Loc
    attrs: tuple[SvmAttr, ...]
    has_block: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class BoStmt:
    name: str
    loc: Loc
    size: Val
    owner: str
    pinned: bool
    contiguous: bool
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class MapStmt:
    bo: str
    process: str
    addr: Val
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class UnmapStmt:
    bo: str
    process: str
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Touches:
    addr: Val
    size: Val
    write: bool
    value: Val | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Copies:
    src: Val
    size: Val
    dst: Val
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class JobStmt:
    name: str
    engine: str
    by: str
    touches: Touches | None
    copies: Copies | None
    uses: tuple[tuple[str, bool], ...]
    after: tuple[str, ...]
    takes: Val | None
    pos: Pos = field(default=NOPOS, compare=False)
    engine_pos: Pos = field(default=NOPOS, compare=False)
    by_pos: Pos = field(default=NOPOS, compare=False)
    after_pos: tuple[Pos, ...] = field(default=(), compare=False)
    uses_pos: tuple[Pos, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class CpuStmt:
    process: str
    op: str
    addr: Val
    size: Val
    value: Val | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class MigrateStmt:
    process: str
    addr: Val
    size: Val
    loc: Loc
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class MunmapStmt:
    process: str
    addr: Val
    size: Val
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class EvictStmt:
    process: str
    gpu: str | None
    addr: Val | None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class KillStmt:
    process: str
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class RunIdle:
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class RunFor:
    time: Val
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class AtStmt:
    time: Val
    body: tuple[Stmt, ...]
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


@dataclass(frozen=True, slots=True)
class Pred:
    """A predicate: ``kind`` is one of run checks (``no deadlock`` ...), ``ring``,
    ``killed``, ``alive``, ``in``, ``reads``, ``resolved``, ``metric`` or ``plugin``."""

    kind: str
    args: tuple[object, ...] = ()
    short: bool = False
    """Written in the short form (``deadlock`` for ``not no deadlock``)."""
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ExpectStmt:
    negate: bool
    pred: Pred
    pos: Pos = field(default=NOPOS, compare=False)


Node = (
    PolicyStmt
    | ExploreStmt
    | ProcessStmt
    | SvmStmt
    | BoStmt
    | MapStmt
    | UnmapStmt
    | JobStmt
    | CpuStmt
    | MigrateStmt
    | MunmapStmt
    | EvictStmt
    | KillStmt
    | RunIdle
    | RunFor
    | AtStmt
    | ExpectStmt
)
