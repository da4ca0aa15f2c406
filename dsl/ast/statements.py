"""Statement nodes of the .vms AST that act: jobs, CPU accesses, migration hints,
munmap, page-table eviction, kill, run, ``at`` blocks and expectations; and ``Stmt``, a
statement with its condition.

As in ``setup``: each node has its ``check``, ``build`` and ``format``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from vmcore.dsl.ast.predicates import Pred
from vmcore.dsl.ast.values import NOPOS, Cond, Loc, Pos, Val, text_of
from vmcore.engine import plan
from vmcore.engine.model import PAGE
from vmcore.engine.plan import MAX_PASSES

if TYPE_CHECKING:
    from vmcore.dsl.compiler import Checker
    from vmcore.engine import Scenario


@dataclass(frozen=True, slots=True)
class Touches:
    addr: Val
    size: Val
    write: bool
    value: Val | None
    pos: Pos = field(default=NOPOS, compare=False)
    pattern: str = "sequential"
    explicit: bool = field(default=False, compare=False)
    """``pattern`` was written (``pattern sequential`` prints back)."""
    stride: Val | None = None
    """The stride of ``pattern stride SIZE``."""
    passes: Val | None = None


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
    accesses: Val | None = None
    """``accesses "FILE"``: a recorded access list."""

    def check(self, c: Checker, top: bool) -> None:
        if self.name in c.jobs:
            raise c.err(f"job {self.name!r} is defined twice", self.pos)
        eng = c.topo.engines.get(self.engine)
        if eng is None:
            raise c.unknown("engine", self.engine, self.engine_pos, c.topo.engines)
        gpus = c.process(self.by, self.by_pos)
        if eng[0] not in gpus:
            raise c.err(
                f"job {self.name} runs on {self.engine} of {eng[0]}, but process {self.by} has no VM on {eng[0]} (it is on {', '.join(gpus)})",
                self.engine_pos,
            )
        if self.touches is not None:
            t = self.touches
            c.addr_range(t.addr, t.size)
            if t.value is not None:
                c.intval(t.value, "a value")
            if t.stride is not None:
                stride = c.sizeval(t.stride, "a stride")
                if stride <= 0 or stride % PAGE:
                    raise c.err(f"stride {stride:#x} is not a positive multiple of 4KiB", t.stride.pos)
            if t.passes is not None:
                n = c.intval(t.passes, "a number of passes")
                if not 1 <= n <= MAX_PASSES:
                    raise c.err(f"passes {n}: a walk repeats 1 to {MAX_PASSES:,} times", t.passes.pos)
        if self.accesses is not None:
            c.access_list(self.accesses)
        if self.copies is not None:
            c.addr_range(self.copies.src, self.copies.size)
            c.addr_range(self.copies.dst, self.copies.size)
        for (b, _), p in zip(self.uses, self.uses_pos or [self.pos] * len(self.uses), strict=False):
            if b not in c.bos:
                raise c.unknown("BO", b, p, c.bos)
        for a, p in zip(self.after, self.after_pos or [self.pos] * len(self.after), strict=False):
            if a not in c.jobs:
                raise c.unknown("job", a, p, c.jobs)
        if self.takes is not None:
            c.timeval(self.takes)
        c.jobs.add(self.name)

    def build(self, c: Checker, s: Scenario) -> None:
        t, cp = self.touches, self.copies
        s.add(
            plan.Job(
                self.name, self.engine, self.by,
                touches=(c.intval(t.addr), c.sizeval(t.size)) if t else None,
                write=bool(t and t.write),
                value=c.intval(t.value) if t and t.value is not None else 1,
                copies=(c.intval(cp.src), c.sizeval(cp.size), c.intval(cp.dst)) if cp else None,
                uses=self.uses, after=self.after,
                takes=c.timeval(self.takes) if self.takes is not None else 1000,
                pattern=t.pattern if t else "sequential",
                stride=c.sizeval(t.stride) if t and t.stride is not None else 0,
                passes=c.intval(t.passes) if t and t.passes is not None else 1,
                accesses=c.access_list(self.accesses) if self.accesses is not None else b"",
                line=self.pos.line,
            )
        )  # fmt: skip

    def format(self) -> str:
        s = f"job {self.name} on {self.engine} by {self.by}"
        if self.touches:
            t = self.touches
            s += f" touches {text_of(t.addr)} +{text_of(t.size)}"
            if t.stride is not None:
                s += f" pattern stride {text_of(t.stride)}"
            elif t.pattern != "sequential" or t.explicit:
                s += f" pattern {t.pattern}"
            if t.passes is not None:
                s += f" passes {text_of(t.passes)}"
            if t.write:
                s += " write"
                if t.value is not None:
                    s += f" value {text_of(t.value)}"
        if self.accesses is not None:
            s += f" accesses {text_of(self.accesses)}"
        if self.copies:
            s += f" copies {text_of(self.copies.src)} +{text_of(self.copies.size)} to {text_of(self.copies.dst)}"
        if self.uses:
            s += " uses " + ", ".join(f"{b} write" if w else b for b, w in self.uses)
        if self.after:
            s += " after " + ", ".join(self.after)
        if self.takes is not None:
            s += f" takes {text_of(self.takes)}"
        return s


@dataclass(frozen=True, slots=True)
class CpuStmt:
    process: str
    op: str
    addr: Val
    size: Val
    value: Val | None
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.process(self.process, self.pos)
        c.addr_range(self.addr, self.size)
        if self.value is not None:
            c.intval(self.value, "a value")

    def build(self, c: Checker, s: Scenario) -> None:
        value = c.intval(self.value) if self.value else 1
        addr, size = c.intval(self.addr), c.sizeval(self.size)
        s.add(plan.Cpu(self.process, self.op, addr, size, value, line=self.pos.line))

    def format(self) -> str:
        s = f"cpu {self.process} {self.op} {text_of(self.addr)} +{text_of(self.size)}"
        if self.value is not None:
            s += f" value {text_of(self.value)}"
        return s


@dataclass(frozen=True, slots=True)
class MigrateStmt:
    process: str
    addr: Val
    size: Val
    loc: Loc
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.process(self.process, self.pos)
        c.addr_range(self.addr, self.size)
        c.loc(self.loc)
        if self.loc.domain == "gtt":
            raise c.err("migrate takes GPU.vram or system", self.loc.pos)

    def build(self, c: Checker, s: Scenario) -> None:
        addr, size = c.intval(self.addr), c.sizeval(self.size)
        s.add(plan.Migrate(self.process, addr, size, str(self.loc), line=self.pos.line))

    def format(self) -> str:
        return f"migrate {self.process} {text_of(self.addr)} +{text_of(self.size)} to {self.loc}"


@dataclass(frozen=True, slots=True)
class MunmapStmt:
    process: str
    addr: Val
    size: Val
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.process(self.process, self.pos)
        c.addr_range(self.addr, self.size)

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.Munmap(self.process, c.intval(self.addr), c.sizeval(self.size), line=self.pos.line))

    def format(self) -> str:
        return f"munmap {self.process} {text_of(self.addr)} +{text_of(self.size)}"


@dataclass(frozen=True, slots=True)
class EvictStmt:
    process: str
    gpu: str | None
    addr: Val | None
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        gpus = c.process(self.process, self.pos)
        if self.gpu is not None:
            c.gpu(self.gpu, self.pos)
            if self.gpu not in gpus:
                raise c.err(f"process {self.process} has no VM on {self.gpu}", self.pos)
        if self.addr is not None:
            c.addr_range(self.addr, None)

    def build(self, c: Checker, s: Scenario) -> None:
        at = c.intval(self.addr) if self.addr is not None else None
        s.add(plan.EvictPageTables(self.process, self.gpu, at, line=self.pos.line))

    def format(self) -> str:
        s = f"evict page tables of {self.process}"
        if self.gpu:
            s += f" on {self.gpu}"
        if self.addr is not None:
            s += f" at {text_of(self.addr)}"
        return s


@dataclass(frozen=True, slots=True)
class KillStmt:
    process: str
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.process(self.process, self.pos)

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.Kill(self.process, line=self.pos.line))

    def format(self) -> str:
        return f"kill {self.process}"


@dataclass(frozen=True, slots=True)
class RunIdle:
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.ran = True

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.RunIdle(line=self.pos.line))

    def format(self) -> str:
        return "run until idle"


@dataclass(frozen=True, slots=True)
class RunFor:
    time: Val
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        c.ran = True
        c.timeval(self.time)

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.RunFor(c.timeval(self.time), line=self.pos.line))

    def format(self) -> str:
        return f"run for {text_of(self.time)}"


@dataclass(frozen=True, slots=True)
class AtStmt:
    time: Val
    body: tuple[Stmt, ...]
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""

    def check(self, c: Checker, top: bool) -> None:
        c.timeval(self.time)
        c.body(self.body, top=False)

    def build(self, c: Checker, s: Scenario) -> None:
        with s.at(c.timeval(self.time)):
            for st in self.body:
                if st.cond is None or c.cond(st.cond):
                    st.node.build(c, s)

    def format(self) -> str:
        return f"at {text_of(self.time)} {{"


@dataclass(frozen=True, slots=True)
class ExpectStmt:
    negate: bool
    pred: Pred
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        self.pred.check(c)

    def build(self, c: Checker, s: Scenario) -> None:
        self.pred.build(c, s, self.negate, self.pos.line)

    def format(self) -> str:
        return "expect " + self.pred.format(self.negate)


class Node(Protocol):
    """A statement node: it checks itself (``top``: directly in the scenario, not in an
    ``at`` block), adds its plan statements to the scenario, and prints itself as the
    formatter writes it. Every statement class here and in ``setup`` is one."""

    @property
    def pos(self) -> Pos: ...

    def check(self, c: Checker, top: bool) -> None: ...

    def build(self, c: Checker, s: Scenario) -> None: ...

    def format(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Stmt:
    """A statement with its optional ``if`` condition."""

    node: Node
    cond: Cond | None = None
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""


__all__ = ["AtStmt", "Copies", "CpuStmt", "EvictStmt", "ExpectStmt", "JobStmt", "KillStmt", "MigrateStmt", "MunmapStmt", "Node", "RunFor", "RunIdle", "Stmt", "Touches"]
