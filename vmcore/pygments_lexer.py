"""Syntax highlighting for the .vms scenario language.

``VmsLexer`` is a Pygments lexer (registered as the ``vms`` lexer through the
``pygments.lexers`` entry point); ``textmate_grammar()`` builds the TextMate grammar
that editors (VS Code, Sublime Text) read, which lives in ``dsl/vms.tmLanguage.json``.

Neither hard-codes the language's words: they come from ``dsl/vms.lark`` when this
module is imported, so a keyword added to the grammar is highlighted at once.

* a word written as a string literal in a rule (``"gpu"``, ``"touches"``, ``"for"``) is
  a *keyword*; the ones that open a top-level item or a statement (the first word of
  each alternative of ``_item`` and ``_statement``) are also *statement words*;
* a word or phrase of a named terminal that a rule refers to by name (``ENGINE_KIND:
  "gfx" | ...``, ``ON_OFF``, ``SYSTEM``, ``RUN_CHECK``'s ``potential deadlock``...) is a
  *constant*, a value the grammar names the kind of; a word that is both (``on``,
  ``vram``, ``write``) counts as a constant. ``NOT`` is the one named terminal that is an
  operator, not a value, and stays a keyword.

Numbers, strings, comments, operators and names are token classes, written here.
If the grammar cannot be read or built, the lexer still highlights those and leaves
every word a name.

Regenerate the TextMate grammar after changing the grammar's words::

    python -m vmcore.pygments_lexer > dsl/vms.tmLanguage.json
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark
from lark.exceptions import LarkError
from lark.grammar import Terminal
from lark.lexer import Pattern, PatternRE, PatternStr
from pygments.lexer import RegexLexer
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["VmsLexer", "Vocabulary", "grammar_text", "textmate_grammar", "vocabulary", "vocabulary_of"]

# -- reading the grammar's words ---------------------------------------------------------

# rules whose alternatives are the top-level items and the statements
_STATEMENT_RULES = ("_item", "_statement")
# named terminals whose words read as keywords although the grammar names them
_KEYWORD_TERMINALS = frozenset({"NOT"})

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_WORD_RE = re.compile(_WORD)
_PHRASE_RE = re.compile(rf"{_WORD}(?: {_WORD})*")
_LOOKAHEAD_RE = re.compile(r"\(\?![^()]*\)$")
# blanks between the words of a phrase: `[ \t]+` (the tab as an escape or a real tab),
# `\s+` or ` +`
_BLANKS_RE = re.compile(r"\[ (?:\\t|\t)\]\+|\\s\+| \+")
# how the highlighters write those blanks back
_BLANKS = r"[ \t]+"


@dataclass(frozen=True)
class Vocabulary:
    """The words of the grammar, by how they are highlighted.

    ``statements`` is a subset of ``keywords``; ``keywords`` and ``constants`` are
    disjoint. A constant may be a phrase of words separated by one space.
    """

    statements: frozenset[str]
    keywords: frozenset[str]
    constants: frozenset[str]

    @property
    def words(self) -> frozenset[str]:
        return self.keywords | self.constants


def grammar_text() -> str:
    """The text of the .vms grammar, ``dsl/vms.lark`` (installed as ``vmcore/dsl``)."""
    return resources.files("vmcore").joinpath("dsl", "vms.lark").read_text(encoding="utf-8")


def _strip_group(p: str) -> str:
    """``(?:a|b)`` or ``(a|b)`` -> ``a|b`` when the parentheses enclose the whole pattern."""
    while p.startswith("(") and p.endswith(")"):
        depth = 0
        for i, ch in enumerate(p):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i != len(p) - 1:
                return p  # the first group closes before the end: not one outer group
        p = p[3:-1] if p.startswith("(?:") else p[1:-1]
    return p


def _alternatives(pattern: Pattern) -> list[str] | None:
    """The words or phrases a terminal's pattern is made of, or None for a value pattern.

    ``"retry"`` gives ``retry``; ``"gfx" | "compute"`` (which Lark joins into
    ``(?:compute|gfx)``) gives both words; ``/(potential[ \\t]+deadlock|stall)(?!...)/``
    gives ``potential deadlock`` and ``stall``. Names, numbers, strings, separators and
    operators give ``None``.
    """
    if isinstance(pattern, PatternStr):
        return [pattern.value] if _WORD_RE.fullmatch(pattern.value) else None
    if not isinstance(pattern, PatternRE):
        return None
    body = _strip_group(_LOOKAHEAD_RE.sub("", pattern.value))
    alts = [_BLANKS_RE.sub(" ", a) for a in body.split("|")]
    if alts and all(_PHRASE_RE.fullmatch(a) for a in alts):
        return alts
    return None


def vocabulary_of(text: str) -> Vocabulary:
    """Sort the words of the grammar ``text`` (see the module's docstring)."""
    # Earley builds no parse tables: the cheapest way to have Lark compile the grammar
    # into its rules and terminals.
    parser = Lark(text, parser="earley", lexer="dynamic")
    patterns = {t.name: t.pattern for t in parser.terminals}
    literals: set[str] = set()
    named: set[str] = set()
    named_keywords: set[str] = set()
    first_words: dict[str, set[str]] = {}
    heads: set[str] = set()
    for rule in parser.rules:
        origin = rule.origin.name
        for i, sym in enumerate(rule.expansion):
            if not isinstance(sym, Terminal):
                if origin in _STATEMENT_RULES and len(rule.expansion) == 1:
                    heads.add(sym.name)
                continue
            words = _alternatives(patterns[sym.name])
            if not words:
                continue
            # a string written in a rule is filtered out of the tree; a terminal the rule
            # names is kept (`_NAME` terminals are filtered too, and read as literals)
            if sym.filter_out:
                literals.update(words)
                if i == 0:
                    first_words.setdefault(origin, set()).update(words)
            elif sym.name in _KEYWORD_TERMINALS:
                named_keywords.update(words)
            else:
                named.update(words)
    keywords = (literals - named) | named_keywords
    statements = set[str]().union(*(first_words.get(h, set()) for h in heads)) & keywords
    return Vocabulary(frozenset(statements), frozenset(keywords), frozenset(named - keywords))


@cache
def vocabulary() -> Vocabulary:
    """The words of ``dsl/vms.lark``; none if it cannot be read or built."""
    try:
        return vocabulary_of(grammar_text())
    except (OSError, LarkError) as exc:  # pragma: no cover - a broken install or grammar
        warnings.warn(f"vms highlighting without keywords: {exc}", RuntimeWarning, stacklevel=2)
        return Vocabulary(frozenset(), frozenset(), frozenset())


# -- token classes ------------------------------------------------------------------------

_END = r"(?![A-Za-z0-9_])"
_START = r"(?<![A-Za-z0-9_])"
_DEC = r"[0-9](?:_?[0-9])*"
_HEX = r"0x[0-9a-fA-F](?:_?[0-9a-fA-F])*"
# a size in bytes; a hexadecimal size needs a unit from KiB, since `B` is a hex digit
SIZE_UNITS_HEX = ("KiB", "MiB", "GiB", "TiB")
SIZE_UNITS = ("B", *SIZE_UNITS_HEX)
TIME_UNITS = ("ns", "us", "ms", "s")


def _either(alts: Iterable[str]) -> str:
    """``(?:a|b|...)``, longest first so a prefix never wins."""
    return "(?:" + "|".join(sorted(alts, key=lambda a: (-len(a), a))) + ")"


def _word_pattern(words: Iterable[str]) -> str:
    """A regex for whole words or phrases; a phrase takes any blanks between its words."""
    alts = [_BLANKS.join(re.escape(w) for w in phrase.split(" ")) for phrase in words]
    return _START + _either(alts) + _END if alts else r"(?!)"


def _lexer_tokens(vocab: Vocabulary) -> dict[str, list[Any]]:
    phrases = {c for c in vocab.constants if " " in c}
    return {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            (_HEX + _either(SIZE_UNITS_HEX + TIME_UNITS) + _END, Number.Hex),
            (_DEC + _either(SIZE_UNITS + TIME_UNITS) + _END, Number.Integer),
            (_HEX, Number.Hex),
            (_DEC, Number.Integer),
            (_word_pattern(phrases), Keyword.Constant),
            (_word_pattern(vocab.constants - phrases), Keyword.Constant),
            (_word_pattern(vocab.keywords), Keyword),
            (_WORD, Name),
            (r"/s", Operator),
            (r"==|!=|<=|>=|[<>=+.]", Operator),
            (r"[,;{}()\[\]]", Punctuation),
        ],
        "string": [
            (r'[^"\\\n]+', String.Double),
            (r"\\.", String.Escape),
            (r'"', String.Double, "#pop"),
            # a lone backslash at the end of the line; the newline ends the string
            (r"\\", Error),
        ],
    }


