"""Compile a parsed .vms file into runnable scenarios of the engine's API.

Each scenario, and each value of its ``for`` loop, becomes one :class:`CompiledScenario`
with the test id ``file::name[value]``.  Names are checked here, in statement order,
with "did you mean" suggestions, so a scenario that compiles only fails at run time for
reasons the simulation itself finds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from vmcore.core.pool import MAX_BLOCKS, MIN_BLOCK
from vmcore.dsl import ast
from vmcore.dsl.accesses import read_accesses
from vmcore.dsl.errors import VmsError, did_you_mean
from vmcore.dsl.parser import parse
from vmcore.dsl.sources import (
    MAX_USE_DEPTH,
    MAX_VMS_BYTES,
    check_inside,
    read_regular,
    resolve,
    scenario_tree,
)
from vmcore.engine import Scenario
from vmcore.hooks.manager import policy_classes

VA_LIMIT = 1 << 48
POOL_MAX = MAX_BLOCKS * MIN_BLOCK
"""The largest VRAM or GTT pool the core's buddy allocator takes."""
PAGE = 4096


@dataclass(frozen=True, slots=True)
class ExplorePlan:
    runs: int
    strategy: str
    depth: int
    line: int


@dataclass
class CompiledScenario:
    """One runnable scenario instance: its id, where it is, and how to build it."""

    id: str
    name: str
    path: str
    line: int
    param: str | None
    explore: ExplorePlan | None
    build: Callable[..., Scenario]
    statements: int = 0
    policies: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        """The id without its file: `name[param]`, as `-k` and pytest name it."""
        return self.id.partition("::")[2]


@dataclass
class _Topology:
    gpus: dict[str, ast.GpuDef] = field(default_factory=dict)
    engines: dict[str, tuple[str, ast.EngineDef]] = field(default_factory=dict)
    links: list[ast.LinkDef] = field(default_factory=list)


