"""The typed AST of a .vms file.

Every node keeps its source position (excluded from equality, so that a file and its
formatted version compare equal); literals keep the text they were written as.
Statement nodes (``setup``, ``statements``) and predicates (``predicates``) carry what
the language does with them: their checks, their plan and their text.
"""

from __future__ import annotations

from vmcore.dsl.ast.predicates import KINDS, Kind, Pred
from vmcore.dsl.ast.setup import (
    BoStmt,
    ExploreStmt,
    MapStmt,
    PolicyStmt,
    ProcessStmt,
    SvmAttr,
    SvmStmt,
    UnmapStmt,
)
from vmcore.dsl.ast.statements import (
    AtStmt,
    Copies,
    CpuStmt,
    EvictStmt,
    ExpectStmt,
    JobStmt,
    KillStmt,
    MigrateStmt,
    MunmapStmt,
    Node,
    RunFor,
    RunIdle,
    Stmt,
    Touches,
)
from vmcore.dsl.ast.top import EngineDef, File, GpuDef, LinkDef, ScenarioDef, Use
from vmcore.dsl.ast.values import NOPOS, Cond, Loc, Pos, Val, text_of

__all__ = [
    "KINDS",
    "NOPOS",
    "AtStmt",
    "BoStmt",
    "Cond",
    "Copies",
    "CpuStmt",
    "EngineDef",
    "EvictStmt",
    "ExpectStmt",
    "ExploreStmt",
    "File",
    "GpuDef",
    "JobStmt",
    "KillStmt",
    "Kind",
    "LinkDef",
    "Loc",
    "MapStmt",
    "MigrateStmt",
    "MunmapStmt",
    "Node",
    "PolicyStmt",
    "Pos",
    "Pred",
    "ProcessStmt",
    "RunFor",
    "RunIdle",
    "ScenarioDef",
    "Stmt",
    "SvmAttr",
    "SvmStmt",
    "Touches",
    "UnmapStmt",
    "Use",
    "Val",
    "text_of",
]