class VmsLexer(RegexLexer):
    """Pygments lexer for .vms scenario files."""

    name = "vms"
    aliases = ("vms", "vmcore")
    filenames = ("*.vms",)
    mimetypes = ("text/x-vms",)

    tokens = _lexer_tokens(vocabulary())


# -- TextMate -----------------------------------------------------------------------------


def _tm_string(name: str, content: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": name,
        "begin": '"',
        "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.vms"}},
        "end": '"|$',
        "endCaptures": {"0": {"name": "punctuation.definition.string.end.vms"}},
        "patterns": [{"include": "#escape"}],
    }
    if content:
        rule["contentName"] = content
    return rule


def _tm_number(digits: str, units: Iterable[str] | None, name: str) -> dict[str, Any]:
    if units is None:
        return {"name": name, "match": _START + digits}
    return {
        "name": name,
        "match": f"{_START}({digits})({_either(units)}){_END}",
        "captures": {"2": {"name": "keyword.other.unit.vms"}},
    }


def textmate_grammar(vocab: Vocabulary | None = None) -> dict[str, Any]:
    """The TextMate grammar of .vms (``dsl/vms.tmLanguage.json``) for ``vocab``."""
    v = vocab or vocabulary()
    others = v.keywords - v.statements
    repository: dict[str, Any] = {
        "comment": {
            "name": "comment.line.number-sign.vms",
            "match": "(#).*$",
            "captures": {"1": {"name": "punctuation.definition.comment.vms"}},
        },
        "escape": {"name": "constant.character.escape.vms", "match": r"\\."},
        "string": _tm_string("string.quoted.double.vms"),
        "number": {
            "patterns": [
                _tm_number(_HEX, SIZE_UNITS_HEX, "constant.numeric.size.hex.vms"),
                _tm_number(_DEC, SIZE_UNITS, "constant.numeric.size.decimal.vms"),
                _tm_number(_HEX, TIME_UNITS, "constant.numeric.time.hex.vms"),
                _tm_number(_DEC, TIME_UNITS, "constant.numeric.time.decimal.vms"),
                _tm_number(_HEX, None, "constant.numeric.integer.hex.vms"),
                _tm_number(_DEC, None, "constant.numeric.integer.decimal.vms"),
            ]
        },
        "constant": {"name": "constant.language.vms", "match": _word_pattern(v.constants)},
        "statement": {"name": "keyword.control.vms", "match": _word_pattern(v.statements)},
        "keyword": {"name": "keyword.other.vms", "match": _word_pattern(others)},
        # a name that is no keyword: consumed whole so no keyword or number inside it lights
        "name": {"match": _WORD},
        "operator": {
            "patterns": [
                {"name": "keyword.other.unit.rate.vms", "match": "/s"},
                {"name": "keyword.operator.comparison.vms", "match": "==|!=|<=|>=|<|>"},
                {"name": "keyword.operator.assignment.vms", "match": "="},
                {"name": "keyword.operator.arithmetic.vms", "match": r"\+"},
                {"name": "punctuation.accessor.vms", "match": r"\."},
            ]
        },
        "punctuation": {
            "patterns": [
                {"name": "punctuation.separator.comma.vms", "match": ","},
                {"name": "punctuation.terminator.statement.vms", "match": ";"},
                {"name": "punctuation.section.block.begin.vms", "match": r"\{"},
                {"name": "punctuation.section.block.end.vms", "match": r"\}"},
                {"name": "punctuation.section.parens.begin.vms", "match": r"\("},
                {"name": "punctuation.section.parens.end.vms", "match": r"\)"},
                {"name": "punctuation.section.brackets.begin.vms", "match": r"\["},
                {"name": "punctuation.section.brackets.end.vms", "match": r"\]"},
            ]
        },
    }
    order = ["comment"]
    if "scenario" in v.statements:
        # scenario "NAME": the string names the scenario
        repository["scenario"] = {
            "name": "meta.scenario.vms",
            "begin": _START + r"(scenario)[ \t]+(?=\")",
            "beginCaptures": {"1": {"name": "keyword.control.vms"}},
            "end": r"(?<=\")|$",
            "patterns": [_tm_string("string.quoted.double.vms", "entity.name.function.scenario.vms")],
        }
        order.append("scenario")
    order += ["string", "number", "constant", "statement", "keyword", "name", "operator", "punctuation"]
    return {
        "name": "vms",
        "scopeName": "source.vms",
        "fileTypes": ["vms"],
        "comment": "Generated from dsl/vms.lark by `python -m vmcore.pygments_lexer`; do not edit.",
        "patterns": [{"include": f"#{key}"} for key in order],
        "repository": repository,
    }


if __name__ == "__main__":
    print(json.dumps(textmate_grammar(), indent=2))