class Compiler:
    """Compiles files; ``pm`` supplies the policy names and plugin predicates known."""

    def __init__(
        self, pm: pluggy.PluginManager, allow: Iterable[str | Path] = (), collect_errors: bool = False
    ) -> None:
        self.pm = pm
        self.errors: list[VmsError] | None = [] if collect_errors else None
        """With ``collect_errors`` (``vmcore check``): the errors found so far.  A scenario
        with an error is left out and the next one is checked; inside a scenario, an
        ``expect`` with an error is recorded and the rest still checked (an ``expect``
        defines nothing a later statement needs), so every failing expectation is
        reported, not only the first of the file."""
        self.allow = [Path(a) for a in allow]
        """Directories beyond a scenario's project tree that ``use`` and ``accesses`` may read."""
        self.policies = policy_classes(pm)
        self.plugin_predicates: set[str] = set()
        for table in pm.hook.vmcore_expect_predicates():
            if table:
                self.plugin_predicates.update(table)
        self.access_lists: dict[str, bytes] = {}
        """Recorded access lists read so far, by resolved path."""
        self.used: dict[str, tuple[bytes, str, ast.File]] = {}
        """Files brought in by ``use``, parsed once per compiler: resolved path -> (bytes, text, AST)."""
        self.plugin_metrics: set[str] = set()
        for names in pm.hook.vmcore_metric_names():
            self.plugin_metrics.update(names or ())
        self.trees: list[Path] = []
        self.display = ""
        """The file part of the ids of the file being compiled."""

    # -- files ---------------------------------------------------------------------
    def compile_path(self, path: str | Path, display: str | None = None) -> list[CompiledScenario]:
        """Compile a file; ``display`` is the file part of its ids (default: its name; the
        command line gives the path relative to its root directory, as pytest's nodeid)."""
        p = Path(path)

        def fail(why: str) -> VmsError:
            return VmsError(why, str(p), 0, 0)

        raw = read_regular(str(p), MAX_VMS_BYTES, fail)
        return self.compile_text(_decode(raw, str(p)), str(p), display)

    def compile_text(self, text: str, path: str = "<string>", display: str | None = None) -> list[CompiledScenario]:
        f = parse(text, path)
        self.display = display or (Path(path).name if path != "<string>" else path)
        topo = _Topology()
        self.trees = [scenario_tree(path), *self.allow]
        top = [os.path.realpath(path)] if path != "<string>" else []
        self._load_topology(f, text, path, topo, top, {})
        out: list[CompiledScenario] = []
        names: dict[str, int] = {}
        for item in f.items:
            if isinstance(item, ast.ScenarioDef):
                if item.name in names:
                    raise VmsError(
                        f"scenario {item.name!r} is defined twice (first on line {names[item.name]})",
                        path, item.pos.line, item.pos.col, text,
                    )  # fmt: skip
                names[item.name] = item.pos.line
                if self.errors is None:
                    out += self._scenario(item, topo, text, path)
                    continue
                try:
                    out += self._scenario(item, topo, text, path)
                except VmsError as e:
                    self.errors.append(e)
        return out

    def _used_file(self, item: ast.Use, text: str, path: str, stack: list[str]) -> tuple[str, str, ast.File]:
        """The file a ``use`` names, read and parsed (once per compiler): its resolved
        path, text and AST.  Only a regular ``.vms`` file inside the scenario's tree."""

        def fail(why: str, hint: str | None = None) -> VmsError:
            return VmsError(f"cannot use {item.path!r}: {why}", path, item.pos.line, item.pos.col, text, hint=hint)

        if "\x00" in item.path:  # the OS cannot even look such a path up
            raise fail("a path may not contain a NUL character")
        if len(stack) >= MAX_USE_DEPTH:
            raise fail(f"'use' nests more than {MAX_USE_DEPTH} files deep")
        base = Path(path).parent if path != "<string>" else Path.cwd()
        target = resolve(base, item.path)
        if target in stack:
            chain = " -> ".join([*(Path(s).name for s in stack), Path(target).name])
            raise VmsError(f"use cycle: {chain}", path, item.pos.line, item.pos.col, text)
        if not target.endswith(".vms"):
            raise fail("only .vms files can be used")
        check_inside(target, self.trees, fail)
        raw = read_regular(target, MAX_VMS_BYTES, fail)
        got = self.used.get(target)
        if got is not None and got[0] == raw:
            return target, got[1], got[2]
        # decoded here, not with read_text(): a used file that is not UTF-8 raised a
        # bare UnicodeDecodeError (a Python traceback) instead of a VmsError
        sub_text = _decode(raw, target, f"brought in by 'use' at {path}:{item.pos.line}")
        sub = parse(sub_text, target)
        for it in sub.items:
            if isinstance(it, ast.ScenarioDef):
                raise VmsError(
                    "a file brought in by 'use' may define only gpu and link",
                    target,
                    it.pos.line,
                    it.pos.col,
                    sub_text,
                )
        self.used[target] = (raw, sub_text, sub)
        return target, sub_text, sub

    def _load_topology(
        self, f: ast.File, text: str, path: str, topo: _Topology, stack: list[str], loaded: dict[str, bool]
    ) -> bool:
        """Add the gpus and links of ``f`` and of what it uses to ``topo``; returns whether
        any were added.  ``loaded`` (resolved path -> whether it added any) makes a file
        used twice without definitions of its own cost nothing the second time, so a
        diamond of ``use``s is linear, not exponential; one with definitions is still
        the "defined twice" error."""
        added = False
        for item in f.items:
            if isinstance(item, ast.Use):
                target, sub_text, sub = self._used_file(item, text, path, stack)
                if loaded.get(target) is False:
                    continue
                got = self._load_topology(sub, sub_text, target, topo, [*stack, target], loaded)
                loaded[target] = got
                added = added or got
            elif isinstance(item, ast.GpuDef):
                if item.name in topo.gpus:
                    raise VmsError(
                        f"GPU {item.name!r} is defined twice", path, item.pos.line, item.pos.col, text
                    )
                if item.vram is None:
                    raise VmsError(
                        f"gpu {item.name} needs a 'vram SIZE'", path, item.pos.line, item.pos.col, text
                    )
                for what, v in (("vram", item.vram), ("gtt", item.gtt)):
                    if v is None:
                        continue
                    n = self._size(v, text, path, {}, what="a memory size")
                    # checked here, not left to the run: `vram 0`, `gtt 6KiB` or `vram 1TiB`
                    # compiled and then every run failed with the core pool's own error
                    if n == 0 or n % PAGE:
                        raise VmsError(
                            f"{what} {v.text or n} must be a nonzero multiple of 4KiB",
                            path, v.pos.line, v.pos.col, text,
                        )  # fmt: skip
                    if n > POOL_MAX:
                        raise VmsError(
                            f"{what} {v.text or n} is larger than a memory pool can be ({POOL_MAX >> 30}GiB)",
                            path, v.pos.line, v.pos.col, text,
                        )  # fmt: skip
                topo.gpus[item.name] = item
                added = True
                for eng in item.engines:
                    if eng.name in topo.engines:
                        raise VmsError(
                            f"engine {eng.name!r} is defined twice", path, eng.pos.line, eng.pos.col, text
                        )
                    topo.engines[eng.name] = (item.name, eng)
            elif isinstance(item, ast.LinkDef):
                for g in (item.a, item.b):
                    if g not in topo.gpus:
                        raise VmsError(
                            f"unknown GPU {g!r}",
                            path,
                            item.pos.line,
                            item.pos.col,
                            text,
                            hint=did_you_mean(g, topo.gpus),
                        )
                topo.links.append(item)
                added = True
        return added

    # -- scenarios -----------------------------------------------------------------
    def _scenario(self, sc: ast.ScenarioDef, topo: _Topology, text: str, path: str) -> list[CompiledScenario]:
        names = [loop.var for loop in sc.loops]
        out = []
        # the cross product of the loops, the first loop outermost
        for combo in itertools.product(*(loop.values for loop in sc.loops)):
            env = dict(zip(names, combo, strict=True))
            ctx = Checker(self, topo, text, path, env, sc)
            before = len(self.errors or ())
            ctx.check()
            if self.errors is not None and len(self.errors) > before:
                continue  # an expectation had an error: recorded, and no scenario made
            pid = f"{self.display}::{sc.name}"
            shown = None
            if combo:
                # ids show values as written (true, 4KiB), strings without their quotes
                shown = "-".join(str(v.value) if v.kind == "str" else (v.text or str(v.value)) for v in combo)
                pid += f"[{shown}]"
            out.append(
                CompiledScenario(
                    pid, sc.name, path, sc.pos.line, shown, ctx.explore,
                    _Builder(ctx), ctx.count, {k: str(x.value) for k, x in ctx.policy_names.items()},
                )
            )  # fmt: skip
        return out

    def _size(self, v: ast.Val, text: str, path: str, env: dict[str, ast.Val], what: str = "a size") -> int:
        r = _resolve(v, env, text, path)
        if r.kind not in ("size", "int") or not isinstance(r.value, int):
            raise VmsError(f"expected {what}, got {v.text or v.value!r}", path, v.pos.line, v.pos.col, text)
        return r.value


