"""Compile a parsed .vms file into runnable scenarios of the engine's API.

Each scenario, and each value of its ``for`` loop, becomes one :class:`CompiledScenario`
with the test id ``file::name[value]``.  Names are checked here, in statement order,
with "did you mean" suggestions, so a scenario that compiles only fails at run time for
reasons the simulation itself finds.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from vmcore.core.pool import MAX_BLOCKS, MIN_BLOCK
from vmcore.dsl import ast
from vmcore.dsl.errors import VmsError, did_you_mean
from vmcore.dsl.parser import parse
from vmcore.engine import Scenario
from vmcore.engine.checks import METRICS
from vmcore.plugins import policy_classes
from vmcore.policies import FAMILIES, PolicyError

VA_LIMIT = 1 << 48
POOL_MAX = MAX_BLOCKS * MIN_BLOCK
"""The largest VRAM or GTT pool the core's buddy allocator takes."""
PAGE = 4096
RUN_CHECKS = {
    "no deadlock",
    "no potential deadlock",
    "no stall",
    "no leaks",
    "no user fence on page tables",
    "no stale pte",
}


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

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.policies = policy_classes(pm)
        self.plugin_predicates: set[str] = set()
        for table in pm.hook.vmcore_expect_predicates():
            if table:
                self.plugin_predicates.update(table)
        self.plugin_metrics: set[str] = set()
        for names in pm.hook.vmcore_metric_names():
            self.plugin_metrics.update(names or ())

    # -- files ---------------------------------------------------------------------
    def compile_path(self, path: str | Path) -> list[CompiledScenario]:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as e:
            raise VmsError(f"cannot read the file: {e.strerror}", str(p), 0, 0) from None
        return self.compile_text(_decode(raw, str(p)), str(p))

    def compile_text(self, text: str, path: str = "<string>") -> list[CompiledScenario]:
        f = parse(text, path)
        topo = _Topology()
        self._load_topology(f, text, path, topo, [str(Path(path).resolve())] if path != "<string>" else [])
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
                out += self._scenario(item, topo, text, path)
        return out

    def _load_topology(self, f: ast.File, text: str, path: str, topo: _Topology, stack: list[str]) -> None:
        for item in f.items:
            if isinstance(item, ast.Use):
                base = Path(path).parent if path != "<string>" else Path.cwd()
                if "\x00" in item.path:  # the OS cannot even look such a path up
                    raise VmsError(
                        f"cannot use {item.path!r}: a path may not contain a NUL character",
                        path, item.pos.line, item.pos.col, text,
                    )  # fmt: skip
                target = (base / item.path).resolve()
                if str(target) in stack:
                    chain = " -> ".join([*(Path(s).name for s in stack), target.name])
                    raise VmsError(f"use cycle: {chain}", path, item.pos.line, item.pos.col, text)
                try:
                    raw = target.read_bytes()
                except OSError as e:
                    raise VmsError(
                        f"cannot use {item.path!r}: {e.strerror}", path, item.pos.line, item.pos.col, text
                    ) from None
                # decoded here, not with read_text(): a used file that is not UTF-8 raised a
                # bare UnicodeDecodeError (a Python traceback) instead of a VmsError
                sub_text = _decode(raw, str(target), f"brought in by 'use' at {path}:{item.pos.line}")
                sub = parse(sub_text, str(target))
                for it in sub.items:
                    if isinstance(it, ast.ScenarioDef):
                        raise VmsError(
                            "a file brought in by 'use' may define only gpu and link",
                            str(target),
                            it.pos.line,
                            it.pos.col,
                            sub_text,
                        )
                self._load_topology(sub, sub_text, str(target), topo, [*stack, str(target)])
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

    # -- scenarios -----------------------------------------------------------------
    def _scenario(self, sc: ast.ScenarioDef, topo: _Topology, text: str, path: str) -> list[CompiledScenario]:
        params: list[ast.Val | None] = list(sc.loop_values) if sc.loop_var else [None]
        out = []
        for v in params:
            env = {sc.loop_var: v} if sc.loop_var and v is not None else {}
            ctx = _Ctx(self, topo, text, path, env, sc)
            ctx.check()
            pid = f"{Path(path).name if path != '<string>' else path}::{sc.name}"
            shown = None
            if v is not None:
                # ids show values as written (true, 4KiB), strings without their quotes
                shown = str(v.value) if v.kind == "str" else (v.text or str(v.value))
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


