"""Syntax highlighting of .vms: the Pygments lexer and the TextMate grammar.

The words both highlight are derived from ``dsl/vms.lark`` by ``vmcore.dsl.names``
(through Lark). This test derives them a second way, from the grammar's text, and checks
that the lexer and the TextMate grammar light every one of them, that both agree on
every character of the example scenarios, and that ``dsl/vms.tmLanguage.json`` is the
one the grammar generates today.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lark import Lark
from lark.lexer import Pattern, PatternRE, PatternStr
from pygments import lex
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
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
    _TokenType,
    is_token_subtype,
)

from vmcore.dsl.highlight import VmsLexer, textmate_grammar
from vmcore.dsl.names import grammar_text, vocabulary

ROOT = Path(__file__).resolve().parent.parent
TMLANGUAGE = ROOT / "dsl" / "vms.tmLanguage.json"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.vms"))
REGENERATE = "python -m vmcore.dsl.highlight > dsl/vms.tmLanguage.json"

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_PHRASE = re.compile(rf"{_WORD}(?: {_WORD})*")


# -- the grammar's words, read from its text ---------------------------------------------


def _regex_phrases(body: str) -> list[str] | None:
    """``(potential[ \\t]+deadlock|stall)(?![A-Za-z0-9_])`` -> the phrases, else None."""
    body = re.sub(r"\(\?![^()]*\)$", "", body)
    if body.startswith("(") and body.endswith(")"):
        body = body[3:-1] if body.startswith("(?:") else body[1:-1]
    alts = [re.sub(r"\[ (?:\\t|\t)\]\+|\\s\+| \+", " ", a) for a in body.split("|")]
    return alts if all(_PHRASE.fullmatch(a) for a in alts) else None


@cache
def grammar_words() -> frozenset[str]:
    """Every word written as a string in the grammar, and the phrases of its regexes."""
    text = re.sub(r"//[^\n]*", "", grammar_text())
    words = set(re.findall(rf'"({_WORD})"', text))
    for body in re.findall(r"^\s*[A-Z_][A-Z0-9_]*(?:\.\d+)?\s*:\s*/((?:[^/\\\n]|\\.)+)/", text, re.M):
        words.update(_regex_phrases(body) or ())
    return frozenset(words)


@cache
def lark_terminals() -> dict[str, Pattern]:
    parser = Lark(grammar_text(), parser="earley", lexer="dynamic")
    return {t.name: t.pattern for t in parser.terminals}


def grammar_symbols() -> list[str]:
    """The grammar's operators and punctuation: its strings and alternatives of no letters."""
    out: set[str] = set()
    for pattern in lark_terminals().values():
        if isinstance(pattern, PatternStr) and not re.search(r"\w", pattern.value):
            out.add(pattern.value)
        elif isinstance(pattern, PatternRE):
            body = pattern.value
            body = body[3:-1] if body.startswith("(?:") and body.endswith(")") else body
            alts = body.split("|")
            if all(re.fullmatch(r"[^\w\s()\[\]\\*+?|]+", a) for a in alts):
                out.update(alts)
    return sorted(out | {"/s"})


# -- Pygments ------------------------------------------------------------------------------


def tokens(text: str) -> list[tuple[_TokenType, str]]:
    """The lexer's tokens, blanks left out."""
    return [(t, v) for t, v in lex(text, VmsLexer()) if not is_token_subtype(t, Whitespace)]


def test_found_by_name_alias_and_filename() -> None:
    assert isinstance(get_lexer_by_name("vms"), VmsLexer)
    assert isinstance(get_lexer_by_name("vmcore"), VmsLexer)
    assert isinstance(get_lexer_for_filename("x.vms"), VmsLexer)
    assert isinstance(get_lexer_for_filename("scenarios/gpus.vms"), VmsLexer)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenarios_lex_without_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    toks = list(lex(text, VmsLexer(stripnl=False)))
    assert "".join(v for _, v in toks) == (text if text.endswith("\n") else text + "\n")
    errors = [v for t, v in toks if is_token_subtype(t, Error)]
    assert not errors, f"{path.name}: {errors}"


def test_scenarios_exist() -> None:
    assert len(SCENARIOS) >= 5


