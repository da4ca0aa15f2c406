"""``vmcore fmt``: canonical formatting of .vms files, comments kept, idempotent.

Nodes are reprinted from the AST (literals as they were written); comments are found in
the source and put back: a comment on a line of its own goes before the next node, a
comment after code stays at the end of that node's line.  One blank line survives where
the source had any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmcore.dsl import ast
from vmcore.dsl.errors import source_lines
from vmcore.dsl.parser import parse

INDENT = "    "
_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


@dataclass
class _Comments:
    own: dict[int, str]
    trailing: dict[int, str]
    blank: set[int]


def _scan(text: str) -> _Comments:
    own: dict[int, str] = {}
    trailing: dict[int, str] = {}
    blank: set[int] = set()
    for n, line in enumerate(source_lines(text), 1):  # numbered as the parser does
        if not line.strip():
            blank.add(n)
            continue
        for m in _COMMENT.finditer(line):
            if m.group(1):
                comment = m.group(1).rstrip()
                if line[: m.start()].strip():
                    trailing[n] = comment
                else:
                    own[n] = comment
                break
    return _Comments(own, trailing, blank)


class _Printer:
    def __init__(self, comments: _Comments) -> None:
        self.c = comments
        self.out: list[str] = []
        self.done: set[int] = set()
        self.prev_end = 0

    def _flush(self, upto: int, indent: str) -> None:
        """Comments before source line ``upto`` not yet printed, each on a line of its own,
        with a blank line where there was one.

        Besides own-line comments, that is every trailing comment no printed node took: one
        inside a block printed on one line (``process P on G {`` over several lines), or
        after a lone ``;``.  Those used to be dropped.
        """
        pending = {**self.c.trailing, **self.c.own}
        for ln in sorted(k for k in pending if k < upto and k not in self.done):
            self._blank_before(ln, indent)
            self.out.append(f"{indent}{pending[ln]}".rstrip())
            self.done.add(ln)
            self.prev_end = max(self.prev_end, ln)

    def _blank_before(self, line: int, indent: str) -> None:
        gap = self.prev_end and any(self.prev_end < b < line for b in self.c.blank)
        if gap and self.out and self.out[-1] != "" and not self.out[-1].endswith("{"):
            self.out.append("")

    def emit(self, line: int, indent: str, text: str, end: int | None = None) -> None:
        self._flush(line, indent)
        if line:
            self._blank_before(line, indent)
        trail = self.c.trailing.get(line) if line else None
        if trail and line not in self.done:
            text = f"{text}  {trail}"
            self.done.add(line)
        self.out.append(f"{indent}{text}".rstrip())
        self.prev_end = max(self.prev_end, end or line)

    def close(self, end: int, indent: str, inner: str) -> None:
        self._flush(end, inner)
        trail = self.c.trailing.get(end)
        text = f"{indent}}}"
        if trail and end not in self.done:
            text += f"  {trail}"
            self.done.add(end)
        self.out.append(text)
        self.prev_end = max(self.prev_end, end)


def _v(v: ast.Val | None) -> str:
    return "" if v is None else (v.text or str(v.value))


def _node(n: ast.Node) -> str:
    """One statement on one line (blocks of svm and at are printed by the caller)."""
    if isinstance(n, ast.PolicyStmt):
        s = f"policy {n.family} = {_v(n.name)}"
        if n.params or n.has_parens:
            s += "(" + ", ".join(f"{k} = {_v(v)}" for k, v in n.params) + ")"
        return s
    if isinstance(n, ast.ExploreStmt):
        s = f"explore {_v(n.runs)}"
        if n.strategy:
            s += f" strategy {n.strategy}"
        if n.depth is not None:
            s += f" depth {_v(n.depth)}"
        return s
    if isinstance(n, ast.ProcessStmt):
        s = f"process {n.name} on {', '.join(n.gpus)}"
        if n.has_block:
            inner = "; ".join(f"{k} {'on' if v else 'off'}" for k, v in n.attrs)
            s += f" {{ {inner} }}" if inner else " {}"
        return s
    if isinstance(n, ast.SvmStmt):
        return f"svm {n.process} {_v(n.addr)} +{_v(n.size)} in {n.loc}"
    if isinstance(n, ast.BoStmt):
        s = f"bo {n.name} in {n.loc} size {_v(n.size)} owner {n.owner}"
        if n.pinned:
            s += " pinned"
        if n.contiguous:
            s += " contiguous"
        return s
    if isinstance(n, ast.MapStmt):
        return f"map {n.bo} into {n.process} at {_v(n.addr)}"
    if isinstance(n, ast.UnmapStmt):
        return f"unmap {n.bo} from {n.process}"
    if isinstance(n, ast.JobStmt):
        s = f"job {n.name} on {n.engine} by {n.by}"
        if n.touches:
            t = n.touches
            s += f" touches {_v(t.addr)} +{_v(t.size)}"
            if t.write:
                s += " write"
                if t.value is not None:
                    s += f" value {_v(t.value)}"
        if n.copies:
            s += f" copies {_v(n.copies.src)} +{_v(n.copies.size)} to {_v(n.copies.dst)}"
        if n.uses:
            s += " uses " + ", ".join(f"{b} write" if w else b for b, w in n.uses)
        if n.after:
            s += " after " + ", ".join(n.after)
        if n.takes is not None:
            s += f" takes {_v(n.takes)}"
        return s
    if isinstance(n, ast.CpuStmt):
        s = f"cpu {n.process} {n.op} {_v(n.addr)} +{_v(n.size)}"
        if n.value is not None:
            s += f" value {_v(n.value)}"
        return s
    if isinstance(n, ast.MigrateStmt):
        return f"migrate {n.process} {_v(n.addr)} +{_v(n.size)} to {n.loc}"
    if isinstance(n, ast.MunmapStmt):
        return f"munmap {n.process} {_v(n.addr)} +{_v(n.size)}"
    if isinstance(n, ast.EvictStmt):
        s = f"evict page tables of {n.process}"
        if n.gpu:
            s += f" on {n.gpu}"
        if n.addr is not None:
            s += f" at {_v(n.addr)}"
        return s
    if isinstance(n, ast.KillStmt):
        return f"kill {n.process}"
    if isinstance(n, ast.RunIdle):
        return "run until idle"
    if isinstance(n, ast.RunFor):
        return f"run for {_v(n.time)}"
    if isinstance(n, ast.ExpectStmt):
        return "expect " + _pred(n)
    raise TypeError(type(n).__name__)


def _pred(n: ast.ExpectStmt) -> str:
    p = n.pred
    k = p.kind
    neg = "not " if n.negate and not p.short else ""
    if k.startswith("no "):
        return k[3:] if p.short else f"{neg}{k}"
    a = p.args
    if k == "ring":
        return f"{neg}ring {a[0]} intact"
    if k in ("killed", "alive"):
        return f"{neg}{a[0]} {k}"
    if k in ("in", "reads"):
        addr, ext, proc, last = a
        s = f"{neg}{_v(addr)}"  # type: ignore[arg-type]
        if isinstance(ext, ast.Val):
            s += f" +{_v(ext)}"
        return s + f" of {proc} {k} {last if k == 'in' else _v(last)}"  # type: ignore[arg-type]
    if k == "resolved":
        addr, proc, gpu, within = a
        s = f"{neg}fault at {_v(addr)} of {proc}"  # type: ignore[arg-type]
        if gpu:
            s += f" on {gpu}"
        s += " resolved"
        if isinstance(within, ast.Val):
            s += f" within {_v(within)}"
        return s
    if k == "metric":
        return f"{neg}{a[0]} {a[1]} {_v(a[2])}"  # type: ignore[arg-type]
    return neg + " ".join(_v(x) if isinstance(x, ast.Val) else str(x) for x in a)


def _cond(c: ast.Cond | None) -> str:
    return "" if c is None else f" if {c.var} {c.op} {_v(c.value)}"


def _stmts(pr: _Printer, body: tuple[ast.Stmt, ...], indent: str) -> None:
    for st in body:
        n = st.node
        line = st.pos.line
        if isinstance(n, ast.AtStmt):
            pr.emit(line, indent, f"at {_v(n.time)} {{", line)
            _stmts(pr, n.body, indent + INDENT)
            pr.close(n.end, indent, indent + INDENT)
            if st.cond is not None:  # `at T { ... } if C`: the condition follows the block
                pr.out[-1] = pr.out[-1].replace("}", "}" + _cond(st.cond), 1)
            continue
        if isinstance(n, ast.SvmStmt) and n.has_block:
            pr.emit(line, indent, f"{_node(n)} {{", line)
            inner = indent + INDENT
            for a in n.attrs:
                pr.emit(a.pos.line, inner, _svm_attr(a), a.pos.line)
            pr.close(n.end, indent, inner)
            if st.cond is not None:
                pr.out[-1] = pr.out[-1].replace("}", "}" + _cond(st.cond), 1)
            continue
        pr.emit(line, indent, _node(n) + _cond(st.cond), st.end or line)


def _svm_attr(a: ast.SvmAttr) -> str:
    if a.name == "preferred":
        return f"preferred {a.loc}"
    if a.name in ("access", "in_place", "no_access"):
        return f"{a.name} {', '.join(a.gpus)}"
    if a.name == "granularity":
        return f"granularity {_v(a.size)}"
    return a.name


def format_file(f: ast.File, text: str) -> str:
    pr = _Printer(_scan(text))
    for item in f.items:
        if isinstance(item, ast.Use):
            pr.emit(item.pos.line, "", f'use "{item.path}"', item.pos.line)
        elif isinstance(item, ast.LinkDef):
            s = f"link {item.a} {item.b} {item.kind}"
            if item.bandwidth is not None:
                s += f" bandwidth {_v(item.bandwidth)}/s"
            if item.latency is not None:
                s += f" latency {_v(item.latency)}"
            pr.emit(item.pos.line, "", s, item.pos.line)
        elif isinstance(item, ast.GpuDef):
            pr.emit(item.pos.line, "", f"gpu {item.name} {{", item.pos.line)
            parts: list[tuple[int, str]] = []
            if item.vram is not None:
                parts.append((item.vram.pos.line, f"vram {_v(item.vram)}"))
            if item.gtt is not None:
                parts.append((item.gtt.pos.line, f"gtt {_v(item.gtt)}"))
            for e in item.engines:
                s = f"engine {e.name} {e.kind}"
                if e.retry:
                    s += " retry"
                if e.lock:
                    s += f" {e.lock}"
                parts.append((e.pos.line, s))
            for line, s in sorted(parts, key=lambda x: x[0]):
                pr.emit(line, INDENT, s, line)
            pr.close(item.end, "", INDENT)
        else:
            head = f"scenario {_quote(item.name)}"
            if item.loop_var:
                head += f" for {item.loop_var} in [{', '.join(_v(v) for v in item.loop_values)}]"
            pr.emit(item.pos.line, "", head + " {", item.pos.line)
            _stmts(pr, item.body, INDENT)
            pr.close(item.end, "", INDENT)
    pr._flush(10**9, "")
    return "\n".join(pr.out).strip("\n") + "\n"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical form of ``text`` (raises VmsError when it does not parse)."""
    return format_file(parse(text, path), text)
