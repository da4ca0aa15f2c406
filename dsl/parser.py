"""Parse .vms text into the typed AST (``dsl/ast.py``): a Lark LALR parser (contextual
lexer, positions propagated into the tree) and a transformer with one method per rule."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from vmcore.dsl import ast
from vmcore.dsl.errors import VmsError, source_lines, words_for
from vmcore.dsl.names import grammar_text
from vmcore.dsl.sources import MAX_VMS_BYTES, check_lines

U64 = (1 << 64) - 1
SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
TIME_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_NUM = re.compile(r"^(0x[0-9a-fA-F_]+|[0-9_]+)(.*)$")


_OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    "maybe_placeholders": False,
    # every rule's tree carries where its text starts and ends (keywords included), which
    # the transformer puts on the AST nodes: error messages point there
    "propagate_positions": True,
}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmcore"


@cache
def _lark() -> Lark:
    """The parser; its grammar analysis (most of `vmcore test` start-up) is cached on disk.

    Lark writes its cache file in place, so several processes starting at once (-n, CI
    jobs) could read one half written.  The cache is therefore named after the grammar and
    Lark version, written to a temporary file and renamed into place; any trouble with it
    falls back to building the parser from the grammar.
    """
    grammar = grammar_text()
    key = hashlib.sha256((grammar + lark.__version__ + repr(sorted(_OPTIONS.items()))).encode()).hexdigest()[
        :20
    ]
    final = _cache_dir() / f"vms-{key}.lark-cache"
    try:
        if final.is_file():
            return Lark(grammar, cache=str(final), **_OPTIONS)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".vms-", suffix=".tmp", dir=final.parent)
        os.close(fd)
        os.unlink(tmp)  # lark writes the file itself
        parser = Lark(grammar, cache=tmp, **_OPTIONS)
        os.replace(tmp, final)
        return parser
    except Exception:
        return Lark(grammar, **_OPTIONS)


class _Fail(ValueError):
    """A value error inside the transformer, at a token."""

    def __init__(self, message: str, line: int, col: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.hint = hint


def _p(meta: Any) -> ast.Pos:
    return ast.Pos(getattr(meta, "line", 0) or 0, getattr(meta, "column", 0) or 0)


def _end(meta: Any) -> int:
    return int(getattr(meta, "end_line", 0) or 0)


def _tp(tok: Token) -> ast.Pos:
    return ast.Pos(tok.line or 0, tok.column or 0)


def number(text: str, line: int = 0, col: int = 0) -> tuple[str, int]:
    """(kind, value) of an INT, SIZE or TIME literal; 64-bit overflow is an error at it."""
    m = _NUM.match(text)
    if m is None:
        raise _Fail(f"{text!r} is not a number", line, col)
    digits, unit = m.groups()
    digits = digits.replace("_", "")
    # Decimal is decimal even with leading zeros (`016MiB` is 16 MiB, as DESIGN's INT says):
    # int(x, 0) refused a leading zero (it would be octal in C), a ValueError past the
    # transformer, i.e. a Python traceback instead of a VmsError.
    n = int(digits[2:], 16) if digits.startswith("0x") else int(digits, 10)
    if unit == "":
        kind, v = "int", n
    elif unit in SIZE_UNITS:
        kind, v = "size", n * SIZE_UNITS[unit]
    elif unit in TIME_UNITS:
        kind, v = "time", n * TIME_UNITS[unit]
    else:
        raise _Fail(f"unknown unit {unit!r}", line, col)
    if v > U64:
        what = {"int": "number", "size": "size in bytes", "time": "time in ns"}[kind]
        raise _Fail(f"{text} does not fit in 64 bits (as a {what})", line, col)
    return kind, v


def _val(tok: Token) -> ast.Val:
    t = tok.type
    line, col = tok.line or 0, tok.column or 0
    pos = ast.Pos(line, col)
    if t in ("INT", "SIZE", "TIME"):
        kind, v = number(str(tok), line, col)
        return ast.Val(kind, v, str(tok), pos)
    if t == "DECIMAL":
        return ast.Val("decimal", float(str(tok).replace("_", "")), str(tok), pos)
    if t == "STRING":
        return ast.Val("str", _unquote(str(tok)), str(tok), pos)
    if t == "TRUE":
        return ast.Val("bool", True, "true", pos)
    if t == "FALSE":
        return ast.Val("bool", False, "false", pos)
    return ast.Val("name", str(tok), str(tok), pos)


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _names(items: list[Any]) -> tuple[str, ...]:
    return tuple(str(t) for t in items if isinstance(t, Token) and t.type == "NAME")


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """One method per grammar rule; each receives the rule's position (``meta``) and its
    children (named terminals and the rules' results; keywords are filtered out)."""

    # values
    def value(self, meta: Any, c: list[Token]) -> ast.Val:
        return _val(c[0])

    vstr = vint = vaddr = vsize = vtime = value

    def location(self, meta: Any, c: list[Token]) -> ast.Loc:
        if len(c) == 1:
            return ast.Loc(None, "system", _p(meta))
        return ast.Loc(str(c[0]), str(c[1]), _p(meta))

    # top level
    def start(self, meta: Any, c: list[Any]) -> ast.File:
        return ast.File(tuple(c))

    def use(self, meta: Any, c: list[Token]) -> ast.Use:
        return ast.Use(_unquote(str(c[0])), _p(meta))

    def vram(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("vram", c[0])

    def gtt(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("gtt", c[0])

    def engine(self, meta: Any, c: list[Token]) -> ast.EngineDef:
        retry = any(t.type == "RETRY" for t in c)
        lock = next((str(t) for t in c if t.type == "LOCK_MODE"), None)
        return ast.EngineDef(str(c[0]), str(c[1]), retry, lock, _p(meta))

    def gpu(self, meta: Any, c: list[Any]) -> ast.GpuDef:
        vram = gtt = None
        engines = []
        for item in c[1:]:
            if isinstance(item, ast.EngineDef):
                engines.append(item)
            elif item[0] == "vram":
                if vram is not None:
                    raise _Fail(f"gpu {c[0]} sets vram twice", item[1].pos.line, item[1].pos.col)
                vram = item[1]
            else:
                if gtt is not None:
                    raise _Fail(f"gpu {c[0]} sets gtt twice", item[1].pos.line, item[1].pos.col)
                gtt = item[1]
        return ast.GpuDef(str(c[0]), vram, gtt, tuple(engines), _p(meta), _end(meta))

    def bandwidth(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("bandwidth", c[0])

    def latency(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("latency", c[0])

    def link(self, meta: Any, c: list[Any]) -> ast.LinkDef:
        extra = dict(x for x in c[3:])
        return ast.LinkDef(
            str(c[0]), str(c[1]), str(c[2]), extra.get("bandwidth"), extra.get("latency"), _p(meta)
        )

    def loop(self, meta: Any, c: list[Any]) -> ast.Loop:
        return ast.Loop(str(c[0]), tuple(c[1:]), _p(meta))

    def for_clause(self, meta: Any, c: list[ast.Loop]) -> tuple[ast.Loop, ...]:
        seen: set[str] = set()
        for loop in c:
            if loop.var in seen:
                raise _Fail(f"loop variable {loop.var!r} is defined twice", loop.pos.line, loop.pos.col)
            seen.add(loop.var)
        return tuple(c)

    def scenario(self, meta: Any, c: list[Any]) -> ast.ScenarioDef:
        name = _unquote(str(c[0]))
        rest = c[1:]
        loops: tuple[ast.Loop, ...] = ()
        if rest and isinstance(rest[0], tuple):
            loops = rest[0]
            rest = rest[1:]
        return ast.ScenarioDef(name, loops, tuple(rest), _p(meta), _end(meta))

    def cond(self, meta: Any, c: list[Any]) -> ast.Cond:
        return ast.Cond(str(c[0]), str(c[1]), c[2], _p(meta))

    def stmt(self, meta: Any, c: list[Any]) -> ast.Stmt:
        cond = c[1] if len(c) > 1 else None
        return ast.Stmt(c[0], cond, _p(meta), _end(meta))

    # statements
    def param(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return (str(c[0]), c[1])

    def params(self, meta: Any, c: list[Any]) -> tuple[tuple[str, ast.Val], ...]:
        return tuple(c)

    def policy(self, meta: Any, c: list[Any]) -> ast.PolicyStmt:
        params: tuple[tuple[str, ast.Val], ...] = c[2] if len(c) > 2 else ()
        return ast.PolicyStmt(str(c[0]), c[1], params, len(c) > 2, _p(meta))

    def strategy(self, meta: Any, c: list[Token]) -> tuple[str, str]:
        return ("strategy", str(c[0]))

    def depth(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("depth", c[0])

    def explore(self, meta: Any, c: list[Any]) -> ast.ExploreStmt:
        extra = dict(c[1:])
        return ast.ExploreStmt(c[0], extra.get("strategy"), extra.get("depth"), _p(meta))

    def process_attr(self, meta: Any, c: list[Token]) -> tuple[str, bool]:
        return (str(c[0]), str(c[1]) == "on")

    def process_block(self, meta: Any, c: list[Any]) -> list[Any]:
        return c

    def process(self, meta: Any, c: list[Any]) -> ast.ProcessStmt:
        attrs: list[tuple[str, bool]] = []
        has_block = False
        if c and isinstance(c[-1], list):
            attrs = c[-1]
            has_block = True
            c = c[:-1]
        names = [str(t) for t in c]
        return ast.ProcessStmt(names[0], tuple(names[1:]), tuple(attrs), has_block, _p(meta), _end(meta))

    def preferred(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("preferred", loc=c[0], pos=_p(meta))

    def access(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("access", gpus=_names(c), pos=_p(meta))

    def in_place(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("in_place", gpus=_names(c), pos=_p(meta))

    def no_access(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("no_access", gpus=_names(c), pos=_p(meta))

    def granularity(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("granularity", size=c[0], pos=_p(meta))

    def readonly(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("readonly", pos=_p(meta))

    def exec(self, meta: Any, c: list[Any]) -> ast.SvmAttr:
        return ast.SvmAttr("exec", pos=_p(meta))

    def svm_block(self, meta: Any, c: list[Any]) -> list[Any]:
        return c

    def svm(self, meta: Any, c: list[Any]) -> ast.SvmStmt:
        attrs: list[ast.SvmAttr] = []
        has_block = len(c) > 4
        if has_block:
            attrs = c[4]
        return ast.SvmStmt(str(c[0]), c[1], c[2], c[3], tuple(attrs), has_block, _p(meta), _end(meta))

    def bo_flag(self, meta: Any, c: list[Token]) -> str:
        return str(c[0])

    def bo(self, meta: Any, c: list[Any]) -> ast.BoStmt:
        flags = c[4:]
        return ast.BoStmt(
            str(c[0]), c[1], c[2], str(c[3]), "pinned" in flags, "contiguous" in flags, _p(meta)
        )

    def map(self, meta: Any, c: list[Any]) -> ast.MapStmt:
        return ast.MapStmt(str(c[0]), str(c[1]), c[2], _p(meta))

    def unmap(self, meta: Any, c: list[Any]) -> ast.UnmapStmt:
        return ast.UnmapStmt(str(c[0]), str(c[1]), _p(meta))

    def write(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val | None]:
        # `write: "write" ...`: the literal is the named terminal WRITE (the same string),
        # so Lark keeps it like a named token
        v = [x for x in c if type(x) is not Token]
        return ("write", v[0] if v else None)

    def pattern(self, meta: Any, c: list[Token]) -> tuple[str, str, None]:
        return ("pattern", str(c[0]), None)

    def stride(self, meta: Any, c: list[Any]) -> tuple[str, str, ast.Val]:
        return ("pattern", "stride", c[0])

    def passes(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val]:
        return ("passes", c[0])

    def touches(self, meta: Any, c: list[Any]) -> ast.Touches:
        opts = {x[0]: x for x in c[2:]}
        w, pat, passes = opts.get("write"), opts.get("pattern"), opts.get("passes")
        return ast.Touches(
            c[0], c[1], w is not None, w[1] if w else None, _p(meta),
            pattern=pat[1] if pat else "sequential", explicit=pat is not None,
            stride=pat[2] if pat else None, passes=passes[1] if passes else None,
        )  # fmt: skip

    def accesses(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val, ast.Pos]:
        return ("accesses", c[0], _p(meta))

    def copies(self, meta: Any, c: list[Any]) -> ast.Copies:
        return ast.Copies(c[0], c[1], c[2], _p(meta))

    def use_item(self, meta: Any, c: list[Token]) -> tuple[str, bool, ast.Pos]:
        return (str(c[0]), len(c) > 1, _tp(c[0]))

    # `uses`, `after` and `takes` carry their position so that a repeated clause is
    # reported where it stands (it was reported at the start of the job)
    def uses(self, meta: Any, c: list[Any]) -> tuple[str, list[Any], ast.Pos]:
        return ("uses", c, _p(meta))

    def after(self, meta: Any, c: list[Token]) -> tuple[str, list[Any], ast.Pos]:
        return ("after", [(str(t), _tp(t)) for t in c], _p(meta))

    def takes(self, meta: Any, c: list[Any]) -> tuple[str, ast.Val, ast.Pos]:
        return ("takes", c[0], _p(meta))

    def job(self, meta: Any, c: list[Any]) -> ast.JobStmt:
        name, engine, by = (str(t) for t in c[:3])
        touches = copies = takes = accesses = None
        uses: list[Any] = []
        after: list[Any] = []
        seen: set[str] = set()
        for cl in c[3:]:
            key = type(cl).__name__ if not isinstance(cl, tuple) else cl[0]
            if key in seen:
                p = cl.pos if not isinstance(cl, tuple) else cl[2]
                raise _Fail(f"job {name} has two '{key.lower()}' clauses", p.line, p.col)
            seen.add(key)
            if isinstance(cl, ast.Touches):
                touches = cl
            elif isinstance(cl, ast.Copies):
                copies = cl
            elif cl[0] == "uses":
                uses = cl[1]
            elif cl[0] == "after":
                after = cl[1]
            elif cl[0] == "accesses":
                accesses = cl[1]
            else:
                takes = cl[1]
        return ast.JobStmt(
            name, engine, by, touches, copies,
            tuple((u[0], u[1]) for u in uses), tuple(a[0] for a in after), takes,
            _p(meta), _tp(c[1]), _tp(c[2]), tuple(a[1] for a in after), tuple(u[2] for u in uses),
            accesses,
        )  # fmt: skip

    def cpu(self, meta: Any, c: list[Any]) -> ast.CpuStmt:
        return ast.CpuStmt(str(c[0]), str(c[1]), c[2], c[3], c[4] if len(c) > 4 else None, _p(meta))

    def migrate(self, meta: Any, c: list[Any]) -> ast.MigrateStmt:
        return ast.MigrateStmt(str(c[0]), c[1], c[2], c[3], _p(meta))

    def munmap(self, meta: Any, c: list[Any]) -> ast.MunmapStmt:
        return ast.MunmapStmt(str(c[0]), c[1], c[2], _p(meta))

    def evict(self, meta: Any, c: list[Any]) -> ast.EvictStmt:
        gpu = next((str(x) for x in c[1:] if isinstance(x, Token)), None)
        addr = next((x for x in c[1:] if isinstance(x, ast.Val)), None)
        return ast.EvictStmt(str(c[0]), gpu, addr, _p(meta))

    def kill(self, meta: Any, c: list[Token]) -> ast.KillStmt:
        return ast.KillStmt(str(c[0]), _p(meta))

    def run_idle(self, meta: Any, c: list[Any]) -> ast.RunIdle:
        return ast.RunIdle(_p(meta))

    def run_for(self, meta: Any, c: list[Any]) -> ast.RunFor:
        return ast.RunFor(c[0], _p(meta))

    def at(self, meta: Any, c: list[Any]) -> ast.AtStmt:
        for s in c[1:]:
            if isinstance(s.node, ast.AtStmt):
                raise _Fail("at blocks do not nest", s.pos.line, s.pos.col)
        return ast.AtStmt(c[0], tuple(c[1:]), _p(meta), _end(meta))

    # expectations
    def expect(self, meta: Any, c: list[Any]) -> ast.ExpectStmt:
        negate = isinstance(c[0], Token) and c[0].type == "NOT"
        pred: ast.Pred = c[-1]
        if negate and pred.short:
            raise _Fail(
                f"'not' does not combine with the short form '{pred.kind[3:]}'",
                c[0].line or 0, c[0].column or 0,
                hint=f"write 'expect {pred.kind}' for the fix, 'expect {pred.kind[3:]}' for the bug",
            )  # fmt: skip
        if pred.short:
            negate = True
        return ast.ExpectStmt(negate, pred, _p(meta))

    @staticmethod
    def _check(tok: Token) -> str:
        return "no " + " ".join(str(tok).split())

    def no_pred(self, meta: Any, c: list[Token]) -> ast.Pred:
        return ast.Pred(self._check(c[0]), (), False, _p(meta))

    def short_pred(self, meta: Any, c: list[Token]) -> ast.Pred:
        return ast.Pred(self._check(c[0]), (), True, _p(meta))

    def proc_state(self, meta: Any, c: list[Token]) -> ast.Pred:
        return ast.Pred(str(c[1]), (str(c[0]),), False, _p(meta))

    def extent(self, meta: Any, c: list[Any]) -> ast.Val:
        v: ast.Val = c[0]
        return v

    def addr_int(self, meta: Any, c: list[Token]) -> ast.Val:
        return _val(c[0])

    def _addr_of(self, c: list[Any]) -> tuple[ast.Val, ast.Val | None, list[Any]]:
        addr = c[0] if isinstance(c[0], ast.Val) else _val(c[0])
        ext = None
        rest = c[1:]
        if rest and isinstance(rest[0], ast.Val):
            ext = rest[0]
            rest = rest[1:]
        return addr, ext, rest

    def place_pred(self, meta: Any, c: list[Any]) -> ast.Pred:
        addr, ext, rest = self._addr_of(c)
        return ast.Pred("in", (addr, ext, str(rest[0]), rest[1]), False, _p(meta))

    def reads_pred(self, meta: Any, c: list[Any]) -> ast.Pred:
        addr, ext, rest = self._addr_of(c)
        return ast.Pred("reads", (addr, ext, str(rest[0]), rest[1]), False, _p(meta))

    def fault_pred(self, meta: Any, c: list[Any]) -> ast.Pred:
        addr = c[0]
        proc = str(c[1])
        gpu = str(c[2]) if len(c) > 2 and isinstance(c[2], Token) else None
        within = c[-1] if isinstance(c[-1], ast.Val) and len(c) > 2 else None
        return ast.Pred("resolved", (addr, proc, gpu, within), False, _p(meta))

    def __default__(self, data: Any, c: list[Any], meta: Any) -> Any:
        """A predicate rule the AST's kinds build themselves (``ast.PRED_RULES``, such as
        ``ring_pred``); any other rule stays a tree for the rule above it."""
        kind = ast.PRED_RULES.get(str(data))
        if kind is None:
            return Tree(data, c, meta)
        return ast.Pred(kind, ast.KINDS[kind].args(c), False, _p(meta))

    def plugin_pred(self, meta: Any, c: list[Token]) -> ast.Pred:
        return ast.Pred("plugin", (str(c[0]), *(_val(t) for t in c[1:])), False, _p(meta))


def parse(text: str, path: str = "<string>") -> ast.File:
    """Parse .vms source into an AST; every problem is a :class:`VmsError` with a place."""
    if len(text) > MAX_VMS_BYTES:
        raise VmsError(f"{len(text):,} characters is more than a .vms file may hold ({MAX_VMS_BYTES:,})", path, 0, 0)
    check_lines(text, path)
    try:
        f: ast.File = _TO_AST.transform(_lark().parse(text))
    except UnexpectedInput as e:
        raise _syntax_error(e, text, path) from None
    except VisitError as e:
        inner = e.orig_exc
        if isinstance(inner, _Fail):
            raise VmsError(inner.message, path, inner.line, inner.col, text, hint=inner.hint) from None
        raise
    return ast.File(f.items, path)


_TO_AST = _ToAst()


@cache
def _literals() -> dict[str, str]:
    """The text of each anonymous keyword terminal (see ``words_for``)."""
    return {
        t.name: str(t.pattern.value)
        for t in _lark().terminals
        if t.name.startswith("__ANON") and t.pattern.type == "str"
    }


def _words(terminals: Iterable[str]) -> str:
    return words_for(terminals, _literals())


def _eof_pos(text: str) -> tuple[int, int]:
    """Just past the last character of the last line (a final newline ends that line)."""
    lines = source_lines(text.removesuffix("\n"))
    return len(lines), len(lines[-1]) + 1


def _syntax_error(e: UnexpectedInput, text: str, path: str) -> VmsError:
    line, col = e.line, e.column
    if isinstance(e, UnexpectedCharacters):
        at = e.pos_in_stream or 0
        ch = text[at] if at < len(text) else ""
        allowed = _words(e.allowed or ())
        what = "a newline" if ch == "\n" else repr(ch)
        return VmsError(f"unexpected character {what}", path, line, col, text, expected=allowed)
    if isinstance(e, UnexpectedEOF):
        line, col = _eof_pos(text)
        return VmsError("unexpected end of file", path, line, col, text, expected=_words(e.expected))
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = _words(e.accepts or e.expected)
    if tok.type == "$END":
        line, col = _eof_pos(text)
        return VmsError("unexpected end of file", path, line, col, text, expected=expected)
    line, col = tok.line or line, tok.column or col
    shown = repr(str(tok))
    hint = None
    if tok.type == "_SEP":
        # A separator is blanks, then `;`, a comment or a newline: say `;` or end of line
        # (it used to read "unexpected the end of the line", even for a `;`), and put the
        # caret on a `;` or `#` rather than on the blanks before it.
        body = str(tok).lstrip(" \t")
        if body[:1] in (";", "#"):
            col += len(str(tok)) - len(body)
        shown = "';'" if body[:1] == ";" else "end of line"
        if "';'" not in expected and "the end of the line" not in expected:
            hint = "the statement is incomplete"
    return VmsError(f"unexpected {shown}", path, line, col, text, expected=expected, hint=hint)
