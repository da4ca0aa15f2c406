"""docs/language.md documents every keyword and every statement of the .vms grammar.

The lists are derived from ``dsl/vms.lark`` itself, built with Lark the way
``dsl/parser.py`` builds it, so a keyword or statement added to the grammar fails this
test until the reference describes it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from lark import Lark
from lark.lexer import PatternRE, PatternStr

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "dsl" / "vms.lark"
REFERENCE = ROOT / "docs" / "language.md"

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_PHRASE = re.compile(rf"{_WORD}(?: {_WORD})*")
_LOOKAHEAD = re.compile(r"\(\?![^()]*\)$")
# `[ \t]+` (Lark may hand over the tab escaped or as a real tab), `\s+` or ` +`
_BLANKS = re.compile(r"\[ (?:\\t|\t)\]\+|\\s\+| \+")


@cache
def grammar() -> Lark:
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


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


def regex_alternatives(pattern: str) -> list[str] | None:
    """The words of a keyword terminal written as alternatives of literal words.

    ``(?:gfx|compute|mm|sdma)`` gives its four words; ``RUN_CHECK``'s
    ``(potential[ \\t]+deadlock|...)(?![A-Za-z0-9_])`` gives phrases such as
    ``potential deadlock``. Patterns of values (names, numbers, strings, separators,
    operators) give ``None``.
    """
    p = _strip_group(_LOOKAHEAD.sub("", pattern))
    alts = [_BLANKS.sub(" ", a) for a in p.split("|")]
    if alts and all(_PHRASE.fullmatch(a) for a in alts):
        return alts
    return None


def keywords() -> dict[str, str]:
    """keyword (a word, or a phrase of words) -> the terminal it comes from."""
    out: dict[str, str] = {}
    for term in grammar().terminals:
        if term.name.startswith("__IGNORE"):
            continue
        pat = term.pattern
        if isinstance(pat, PatternStr):
            # anonymous strings ("policy", "touches", "/s") and named ones (RETRY: "retry")
            if re.search(r"[A-Za-z]", pat.value):
                out[pat.value] = term.name
        elif isinstance(pat, PatternRE):
            for word in regex_alternatives(pat.value) or ():
                out[word] = term.name
    return out


def statements() -> list[str]:
    """The rule names that are alternatives of ``_statement``."""
    names = [
        r.expansion[0].name
        for r in grammar().rules
        if r.origin.name == "_statement" and len(r.expansion) == 1
    ]
    return sorted(set(names))


def top_level_items() -> list[str]:
    names = [
        r.expansion[0].name for r in grammar().rules if r.origin.name == "_item" and len(r.expansion) == 1
    ]
    return sorted(set(names))


def code_text(markdown: str) -> str:
    """Everything in backticks or in fenced code blocks, one span per line."""
    spans: list[str] = []
    rest: list[str] = []
    in_block = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        (spans if in_block else rest).append(line)
    spans += re.findall(r"`([^`\n]+)`", "\n".join(rest))
    return "\n".join(spans)


@cache
def documented() -> str:
    return code_text(REFERENCE.read_text(encoding="utf-8"))


def in_code(word: str) -> bool:
    """``word`` (or phrase) appears as a whole word inside backticks or a code block."""
    phrase = r"\s+".join(re.escape(w) for w in word.split(" "))
    # word boundaries only where the keyword itself starts or ends with a word character
    before = r"(?<![A-Za-z0-9_])" if re.match(r"\w", word) else ""
    after = r"(?![A-Za-z0-9_])" if re.search(r"\w$", word) else ""
    return re.search(before + phrase + after, documented()) is not None


# -- the derivation itself is sound ------------------------------------------------------
def test_the_grammar_yields_keywords_of_every_kind() -> None:
    kws = keywords()
    kinds = {type(t.pattern).__name__ for t in grammar().terminals if t.name in set(kws.values())}
    # both anonymous strings and keyword terminals written as regex alternatives are found
    assert kinds == {"PatternStr", "PatternRE"}, kinds
    assert any(" " in k for k in kws), "multi-word checks (RUN_CHECK) were not derived"
    assert len(statements()) >= 10
    assert top_level_items()


def test_regex_alternatives() -> None:
    assert regex_alternatives("(?:b|a)") == ["b", "a"]
    assert regex_alternatives("(x[ \\t]+y|z)(?![A-Za-z0-9_])") == ["x y", "z"]
    assert regex_alternatives("(x[ \t]+y|z)(?![A-Za-z0-9_])") == ["x y", "z"]
    assert regex_alternatives("[A-Za-z_][A-Za-z0-9_]*") is None
    assert regex_alternatives("(?:==|!=)") is None
    assert (
        regex_alternatives("(0x[0-9a-fA-F](_?[0-9a-fA-F])*|[0-9](_?[0-9])*)(ns|us)(?![A-Za-z0-9_])") is None
    )


def test_code_text_takes_backticks_and_fenced_blocks() -> None:
    text = "a `policy x` b\n```\njob j\n```\nprose only\n"
    got = code_text(text)
    assert "policy x" in got and "job j" in got and "prose" not in got


# -- the reference covers the grammar --------------------------------------------------
@pytest.mark.parametrize("word", sorted(keywords()))
def test_keyword_is_documented(word: str) -> None:
    assert in_code(word), (
        f"keyword {word!r} (terminal {keywords()[word]} of dsl/vms.lark) is not documented in "
        "docs/language.md: mention it in backticks or in a code block"
    )


@pytest.mark.parametrize("rule", statements())
def test_statement_is_documented(rule: str) -> None:
    assert in_code(rule), f"statement {rule!r} of dsl/vms.lark is not documented in docs/language.md"
    heading = re.compile(rf"^#+ .*`{re.escape(rule)}`", re.MULTILINE)
    assert heading.search(REFERENCE.read_text(encoding="utf-8")), (
        f"statement {rule!r} has no section heading naming it in docs/language.md"
    )


@pytest.mark.parametrize("rule", top_level_items())
def test_top_level_item_is_documented(rule: str) -> None:
    assert in_code(rule), f"top-level item {rule!r} of dsl/vms.lark is not documented in docs/language.md"


def test_every_metric_is_documented() -> None:
    from vmcore.engine.checks import METRICS

    missing = [m for m in METRICS if not in_code(m)]
    assert not missing, f"metrics missing from docs/language.md: {missing}"


def test_every_policy_family_is_documented() -> None:
    from vmcore.policies import FAMILIES

    missing = [f for f in FAMILIES if not in_code(f)]
    assert not missing, f"policy families missing from docs/language.md: {missing}"
