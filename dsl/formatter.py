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


_v = ast.text_of


def _cond(c: ast.Cond | None) -> str:
    return "" if c is None else c.format()


def _stmts(pr: _Printer, body: tuple[ast.Stmt, ...], indent: str) -> None:
    for st in body:
        n = st.node
        line = st.pos.line
        if isinstance(n, ast.AtStmt):
            pr.emit(line, indent, n.format(), line)
            _stmts(pr, n.body, indent + INDENT)
            pr.close(n.end, indent, indent + INDENT)
            if st.cond is not None:  # `at T { ... } if C`: the condition follows the block
                pr.out[-1] = pr.out[-1].replace("}", "}" + _cond(st.cond), 1)
            continue
        if isinstance(n, ast.SvmStmt) and n.has_block:
            pr.emit(line, indent, f"{n.format()} {{", line)
            inner = indent + INDENT
            for a in n.attrs:
                pr.emit(a.pos.line, inner, a.format(), a.pos.line)
            pr.close(n.end, indent, inner)
            if st.cond is not None:
                pr.out[-1] = pr.out[-1].replace("}", "}" + _cond(st.cond), 1)
            continue
        pr.emit(line, indent, n.format() + _cond(st.cond), st.end or line)


def format_file(f: ast.File, text: str) -> str:
    pr = _Printer(_scan(text))
    for item in f.items:
        if isinstance(item, ast.Use):
            pr.emit(item.pos.line, "", f"use {_quote(item.path)}", item.pos.line)
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
            if item.loops:
                head += " for " + ", ".join(
                    f"{loop.var} in [{', '.join(_v(v) for v in loop.values)}]" for loop in item.loops
                )
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