class _Ctx:
    """Checks one scenario instance statement by statement, recording what the builder needs."""

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
        self._body(self.sc.body, top=True)

    def _cond(self, c: ast.Cond) -> bool:
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

    def _body(self, body: tuple[ast.Stmt, ...], top: bool) -> None:
        for st in body:
            on = st.cond is None or self._cond(st.cond)
            if top:
                self.active.append((st, on))
            if on:
                self.count += 1
                self._stmt(st.node, top)

    def _stmt(self, n: ast.Node, top: bool) -> None:
        if isinstance(n, ast.PolicyStmt):
            self._policy(n)
        elif isinstance(n, ast.ExploreStmt):
            if not top:
                raise self.err("explore cannot stand inside an 'at' block", n.pos)
            if self.explore is not None:
                raise self.err(f"explore appears twice (first on line {self.explore.line})", n.pos)
            if self.ran:
                raise self.err("explore must come before the first 'run'", n.pos)
            runs = self.intval(n.runs, "a number of schedules")
            if not 1 <= runs <= 1_000_000:
                raise self.err(f"explore {runs}: the number of schedules must be in 1..1000000", n.runs.pos)
            depth = self.intval(n.depth, "a depth") if n.depth is not None else 2
            if n.depth is not None and not 0 <= depth <= 64:
                raise self.err(f"depth {depth} must be in 0..64", n.depth.pos)
            self.explore = ExplorePlan(runs, n.strategy or "random", depth, n.pos.line)
        elif isinstance(n, ast.ProcessStmt):
            if n.name in self.processes:
                raise self.err(f"process {n.name!r} is defined twice", n.pos)
            for g in n.gpus:
                self.gpu(g, n.pos)
            seen = set()
            for flag, _ in n.attrs:
                if flag in seen:
                    raise self.err(f"process {n.name} sets {flag} twice", n.pos)
                seen.add(flag)
            self.processes[n.name] = n.gpus
        elif isinstance(n, ast.SvmStmt):
            gpus = self.process(n.process, n.pos)
            self.addr_range(n.addr, n.size)
            self.loc(n.loc)
            if n.loc.domain == "gtt":
                raise self.err("an svm range lives in system or GPU.vram (GTT is for BOs)", n.loc.pos)
            placed: dict[str, str] = {}
            for a in n.attrs:
                if a.loc is not None:
                    self.loc(a.loc)
                    if a.loc.domain == "gtt":
                        raise self.err("a preferred location is system or GPU.vram", a.loc.pos)
                if a.size is not None:
                    gran = self.sizeval(a.size)
                    if gran < PAGE or gran & (gran - 1):
                        raise self.err(
                            f"granularity {gran:#x} must be a power of two of at least 4KiB", a.size.pos
                        )
                for gname in a.gpus:
                    self.gpu(gname, a.pos)
                    if gname not in gpus:
                        raise self.err(f"process {n.process} has no VM on {gname}", a.pos)
                    if gname in placed and placed[gname] != a.name:
                        raise self.err(
                            f"{gname} is both in {placed[gname]} and in {a.name} (they are exclusive)", a.pos
                        )
                    placed[gname] = a.name
        elif isinstance(n, ast.BoStmt):
            if n.name in self.bos:
                raise self.err(f"BO {n.name!r} is defined twice", n.pos)
            self.loc(n.loc)
            size = self.sizeval(n.size)
            if size == 0:
                raise self.err("a BO needs a size above 0", n.size.pos)
            if n.loc.gpu is not None:
                gdef = self.topo.gpus[n.loc.gpu]
                pool = gdef.vram if n.loc.domain == "vram" else gdef.gtt
                cap = self.sizeval(pool) if pool is not None else 1 << 30
                if size > cap:
                    raise self.err(
                        f"BO {n.name} ({size} bytes) is larger than {n.loc} ({cap} bytes)", n.size.pos
                    )
            self.process(n.owner, n.pos)
            self.bos[n.name] = (n.loc, size)
        elif isinstance(n, ast.MapStmt | ast.UnmapStmt):
            if n.bo not in self.bos:
                raise self.unknown("BO", n.bo, n.pos, self.bos)
            self.process(n.process, n.pos)
            if isinstance(n, ast.MapStmt):
                self.addr_range(n.addr, ast.Val("int", self.bos[n.bo][1], pos=n.addr.pos))
        elif isinstance(n, ast.JobStmt):
            self._job(n)
        elif isinstance(n, ast.CpuStmt):
            self.process(n.process, n.pos)
            self.addr_range(n.addr, n.size)
            if n.value is not None:
                self.intval(n.value, "a value")
        elif isinstance(n, ast.MigrateStmt):
            self.process(n.process, n.pos)
            self.addr_range(n.addr, n.size)
            self.loc(n.loc)
            if n.loc.domain == "gtt":
                raise self.err("migrate takes GPU.vram or system", n.loc.pos)
        elif isinstance(n, ast.MunmapStmt):
            self.process(n.process, n.pos)
            self.addr_range(n.addr, n.size)
        elif isinstance(n, ast.EvictStmt):
            gpus = self.process(n.process, n.pos)
            if n.gpu is not None:
                self.gpu(n.gpu, n.pos)
                if n.gpu not in gpus:
                    raise self.err(f"process {n.process} has no VM on {n.gpu}", n.pos)
            if n.addr is not None:
                self.addr_range(n.addr, None)
        elif isinstance(n, ast.KillStmt):
            self.process(n.process, n.pos)
        elif isinstance(n, ast.RunIdle):
            self.ran = True
        elif isinstance(n, ast.RunFor):
            self.ran = True
            self.timeval(n.time)
        elif isinstance(n, ast.AtStmt):
            self.timeval(n.time)
            self._body(n.body, top=False)
        elif isinstance(n, ast.ExpectStmt):
            self._expect(n)

    def _policy(self, n: ast.PolicyStmt) -> None:
        if n.family not in FAMILIES:
            raise self.unknown("policy family", n.family, n.pos, FAMILIES)
        name = self.val(n.name)
        if name.kind != "str":
            raise self.err(
                f'a policy name is a string such as "no-wait", got {name.text or name.value!r}', n.name.pos
            )
        known = self.comp.policies[n.family]
        cls = known.get(str(name.value))
        if cls is None:
            raise self.unknown(f"{n.family} policy", str(name.value), n.name.pos, known)
        kwargs = {k: self._param(v) for k, v in n.params}
        try:
            cls(**kwargs)
        except PolicyError as e:
            raise self.err(str(e), n.pos) from None
        self.policy_names[n.family] = name

    def _param(self, v: ast.Val) -> Any:
        r = self.val(v)
        return r.value

    def _job(self, n: ast.JobStmt) -> None:
        if n.name in self.jobs:
            raise self.err(f"job {n.name!r} is defined twice", n.pos)
        eng = self.topo.engines.get(n.engine)
        if eng is None:
            raise self.unknown("engine", n.engine, n.engine_pos, self.topo.engines)
        gpus = self.process(n.by, n.by_pos)
        if eng[0] not in gpus:
            raise self.err(
                f"job {n.name} runs on {n.engine} of {eng[0]}, but process {n.by} has no VM on {eng[0]} (it is on {', '.join(gpus)})",
                n.engine_pos,
            )
        if n.touches is not None:
            self.addr_range(n.touches.addr, n.touches.size)
            if n.touches.value is not None:
                self.intval(n.touches.value, "a value")
        if n.copies is not None:
            self.addr_range(n.copies.src, n.copies.size)
            self.addr_range(n.copies.dst, n.copies.size)
        for (b, _), p in zip(n.uses, n.uses_pos or [n.pos] * len(n.uses), strict=False):
            if b not in self.bos:
                raise self.unknown("BO", b, p, self.bos)
        for a, p in zip(n.after, n.after_pos or [n.pos] * len(n.after), strict=False):
            if a not in self.jobs:
                raise self.unknown("job", a, p, self.jobs)
        if n.takes is not None:
            self.timeval(n.takes)
        self.jobs.add(n.name)

    def _expect(self, n: ast.ExpectStmt) -> None:
        p = n.pred
        k = p.kind
        if k in RUN_CHECKS:
            return
        if k == "ring":
            ring = str(p.args[0])
            sdma = [e for e, (_, d) in self.topo.engines.items() if d.kind == "sdma"]
            if ring not in sdma:
                raise self.unknown("ring (an sdma engine)", ring, p.pos, sdma)
        elif k in ("killed", "alive"):
            self.process(str(p.args[0]), p.pos)
        elif k in ("in", "reads"):
            addr, ext, proc, last = p.args
            assert isinstance(addr, ast.Val)
            self.addr_range(addr, ext if isinstance(ext, ast.Val) else None)
            self.process(str(proc), p.pos)
            if k == "in":
                assert isinstance(last, ast.Loc)
                self.loc(last)
                if last.domain == "gtt":
                    raise self.err(
                        "data is either in system or in GPU.vram (GTT pages count as system)", last.pos
                    )
            else:
                assert isinstance(last, ast.Val)
                self.intval(last, "a value")
        elif k == "resolved":
            addr, proc, gpu, within = p.args
            assert isinstance(addr, ast.Val)
            self.addr_range(addr, None, page=False)
            gpus = self.process(str(proc), p.pos)
            if gpu is not None:
                self.gpu(str(gpu), p.pos)
                # as for `evict ... on GPU`: a process faults only on the GPUs it has VMs on,
                # so this could never hold (and only fail at run time)
                if gpu not in gpus:
                    raise self.err(f"process {proc} has no VM on {gpu}", p.pos)
            if isinstance(within, ast.Val):
                self.timeval(within)
        elif k == "metric":
            name, _, value = p.args
            # The engine's metrics and those plugins name in `vmcore_metric_names`.  A plugin
            # *predicate* name was accepted here too, and the run then failed with a KeyError:
            # a predicate is no metric.
            if name not in METRICS and name not in self.comp.plugin_metrics:
                raise self.unknown("metric", str(name), p.pos, [*METRICS, *self.comp.plugin_metrics])
            assert isinstance(value, ast.Val)
            r = self.val(value)
            if r.kind not in ("int", "size", "time"):
                raise self.err(f"a metric compares with a number, got {r.text or r.value!r}", value.pos)
        elif k == "plugin":
            name = str(p.args[0])
            if name not in self.comp.plugin_predicates:
                # Suggest whole predicates ('stale pte', not 'stale'), and for a bare process
                # name say what it takes rather than "did you mean" that same name.
                words = {
                    "no": "no deadlock",
                    "deadlock": "deadlock",
                    "potential": "potential deadlock",
                    "stall": "stall",
                    "leaks": "leaks",
                    "user": "user fence on page tables",
                    "stale": "stale pte",
                    "ring": "ring R intact",
                    "fault": "fault at ADDR of P resolved",
                    **{m: f"{m} OP N" for m in METRICS},
                    **{pr: f"{pr} killed" for pr in self.processes},
                    **{pp: pp for pp in self.comp.plugin_predicates},
                }
                close = difflib.get_close_matches(name, sorted(words), n=1, cutoff=0.6)
                hint = f"did you mean {words[close[0]]!r}?" if close else None
                if name in self.processes and len(p.args) == 1:
                    hint = f"a process takes 'killed' or 'alive': 'expect {name} killed'"
                raise self.err(
                    f"unknown expectation {' '.join(str(a) for a in p.args)!r}",
                    p.pos,
                    hint=hint,
                    expected="no deadlock, no potential deadlock, no stall, no leaks, no user fence on page tables, "
                    "no stale pte, ring R intact, P killed, P alive, ADDR of P in LOC, ADDR of P reads V, "
                    "fault at ADDR of P resolved, METRIC OP N, or a plugin predicate",
                )


