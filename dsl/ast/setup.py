"""Statement nodes of the .vms AST that set a scenario up: policies, exploration,
processes, SVM ranges, BOs and their mappings.

A statement node says, next to its fields, how the compiler checks it (``check``: names,
values and ranges, as a :class:`~vmcore.dsl.errors.VmsError` at the place), how it
becomes the engine's plan (``build``: statements added to the :class:`Scenario`), and how
the formatter prints it (``format``: one line; blocks are laid out by the formatter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmcore.dsl.ast.values import NOPOS, Loc, Pos, Val, text_of
from vmcore.engine import plan
from vmcore.hooks.policies import FAMILIES, PolicyError

if TYPE_CHECKING:
    from vmcore.dsl.compiler import Checker
    from vmcore.engine import Scenario

PAGE = 4096


@dataclass(frozen=True, slots=True)
class PolicyStmt:
    family: str
    name: Val
    params: tuple[tuple[str, Val], ...]
    has_parens: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        if self.family not in FAMILIES:
            raise c.unknown("policy family", self.family, self.pos, FAMILIES)
        name = c.val(self.name)
        if name.kind != "str":
            raise c.err(
                f'a policy name is a string such as "no-wait", got {name.text or name.value!r}', self.name.pos
            )
        known = c.comp.policies[self.family]
        cls = known.get(str(name.value))
        if cls is None:
            raise c.unknown(f"{self.family} policy", str(name.value), self.name.pos, known)
        kwargs = {k: c.val(v).value for k, v in self.params}
        try:
            cls(**kwargs)
        except PolicyError as e:
            raise c.err(str(e), self.pos) from None
        c.policy_names[self.family] = name

    def build(self, c: Checker, s: Scenario) -> None:
        params = {k: c.val(v).value for k, v in self.params}
        s.policy(self.family, str(c.val(self.name).value), line=self.pos.line, **params)

    def format(self) -> str:
        s = f"policy {self.family} = {text_of(self.name)}"
        if self.params or self.has_parens:
            s += "(" + ", ".join(f"{k} = {text_of(v)}" for k, v in self.params) + ")"
        return s


@dataclass(frozen=True, slots=True)
class ExploreStmt:
    runs: Val
    strategy: str | None
    depth: Val | None
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        if not top:
            raise c.err("explore cannot stand inside an 'at' block", self.pos)
        if c.explore is not None:
            raise c.err(f"explore appears twice (first on line {c.explore.line})", self.pos)
        if c.ran:
            raise c.err("explore must come before the first 'run'", self.pos)
        runs = c.intval(self.runs, "a number of schedules")
        if not 1 <= runs <= 1_000_000:
            raise c.err(f"explore {runs}: the number of schedules must be in 1..1000000", self.runs.pos)
        depth = c.intval(self.depth, "a depth") if self.depth is not None else 2
        if self.depth is not None and not 0 <= depth <= 64:
            raise c.err(f"depth {depth} must be in 0..64", self.depth.pos)
        c.set_explore(runs, self.strategy or "random", depth, self.pos.line)

    def build(self, c: Checker, s: Scenario) -> None:
        """Nothing to run: the exploration is the compiled scenario's (``CompiledScenario.explore``)."""

    def format(self) -> str:
        s = f"explore {text_of(self.runs)}"
        if self.strategy:
            s += f" strategy {self.strategy}"
        if self.depth is not None:
            s += f" depth {text_of(self.depth)}"
        return s


@dataclass(frozen=True, slots=True)
class ProcessStmt:
    name: str
    gpus: tuple[str, ...]
    attrs: tuple[tuple[str, bool], ...]
    has_block: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)
    end: int = field(default=0, compare=False)
    """Last source line."""

    def check(self, c: Checker, top: bool) -> None:
        if self.name in c.processes:
            raise c.err(f"process {self.name!r} is defined twice", self.pos)
        for g in self.gpus:
            c.gpu(g, self.pos)
        seen = set()
        for flag, _ in self.attrs:
            if flag in seen:
                raise c.err(f"process {self.name} sets {flag} twice", self.pos)
            seen.add(flag)
        c.processes[self.name] = self.gpus

    def build(self, c: Checker, s: Scenario) -> None:
        flags = dict(self.attrs)
        retry, prefill = flags.get("retry_faults", True), flags.get("prefill", False)
        s.add(plan.Process(self.name, self.gpus, retry, prefill, line=self.pos.line))

    def format(self) -> str:
        s = f"process {self.name} on {', '.join(self.gpus)}"
        if self.has_block:
            inner = "; ".join(f"{k} {'on' if v else 'off'}" for k, v in self.attrs)
            s += f" {{ {inner} }}" if inner else " {}"
        return s


