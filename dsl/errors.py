"""Errors in .vms files: ``file:line:col: message``, the line, a caret, what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from vmcore.dsl.names import run_checks_phrase
from vmcore.errors import VmcoreError


class VmsError(VmcoreError):
    """A syntax or semantic error at a place in a .vms file."""

    def __init__(
        self,
        message: str,
        path: str = "<string>",
        line: int = 0,
        col: int = 0,
        source: str | None = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.col = col
        self.source = source
        self.expected = expected
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        out = [f"{self.path}:{self.line}:{self.col}: {self.message}"]
        if self.source is not None and self.line > 0:
            lines = source_lines(self.source)
            if 0 < self.line <= len(lines):
                text = lines[self.line - 1].expandtabs(1)
                out.append(f"    {text}")
                out.append("    " + " " * max(0, self.col - 1) + "^")
        if self.expected:
            out.append(f"expected {self.expected}")
        if self.hint:
            out.append(self.hint)
        return "\n".join(out)


def source_lines(text: str) -> list[str]:
    """The lines of ``text`` as the parser counts them: only ``\n`` ends a line.

    Not ``str.splitlines()``, which also breaks at ``\r``, form feeds, ``\x1c``-``\x1e``,
    ``\x85`` and ``\u2028``/``\u2029``: the grammar takes a form feed as a blank and a
    lone ``\r`` inside a string as a character, so those lines would be numbered apart
    from the parser's and an error would show (and the formatter move comments to) the
    wrong line.
    """
    return [ln.removesuffix("\r") for ln in text.split("\n")]


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a decimal such as 0.5",
    "SIZE": "a size such as 4KiB",
    "TIME": "a time such as 10us",
    "STRING": 'a string in "double quotes"',
    "_SEP": "the end of the line or ';'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "ENGINE_KIND": "an engine kind (gfx, compute, mm, sdma)",
    "LINK_KIND": "a link kind (xgmi, pcie)",
    "RETRY": "'retry'",
    "LOCK_MODE": "'locked' or 'lockless'",
    "STRATEGY": "a strategy (random, pct, dfs)",
    "PROCESS_FLAG": "retry_faults or prefill",
    "ON_OFF": "on or off",
    "SYSTEM": "'system'",
    "DOMAIN": "vram or gtt",
    "PINNED": "'pinned'",
    "CONTIGUOUS": "'contiguous'",
    "WRITE": "'write'",
    "CPU_OP": "reads or writes",
    "NOT": "'not'",
    "RUN_CHECK": f"a check ({run_checks_phrase()})",
    "PROC_STATE": "killed or alive",
    "METRIC_OP": "a comparison (==, !=, <, <=, >, >=)",
    "CMP": "== or !=",
    "$END": "the end of the file",
    "SLASH": "'/'",
}


def words_for(terminals: Iterable[str], literals: Mapping[str, str] | None = None) -> str:
    """Human words for a set of terminal names: keywords first, then kinds of token.

    ``literals`` gives the text of Lark's anonymous terminals (``__ANON_n``): Lark names a
    keyword that way when its upper-cased name is taken (``strategy``, ``size``) or is not
    a valid name (``/s``), and without it such a keyword would be missing from the list.
    """
    kws: list[str] = []
    others: list[str] = []
    for t in sorted(set(terminals)):
        if literals and t in literals:
            kws.append(f"'{literals[t]}'")
        elif t in TERMINAL_WORDS:
            others.append(TERMINAL_WORDS[t])
        elif t.startswith("__"):
            continue
        else:  # a keyword terminal, named by Lark after its text (AT for "at")
            kws.append(f"'{t.lower()}'")
    words = sorted(set(kws))
    rest = list(dict.fromkeys(others))
    # A long list is cut among the keywords only: cutting the whole list at 12 dropped
    # what matters most at the end of a block ("'}'", "the end of the line"), and the
    # statement keywords (16 of them) fit under the limit.
    if len(words) + len(rest) > 20:
        words = [*words[: max(4, 20 - len(rest))], "..."]
    items = words + rest
    if not items:
        return "something else"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