def _decode(raw: bytes, path: str, hint: str | None = None) -> str:
    """The UTF-8 text of a file; otherwise a VmsError at the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        head = raw[: e.start]
        line = head.count(b"\n") + 1
        col = len(head[head.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise VmsError(
            f"the file is not UTF-8 ({e.reason} at byte {e.start})",
            path,
            line,
            col,
            raw.decode("utf-8", "replace"),
            hint=hint,
        ) from None


def _resolve(v: ast.Val, env: dict[str, ast.Val], text: str, path: str) -> ast.Val:
    if v.kind != "name":
        return v
    got = env.get(str(v.value))
    if got is None:
        loopvars = ", ".join(env) or "none"
        raise VmsError(
            f"unknown name {v.value!r} where a value is expected (loop variables: {loopvars})",
            path, v.pos.line, v.pos.col, text, hint=did_you_mean(str(v.value), env),
        )  # fmt: skip
    return got


class Checker:
    """Checks one scenario instance statement by statement, recording what the builder
    needs; statement nodes call back into it for names, values and ranges."""

    def __init__(
        self,
        comp: Compiler,
        topo: _Topology,
        text: str,
        path: str,
        env: dict[str, ast.Val],
        sc: ast.ScenarioDef,
    ) -> None:
        self.comp = comp
        self.topo = topo
        self.text = text
        self.path = path
        self.env = env
        self.sc = sc
        self.processes: dict[str, tuple[str, ...]] = {}
        self.bos: dict[str, tuple[ast.Loc, int]] = {}
        self.jobs: set[str] = set()
        self.explore: ExplorePlan | None = None
        self.ran = False
        self.count = 0
        self.policy_names: dict[str, ast.Val] = {}
        self.active: list[tuple[ast.Stmt, bool]] = []

    # errors and values
    def err(self, msg: str, pos: ast.Pos, hint: str | None = None, expected: str | None = None) -> VmsError:
        return VmsError(msg, self.path, pos.line, pos.col, self.text, expected=expected, hint=hint)

    def unknown(self, what: str, name: str, pos: ast.Pos, known: Iterable[str]) -> VmsError:
        known = list(known)
        hint = did_you_mean(name, known)
        listing = f" (known: {', '.join(sorted(known))})" if known and len(known) <= 12 else ""
        return self.err(f"unknown {what} {name!r}{listing}", pos, hint=hint)

    def val(self, v: ast.Val) -> ast.Val:
        return _resolve(v, self.env, self.text, self.path)

    def intval(self, v: ast.Val, what: str = "a number") -> int:
        r = self.val(v)
        if r.kind != "int" or not isinstance(r.value, int) or isinstance(r.value, bool):
            raise self.err(f"expected {what}, got {r.text or r.value!r}", v.pos)
        return r.value

    def sizeval(self, v: ast.Val, what: str = "a size") -> int:
        r = self.val(v)
        if r.kind not in ("size", "int") or isinstance(r.value, bool) or not isinstance(r.value, int):
            raise self.err(f"expected {what} such as 4KiB, got {r.text or r.value!r}", v.pos)
        return r.value

    def timeval(self, v: ast.Val) -> int:
        r = self.val(v)
        if r.kind != "time" or not isinstance(r.value, int):
            raise self.err(f"expected a time such as 10us, got {r.text or r.value!r}", v.pos)
        return r.value

    def addr_range(self, addr: ast.Val, size: ast.Val | None, page: bool = True) -> tuple[int, int]:
        a = self.intval(addr, "an address")
        n = self.sizeval(size) if size is not None else PAGE
        if a >= VA_LIMIT or a + n > VA_LIMIT:
            raise self.err(
                f"range {a:#x} +{n:#x} ends past the 48-bit address space (0x1_0000_0000_0000)", addr.pos
            )
        if page and a % PAGE:
            raise self.err(f"address {a:#x} is not 4KiB aligned", addr.pos)
        if page and (n % PAGE or n == 0):
            raise self.err(f"size {n:#x} is not a positive multiple of 4KiB", size.pos if size else addr.pos)
        return a, n

    def access_list(self, v: ast.Val) -> bytes:
        """The packed access list of ``accesses "FILE"`` (read once per file and compiler)."""
        r = self.val(v)
        if r.kind != "str":
            raise self.err(f'an access list is a file name in "double quotes", got {r.text or r.value!r}', v.pos)
        base = Path(self.path).parent if self.path != "<string>" else Path.cwd()
        key = os.path.realpath(base / str(r.value))
        got = self.comp.access_lists.get(key)
        if got is None:
            got = read_accesses(
                str(r.value), base, (self.path, v.pos.line, v.pos.col, self.text), self.comp.trees
            )
            self.comp.access_lists[key] = got
        return got

    def gpu(self, name: str, pos: ast.Pos) -> ast.GpuDef:
        g = self.topo.gpus.get(name)
        if g is None:
            raise self.unknown("GPU", name, pos, self.topo.gpus)
        return g

    def loc(self, loc: ast.Loc) -> None:
        if loc.gpu is not None:
            self.gpu(loc.gpu, loc.pos)

    def process(self, name: str, pos: ast.Pos) -> tuple[str, ...]:
        p = self.processes.get(name)
        if p is None:
            raise self.unknown("process", name, pos, self.processes)
        return p

    # the walk
    def check(self) -> None:
        self.body(self.sc.body, top=True)

    def cond(self, c: ast.Cond) -> bool:
        """Does the ``if`` of a statement hold for this instance?"""
        if c.var not in self.env:
            loopvars = ", ".join(self.env) or "none: the scenario has no 'for'"
            raise self.err(
                f"unknown loop variable {c.var!r} (loop variables: {loopvars})",
                c.pos,
                hint=did_you_mean(c.var, self.env),
            )
        left = self.env[c.var]
        right = self.val(c.value)
        same = left.kind == right.kind and left.value == right.value
        return same if c.op == "==" else not same

    def body(self, body: tuple[ast.Stmt, ...], top: bool) -> None:
        """Check the statements of a body whose conditions hold (``top``: the scenario's own)."""
        for st in body:
            on = st.cond is None or self.cond(st.cond)
            if top:
                self.active.append((st, on))
            if on:
                self.count += 1
                if self.comp.errors is None or not isinstance(st.node, ast.ExpectStmt):
                    st.node.check(self, top)
                    continue
                try:
                    st.node.check(self, top)
                except VmsError as e:
                    if not any(str(e) == str(x) for x in self.comp.errors):  # once per loop instance
                        self.comp.errors.append(e)

    def set_explore(self, runs: int, strategy: str, depth: int, line: int) -> None:
        self.explore = ExplorePlan(runs, strategy, depth, line)


class _Builder:
    """Builds the engine Scenario for a checked scenario instance."""

    def __init__(self, ctx: Checker) -> None:
        self.ctx = ctx

    def __call__(
        self,
        pm: pluggy.PluginManager,
        overrides: dict[str, tuple[str, dict[str, Any]]] | None = None,
        **kw: Any,
    ) -> Scenario:
        c = self.ctx
        s = Scenario(c.sc.name, plugins=pm, **kw)
        for fam, (name, params) in (overrides or {}).items():
            s.policy(fam, name, **params)
        for g in c.topo.gpus.values():
            engines = [(e.name, e.kind, e.retry, e.lock == "locked") for e in g.engines]
            vram = c.sizeval(g.vram) if g.vram is not None else 0
            gtt = c.sizeval(g.gtt) if g.gtt is not None else 1 << 30
            s.gpu(g.name, vram, gtt, engines)
        for link in c.topo.links:
            bw = c.sizeval(link.bandwidth) if link.bandwidth is not None else 0
            lat = c.timeval(link.latency) if link.latency is not None else 0
            s.link(link.a, link.b, link.kind, bw, lat)
        for st, on in c.active:
            if on:
                st.node.build(c, s)
        return s


def compile_path(path: str | Path, pm: pluggy.PluginManager) -> list[CompiledScenario]:
    return Compiler(pm).compile_path(path)


def compile_text(text: str, pm: pluggy.PluginManager, path: str = "<string>") -> list[CompiledScenario]:
    return Compiler(pm).compile_text(text, path)