SAMPLE = """\
# a comment on its own line
use "gpus.vms"
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry locked
}
link gpu0 gpu1 xgmi bandwidth 64GiB/s latency 2us
scenario "say \\"hi\\"" for M in [1, 0x20, true] {
    process app on gpu0 { retry_faults off }
    svm app 0x4000_0000 +2MiB in gpu0.vram  # trailing comment
    job a1 on comp0 by app touches 0x4000_0000 +4KiB write value 7 takes 10ms
    run until idle; run for 0x10s
    expect not potential deadlock
    expect user  fence on\tpage tables
    expect faults <= 3 if M != 1
}
"""


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("# a comment on its own line", Comment.Single),
        ("# trailing comment", Comment.Single),
        ("use", Keyword),
        ("gpu", Keyword),
        ("scenario", Keyword),
        ("engine", Keyword),
        ("for", Keyword),
        ("in", Keyword),
        ("if", Keyword),
        ("not", Keyword),
        ("until", Keyword),
        ("compute", Keyword.Constant),
        ("retry", Keyword.Constant),
        ("locked", Keyword.Constant),
        ("xgmi", Keyword.Constant),
        ("vram", Keyword.Constant),
        ("true", Keyword.Constant),
        ("off", Keyword.Constant),
        ("retry_faults", Keyword.Constant),
        ("potential deadlock", Keyword.Constant),
        ("user  fence on\tpage tables", Keyword.Constant),
        ("16MiB", Number.Integer),
        ("64GiB", Number.Integer),
        ("2us", Number.Integer),
        ("10ms", Number.Integer),
        ("0x10s", Number.Hex),
        ("0x20", Number.Hex),
        ("0x4000_0000", Number.Hex),
        ("2MiB", Number.Integer),
        ("7", Number.Integer),
        ("gpu0", Name),
        ("comp0", Name),
        ("M", Name),
        ("faults", Name),
        ("/s", Operator),
        ("+", Operator),
        (".", Operator),
        ("<=", Operator),
        ("!=", Operator),
        ("{", Punctuation),
        ("[", Punctuation),
        (";", Punctuation),
        ("gpus.vms", String.Double),
        ('\\"', String.Escape),
    ],
)
def test_sample_token_types(text: str, token: _TokenType) -> None:
    found = {v: t for t, v in tokens(SAMPLE)}
    assert text in found, f"{text!r} is not one token of the sample"
    assert found[text] is token, f"{text!r} is {found[text]}, not {token}"


def test_sample_has_no_errors_and_scenario_string_whole() -> None:
    toks = tokens(SAMPLE)
    assert not [v for t, v in toks if is_token_subtype(t, Error)]
    strings = "".join(v for t, v in toks if is_token_subtype(t, String))
    assert strings == '"gpus.vms""say \\"hi\\""'


def test_sample_is_valid_vms() -> None:
    Lark(grammar_text(), parser="lalr", lexer="contextual").parse(SAMPLE)


def test_unterminated_string_ends_at_the_line() -> None:
    toks = tokens('use "abc\nkill app\n')
    assert (Keyword, "kill") in toks
    assert (Name, "app") in toks


@pytest.mark.parametrize(
    "literal",
    ["16MiB", "1B", "0x10KiB", "0x1B", "0xAB", "1_024KiB", "2TiB", "5ns", "7us", "3ms", "1s", "0x10s",
     "0x1_0", "1_000", "42", "16MiBx", "1__0", "0x", "4kib", "3sec", "0x2B"],
)  # fmt: skip
def test_numbers_agree_with_the_grammar(literal: str) -> None:
    """A literal the grammar takes as one SIZE, TIME or INT is one number token, else not."""
    terms = lark_terminals()
    kinds = [k for k in ("SIZE", "TIME", "INT") if re.fullmatch(terms[k].to_regexp(), literal)]
    toks = tokens(literal)
    one_number = len(toks) == 1 and is_token_subtype(toks[0][0], Number)
    assert one_number == bool(kinds), f"{literal!r}: grammar {kinds}, lexer {toks}"
    if one_number:
        assert toks[0][0] is (Number.Hex if literal.startswith("0x") else Number.Integer)


def test_grammar_words_are_derived_alike() -> None:
    """The module's (Lark) derivation and this file's (text) one find the same words."""
    assert grammar_words() == vocabulary().words
    v = vocabulary()
    assert v.statements <= v.keywords
    assert not v.keywords & v.constants
    assert {"gpu", "scenario", "use", "link", "policy", "job", "run", "expect"} <= v.statements
    assert {"on", "off", "true", "false", "system", "vram", "gtt", "retry", "locked"} <= v.constants


@pytest.mark.parametrize("word", sorted(grammar_words()))
def test_every_grammar_word_is_a_keyword(word: str) -> None:
    toks = tokens(word)
    assert len(toks) == 1, f"{word!r} lexes as {toks}"
    token, value = toks[0]
    assert value == word
    assert is_token_subtype(token, Keyword), f"{word!r} is {token}"
    expected = Keyword.Constant if word in vocabulary().constants else Keyword
    assert token is expected