class _Builder:
    """Builds the engine Scenario for a checked scenario instance."""

    def __init__(self, ctx: _Ctx) -> None:
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
                self._emit(s, st.node)
        return s

    def _emit(self, s: Scenario, n: ast.Node) -> None:
        c = self.ctx
        line = n.pos.line
        if isinstance(n, ast.PolicyStmt):
            s.policy(n.family, str(c.val(n.name).value), line=line, **{k: c._param(v) for k, v in n.params})
        elif isinstance(n, ast.ProcessStmt):
            flags = dict(n.attrs)
            s.process(
                n.name, list(n.gpus), flags.get("retry_faults", True), flags.get("prefill", False), line=line
            )
        elif isinstance(n, ast.SvmStmt):
            attrs: dict[str, Any] = {}
            for a in n.attrs:
                if a.name == "preferred":
                    attrs["preferred"] = str(a.loc)
                elif a.name in ("access", "in_place", "no_access"):
                    attrs[a.name] = list(a.gpus)
                elif a.name == "granularity":
                    assert a.size is not None
                    attrs["granularity"] = c.sizeval(a.size)
                else:
                    attrs[a.name] = True
            s.svm(n.process, c.intval(n.addr), c.sizeval(n.size), str(n.loc), line=line, **attrs)
        elif isinstance(n, ast.BoStmt):
            s.bo(n.name, str(n.loc), c.sizeval(n.size), n.owner, n.pinned, n.contiguous, line=line)
        elif isinstance(n, ast.MapStmt):
            s.map(n.bo, n.process, c.intval(n.addr), line=line)
        elif isinstance(n, ast.UnmapStmt):
            s.unmap(n.bo, n.process, line=line)
        elif isinstance(n, ast.JobStmt):
            t = n.touches
            cp = n.copies
            s.job(
                n.name, n.engine, n.by,
                touches=(c.intval(t.addr), c.sizeval(t.size)) if t else None,
                write=bool(t and t.write),
                value=c.intval(t.value) if t and t.value is not None else 1,
                copies=(c.intval(cp.src), c.sizeval(cp.size), c.intval(cp.dst)) if cp else None,
                uses=list(n.uses), after=list(n.after),
                takes=c.timeval(n.takes) if n.takes is not None else 1000, line=line,
            )  # fmt: skip
        elif isinstance(n, ast.CpuStmt):
            s.cpu(
                n.process,
                n.op,
                c.intval(n.addr),
                c.sizeval(n.size),
                c.intval(n.value) if n.value else 1,
                line=line,
            )
        elif isinstance(n, ast.MigrateStmt):
            s.migrate(n.process, c.intval(n.addr), c.sizeval(n.size), str(n.loc), line=line)
        elif isinstance(n, ast.MunmapStmt):
            s.munmap(n.process, c.intval(n.addr), c.sizeval(n.size), line=line)
        elif isinstance(n, ast.EvictStmt):
            s.evict_page_tables(n.process, n.gpu, c.intval(n.addr) if n.addr is not None else None, line=line)
        elif isinstance(n, ast.KillStmt):
            s.kill(n.process, line=line)
        elif isinstance(n, ast.RunIdle):
            s.run_until_idle(line=line)
        elif isinstance(n, ast.RunFor):
            s.run_for(c.timeval(n.time), line=line)
        elif isinstance(n, ast.AtStmt):
            with s.at(c.timeval(n.time)):
                for st in n.body:
                    if st.cond is None or c._cond(st.cond):
                        self._emit(s, st.node)
        elif isinstance(n, ast.ExpectStmt):
            self._expect(s, n)

    def _expect(self, s: Scenario, n: ast.ExpectStmt) -> None:
        c = self.ctx
        p = n.pred
        line = n.pos.line
        k = p.kind
        if k in RUN_CHECKS:
            s.expect(k, negate=n.negate, line=line)
        elif k == "ring":
            s.expect("ring intact", str(p.args[0]), negate=n.negate, line=line)
        elif k in ("killed", "alive"):
            s.expect(k, str(p.args[0]), negate=n.negate, line=line)
        elif k in ("in", "reads"):
            addr, ext, proc, last = p.args
            assert isinstance(addr, ast.Val)
            a, size = c.addr_range(addr, ext if isinstance(ext, ast.Val) else None)
            other = str(last) if k == "in" else c.intval(last)  # type: ignore[arg-type]
            s.expect(k, a, size, str(proc), other, negate=n.negate, line=line)
        elif k == "resolved":
            addr, proc, gpu, within = p.args
            assert isinstance(addr, ast.Val)
            w = c.timeval(within) if isinstance(within, ast.Val) else None
            s.expect("resolved", c.intval(addr), str(proc), gpu, w, negate=n.negate, line=line)
        elif k == "metric":
            name, op, value = p.args
            assert isinstance(value, ast.Val)
            s.expect("metric", str(name), str(op), c.val(value).value, negate=n.negate, line=line)
        else:
            # A NAME argument is a loop variable only when there is one by that name; any
            # other name (`expect ring_quiet sdma0`) is passed as written.  Resolving every
            # name raised a VmsError here, at build time, for a scenario that had compiled.
            args = [
                p.args[0],
                *(
                    str(c.val(a).value) if isinstance(a, ast.Val) and (a.kind != "name" or a.value in c.env)
                    else str(a.value) if isinstance(a, ast.Val) else str(a)
                    for a in p.args[1:]
                ),
            ]  # fmt: skip
            s.expect("plugin", *args, negate=n.negate, line=line)


def compile_path(path: str | Path, pm: pluggy.PluginManager) -> list[CompiledScenario]:
    return Compiler(pm).compile_path(path)


def compile_text(text: str, pm: pluggy.PluginManager, path: str = "<string>") -> list[CompiledScenario]:
    return Compiler(pm).compile_text(text, path)
