"""Syntax highlighting for the .vms scenario language.

``VmsLexer`` is a Pygments lexer (registered as the ``vms`` lexer through the
``pygments.lexers`` entry point); ``textmate_grammar()`` builds the TextMate grammar
that editors (VS Code, Sublime Text) read, which lives in ``dsl/vms.tmLanguage.json``.

Neither hard-codes the language's words: they are the grammar's, sorted by
:func:`vmcore.dsl.names.vocabulary` (statement words, keywords, constants), so a keyword
added to the grammar, or a run check added to the engine, is highlighted at once.
Numbers, strings, comments, operators and names are token classes, written here.  If
the grammar cannot be read or built, the lexer still highlights those and leaves every
word a name.

Regenerate the TextMate grammar after changing the grammar's words::

    python -m vmcore.dsl.highlight > dsl/vms.tmLanguage.json
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

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

from vmcore.dsl.names import Vocabulary, vocabulary

__all__ = ["VmsLexer", "textmate_grammar"]

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
# how the highlighters write the blanks between the words of a phrase
_BLANKS = r"[ \t]+"

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
            (_DEC + r"\." + _DEC + _END, Number.Float),
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
                {"name": "constant.numeric.decimal.vms", "match": _START + _DEC + r"\." + _DEC + _END},
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
        "comment": "Generated from dsl/vms.lark by `python -m vmcore.dsl.highlight`; do not edit.",
        "patterns": [{"include": f"#{key}"} for key in order],
        "repository": repository,
    }


if __name__ == "__main__":
    print(json.dumps(textmate_grammar(), indent=2))