@pytest.mark.parametrize("symbol", grammar_symbols())
def test_every_grammar_symbol_is_an_operator(symbol: str) -> None:
    toks = tokens(symbol)
    assert len(toks) == 1 and toks[0][1] == symbol, f"{symbol!r} lexes as {toks}"
    assert is_token_subtype(toks[0][0], Operator) or is_token_subtype(toks[0][0], Punctuation)


# -- TextMate -----------------------------------------------------------------------------


@cache
def tm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TMLANGUAGE.read_text(encoding="utf-8"))
    return data


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def tm_word_patterns(prefix: str) -> list[str]:
    """The alternatives of every `match` whose scope starts with ``prefix``."""
    alts: list[str] = []
    for rule in _walk(tm()["repository"]):
        if str(rule.get("name", "")).startswith(prefix) and "match" in rule:
            body = rule["match"].removeprefix("(?<![A-Za-z0-9_])").removesuffix("(?![A-Za-z0-9_])")
            if body.startswith("(?:") and body.endswith(")"):
                alts += body[3:-1].split("|")
    return alts


def test_tmlanguage_header() -> None:
    data = tm()
    assert data["scopeName"] == "source.vms"
    assert data["fileTypes"] == ["vms"]
    assert data["name"] == "vms"
    for include in data["patterns"]:
        assert include["include"].removeprefix("#") in data["repository"]


def test_tmlanguage_is_generated_from_the_grammar() -> None:
    assert tm() == textmate_grammar(), f"dsl/vms.tmLanguage.json is stale: run `{REGENERATE}`"


def test_tmlanguage_regexes_compile() -> None:
    count = 0
    for rule in _walk(tm()):
        for key in ("match", "begin", "end"):
            if key in rule:
                assert isinstance(rule[key], str) and rule[key], rule
                re.compile(rule[key])
                count += 1
    assert count >= 10


@pytest.mark.parametrize("word", sorted(grammar_words()))
def test_every_grammar_word_has_a_textmate_scope(word: str) -> None:
    constants = tm_word_patterns("constant.language")
    keywords = tm_word_patterns("keyword.")
    if word in vocabulary().constants:
        assert any(re.fullmatch(a, word) for a in constants), f"{word!r} is no constant.language"
    else:
        assert any(re.fullmatch(a, word) for a in keywords), f"{word!r} is no keyword"
    if word in vocabulary().statements:
        assert any(re.fullmatch(a, word) for a in tm_word_patterns("keyword.control"))


@pytest.mark.parametrize(
    ("literal", "scope"),
    [("16MiB", "size.decimal"), ("0x10KiB", "size.hex"), ("10ms", "time.decimal"),
     ("0x10s", "time.hex"), ("0x1B", "integer.hex"), ("42", "integer.decimal")],
)  # fmt: skip
def test_textmate_numbers(literal: str, scope: str) -> None:
    pieces = scan(literal)
    assert "".join(t for t, _ in pieces) == literal
    assert all(s.split()[0] == f"constant.numeric.{scope}.vms" for _, s in pieces), pieces
    units = [t for t, s in pieces if "keyword.other.unit.vms" in s.split()]
    assert units == ([re.sub(r"^(0x[0-9a-fA-F_]+|[0-9_]+)", "", literal)] if "integer" not in scope else [])


# A small TextMate tokenizer: enough of the model (earliest match wins, the first rule
# on a tie, begin/end with the end first on a tie, captures) to run the grammar over the
# examples. A piece of text no rule matched carries the scope GAP.

GAP = "<gap>"


def _join(*scopes: str) -> str:
    return " ".join(s for s in scopes if s)