@dataclass(frozen=True, slots=True)
class SvmAttr:
    name: str
    """preferred, access, in_place, no_access, granularity, readonly or exec."""
    loc: Loc | None = None
    gpus: tuple[str, ...] = ()
    size: Val | None = None
    pos: Pos = field(default=NOPOS, compare=False)

    def value(self, c: Checker) -> Any:
        """What the plan carries for it."""
        if self.name == "preferred":
            return str(self.loc)
        if self.name in ("access", "in_place", "no_access"):
            return self.gpus
        if self.name == "granularity":
            assert self.size is not None
            return c.sizeval(self.size)
        return True

    def format(self) -> str:
        if self.name == "preferred":
            return f"preferred {self.loc}"
        if self.name in ("access", "in_place", "no_access"):
            return f"{self.name} {', '.join(self.gpus)}"
        if self.name == "granularity":
            return f"granularity {text_of(self.size)}"
        return self.name


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

    def check(self, c: Checker, top: bool) -> None:
        gpus = c.process(self.process, self.pos)
        c.addr_range(self.addr, self.size)
        c.loc(self.loc)
        if self.loc.domain == "gtt":
            raise c.err("an svm range lives in system or GPU.vram (GTT is for BOs)", self.loc.pos)
        placed: dict[str, str] = {}
        for a in self.attrs:
            if a.loc is not None:
                c.loc(a.loc)
                if a.loc.domain == "gtt":
                    raise c.err("a preferred location is system or GPU.vram", a.loc.pos)
            if a.size is not None:
                gran = c.sizeval(a.size)
                if gran < PAGE or gran & (gran - 1):
                    raise c.err(f"granularity {gran:#x} must be a power of two of at least 4KiB", a.size.pos)
            for gname in a.gpus:
                c.gpu(gname, a.pos)
                if gname not in gpus:
                    raise c.err(f"process {self.process} has no VM on {gname}", a.pos)
                if gname in placed and placed[gname] != a.name:
                    raise c.err(
                        f"{gname} is both in {placed[gname]} and in {a.name} (they are exclusive)", a.pos
                    )
                placed[gname] = a.name

    def build(self, c: Checker, s: Scenario) -> None:
        attrs: dict[str, Any] = {a.name: a.value(c) for a in self.attrs}
        addr, size = c.intval(self.addr), c.sizeval(self.size)
        s.add(plan.Svm(self.process, addr, size, str(self.loc), tuple(attrs.items()), line=self.pos.line))

    def format(self) -> str:
        return f"svm {self.process} {text_of(self.addr)} +{text_of(self.size)} in {self.loc}"


@dataclass(frozen=True, slots=True)
class BoStmt:
    name: str
    loc: Loc
    size: Val
    owner: str
    pinned: bool
    contiguous: bool
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        if self.name in c.bos:
            raise c.err(f"BO {self.name!r} is defined twice", self.pos)
        c.loc(self.loc)
        size = c.sizeval(self.size)
        if size == 0:
            raise c.err("a BO needs a size above 0", self.size.pos)
        if self.loc.gpu is not None:
            gdef = c.topo.gpus[self.loc.gpu]
            pool = gdef.vram if self.loc.domain == "vram" else gdef.gtt
            cap = c.sizeval(pool) if pool is not None else 1 << 30
            if size > cap:
                raise c.err(
                    f"BO {self.name} ({size} bytes) is larger than {self.loc} ({cap} bytes)", self.size.pos
                )
        c.process(self.owner, self.pos)
        c.bos[self.name] = (self.loc, size)

    def build(self, c: Checker, s: Scenario) -> None:
        size = c.sizeval(self.size)
        s.add(
            plan.Bo(
                self.name, str(self.loc), size, self.owner, self.pinned, self.contiguous, line=self.pos.line
            )
        )

    def format(self) -> str:
        s = f"bo {self.name} in {self.loc} size {text_of(self.size)} owner {self.owner}"
        if self.pinned:
            s += " pinned"
        if self.contiguous:
            s += " contiguous"
        return s


@dataclass(frozen=True, slots=True)
class MapStmt:
    bo: str
    process: str
    addr: Val
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        if self.bo not in c.bos:
            raise c.unknown("BO", self.bo, self.pos, c.bos)
        c.process(self.process, self.pos)
        c.addr_range(self.addr, Val("int", c.bos[self.bo][1], pos=self.addr.pos))

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.Map(self.bo, self.process, c.intval(self.addr), line=self.pos.line))

    def format(self) -> str:
        return f"map {self.bo} into {self.process} at {text_of(self.addr)}"


@dataclass(frozen=True, slots=True)
class UnmapStmt:
    bo: str
    process: str
    pos: Pos = field(default=NOPOS, compare=False)

    def check(self, c: Checker, top: bool) -> None:
        if self.bo not in c.bos:
            raise c.unknown("BO", self.bo, self.pos, c.bos)
        c.process(self.process, self.pos)

    def build(self, c: Checker, s: Scenario) -> None:
        s.add(plan.Unmap(self.bo, self.process, line=self.pos.line))

    def format(self) -> str:
        return f"unmap {self.bo} from {self.process}"


__all__ = ["BoStmt", "ExploreStmt", "MapStmt", "PolicyStmt", "ProcessStmt", "SvmAttr", "SvmStmt", "UnmapStmt"]
