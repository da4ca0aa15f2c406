"""The fast path of dsl/lalr.py parses exactly as Lark does: the same AST (positions
included) for valid text, and nothing accepted that Lark rejects."""

from __future__ import annotations

import dataclasses
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lark import Lark, Token, Transformer

from vmcore.dsl import parser as P
from vmcore.dsl.errors import VmsError
from vmcore.dsl.lalr import FAILED, FastParser
from vmcore.fuzz import corpus, mutate

ROOT = Path(__file__).resolve().parents[2]


@cache
def _texts() -> tuple[str, ...]:
    texts = corpus(ROOT)  # the bundled scenarios
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "plugins").rglob("*.vms"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests").rglob("*.vms"))]
    texts.append((ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8"))  # not .vms: refused
    return tuple(texts)


def _dump(x: Any) -> Any:
    """Every field, `pos`, `text` and `end` included (AST equality leaves them out)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple(_dump(getattr(x, f.name)) for f in dataclasses.fields(x)))
    if isinstance(x, tuple | list):
        return tuple(_dump(y) for y in x)
    return x


def _lark_result(text: str) -> tuple[str, Any]:
    try:
        return "ok", _dump(P._lark().parse(text))
    except Exception as e:
        return "error", type(e).__name__


def _fast_result(text: str) -> tuple[str, Any]:
    fast = P._fast()
    assert fast is not None
    try:
        got = fast.parse(text)
    except Exception as e:
        return "error", type(e).__name__
    return ("failed", None) if got is FAILED else ("ok", _dump(got))


def _same(text: str) -> None:
    fast = _fast_result(text)
    slow = _lark_result(text)
    if fast[0] == "failed":
        assert slow[0] == "error", f"the fast path refused text Lark accepts:\n{text}"
    else:
        assert fast == slow, f"fast path and Lark differ on:\n{text}"


def test_the_fast_path_is_in_use() -> None:
    fast = P._fast()
    assert isinstance(fast, FastParser)
    assert fast.parse('scenario "s" {\n    run until idle\n}\n') is not FAILED


def test_the_bundled_scenarios_and_test_corpus_parse_the_same() -> None:
    texts = _texts()
    assert len(texts) >= 10
    for text in texts:
        _same(text)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_scenarios_parse_or_fail_the_same(seed: int) -> None:
    rng = random.Random(seed)
    texts = _texts()
    for _ in range(300):
        _same(mutate(rng.choice(texts), rng))


def test_positions_match_lark_through_blanks_comments_and_semicolons() -> None:
    text = (
        "  \t# lead comment\n\n"
        "gpu g {\n  vram 16MiB ;  engine c0 compute retry   # x\n\tengine s0 sdma\n}\n"
        'scenario "s" {   ;\n   process p on g ; run until idle  \n  expect no deadlock\n}\n'
    )
    fast = _fast_result(text)
    assert fast[0] == "ok"
    assert fast == _lark_result(text)


def test_refused_text_falls_back_to_lark_for_the_error() -> None:
    with pytest.raises(VmsError) as e:
        P.parse('scenario "s" {\n    run until ??\n}\n', "bad.vms")
    assert e.value.line == 2


def test_needs_the_contextual_lexer() -> None:
    basic = Lark('start: "a"', parser="lalr", lexer="basic")
    with pytest.raises(TypeError, match="contextual"):
        FastParser(basic)


_SEP_GRAMMAR = r"""
start: item+
item: WORD SEP?
SEP: /[ \t]*(;)+/
WORD: /[a-z]+/
%ignore /[ \t\f]+/
"""


class _Tokens(Transformer[Token, Any]):
    def item(self, c: list[Token]) -> tuple[tuple[str, str, int | None, int | None], ...]:
        return tuple((t.type, str(t), t.start_pos, t.column) for t in c)

    def start(self, c: list[Any]) -> list[Any]:
        return c


@pytest.mark.parametrize("text", ["ab  ;cd", "ab \t;; cd ;", "ab\f ;cd", "ab  cd  ", "  ab;"])
def test_a_terminal_that_takes_leading_blanks_starts_where_lark_starts_it(text: str) -> None:
    # SEP sorts before the ignored blanks, so Lark lexes "  ;" as one SEP from the first blank
    lk = Lark(_SEP_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Tokens(), keep_all_tokens=True)
    assert FastParser(lk).parse(text) == lk.parse(text)


def test_a_grammar_ignoring_more_than_blanks_is_refused() -> None:
    lk = Lark('start: "a"+\n%ignore /[ \\t\\n]+/', parser="lalr", lexer="contextual")
    with pytest.raises(TypeError, match="ignore"):
        FastParser(lk)