def _rules(patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in patterns:
        if "include" in p:
            out += _rules([tm()["repository"][p["include"].removeprefix("#")]])
        elif "match" in p or "begin" in p:
            out.append(p)
        else:
            out += _rules(p["patterns"])
    return out


def _pieces(m: re.Match[str], captures: dict[str, Any] | None, scope: str) -> list[tuple[str, str]]:
    """The text of ``m`` cut at its captured groups, each group with its own scope."""
    spans = sorted(
        (m.start(int(g)), m.end(int(g)), c["name"])
        for g, c in (captures or {}).items()
        if m.start(int(g)) < m.end(int(g))
    )
    out: list[tuple[str, str]] = []
    pos = m.start()
    for start, end, name in spans:
        if start < pos:
            continue
        if start > pos:
            out.append((m.string[pos:start], scope))
        out.append((m.string[start:end], _join(scope, name)))
        pos = end
    if pos < m.end():
        out.append((m.string[pos : m.end()], scope))
    return out


def _scan(
    line: str,
    pos: int,
    rules: list[dict[str, Any]],
    scope: str,
    out: list[tuple[str, str]],
    closing: tuple[dict[str, Any], str] | None = None,
) -> int:
    """Scan ``line`` from ``pos``; inside a begin/end rule, ``closing`` is it and its scope."""
    while pos < len(line) or closing is not None:
        best: tuple[int, int, re.Match[str], dict[str, Any] | None] | None = None
        if closing is not None:
            m = re.compile(closing[0]["end"]).search(line, pos)
            if m:
                best = (m.start(), -1, m, None)
        for i, rule in enumerate(rules):
            found = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
            if found and (best is None or (found.start(), i) < best[:2]):
                best = (found.start(), i, found, rule)
        if best is None:
            out.append((line[pos:], _join(scope, GAP)))
            return len(line)
        start, _, m, chosen = best
        if start > pos:
            out.append((line[pos:start], _join(scope, GAP)))
        if chosen is None:
            assert closing is not None
            out += _pieces(m, closing[0].get("endCaptures"), closing[1])
            return m.end()
        outer = _join(scope, chosen.get("name", ""))
        if "match" in chosen:
            assert m.end() > start, f"empty match of {chosen}"
            out += _pieces(m, chosen.get("captures"), outer)
            pos = m.end()
        else:
            out += _pieces(m, chosen.get("beginCaptures"), outer)
            inner = _join(outer, chosen.get("contentName", ""))
            pos = _scan(line, m.end(), _rules(chosen.get("patterns", [])), inner, out, (chosen, outer))
    return pos


def scan(line: str) -> list[tuple[str, str]]:
    """(text, scopes) for one line, the blanks between matches left out."""
    out: list[tuple[str, str]] = []
    _scan(line, 0, _rules(tm()["patterns"]), "", out)
    return [(t, s) for t, s in out if t.strip()]


def _kind_of_token(token: _TokenType) -> str:
    for kind, parent in (("comment", Comment), ("string", String), ("number", Number),
                         ("constant", Keyword.Constant), ("keyword", Keyword), ("name", Name),
                         ("operator", Operator), ("operator", Punctuation)):  # fmt: skip
        if is_token_subtype(token, parent):
            return kind
    return "?"


def _kind_of_scope(scope: str) -> str:
    for kind, prefix in (("comment", "comment."), ("string", "string."), ("number", "constant.numeric"),
                         ("constant", "constant.language"), ("operator", "keyword.other.unit.rate"),
                         ("keyword", "keyword.control"), ("keyword", "keyword.other"),
                         ("operator", "keyword.operator"), ("operator", "punctuation.")):  # fmt: skip
        if any(s.startswith(prefix) for s in scope.split()):
            return kind
    return "?" if GAP in scope.split() else "name"


def _kinds(pieces: list[tuple[str, str]]) -> str:
    """One letter per non-blank character: its kind's initial (`K` for a constant)."""
    return "".join(("K" if kind == "constant" else kind[0]) * len(text.replace(" ", "").replace("\t", ""))
                   for text, kind in pieces)  # fmt: skip


@pytest.mark.parametrize("path", [*SCENARIOS, None], ids=lambda p: p.name if p else "sample")
def test_textmate_and_pygments_agree(path: Path | None) -> None:
    text = path.read_text(encoding="utf-8") if path else SAMPLE
    for number, line in enumerate(text.splitlines(), 1):
        by_tm = _kinds([(t, _kind_of_scope(s)) for t, s in scan(line)])
        by_pygments = _kinds([(v, _kind_of_token(t)) for t, v in tokens(line)])
        assert "?" not in by_tm, f"line {number}: {scan(line)}"
        assert by_tm == by_pygments, f"line {number}: {line!r}\n tm {scan(line)}\n pygments {tokens(line)}"


def test_textmate_scenario_name() -> None:
    pieces = scan('scenario "a \\"b\\"" for M in [1] {')
    assert pieces[0] == ("scenario", "meta.scenario.vms keyword.control.vms")
    name = [t for t, s in pieces if "entity.name.function.scenario.vms" in s]
    assert "".join(name) == 'a \\"b\\"'
    assert any("constant.character.escape.vms" in s for _, s in pieces)
