"""docs/language.md documents every keyword, statement, run check, metric and policy
family the language knows.

The lists come from ``vmcore.dsl.names``, the one place the language takes them from
(the grammar, the engine's checks and metrics, the policy families), so a name added
anywhere fails this test until the reference describes it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from vmcore.dsl import names, reference

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "language.md"


def keywords() -> list[str]:
    """Every word and phrase of the grammar (keywords and constants), from vmcore.dsl.names."""
    return sorted(names.vocabulary().words)


def statements() -> list[str]:
    """The rule names that are alternatives of ``_statement``."""
    return list(names.statement_rules()[1])


def top_level_items() -> list[str]:
    return list(names.statement_rules()[0])


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
    assert {"policy", "touches", "retry", "vram"} <= set(kws)  # strings in rules and named terminals
    assert any(" " in k for k in kws), "multi-word checks (RUN_CHECK) were not derived"
    assert len(statements()) >= 10
    assert top_level_items()


def test_code_text_takes_backticks_and_fenced_blocks() -> None:
    text = "a `policy x` b\n```\njob j\n```\nprose only\n"
    got = code_text(text)
    assert "policy x" in got and "job j" in got and "prose" not in got


# -- the reference covers the grammar --------------------------------------------------
@pytest.mark.parametrize("word", sorted(keywords()))
def test_keyword_is_documented(word: str) -> None:
    assert in_code(word), (
        f"keyword {word!r} of dsl/vms.lark is not documented in docs/language.md: "
        "mention it in backticks or in a code block"
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


def test_every_run_check_is_documented() -> None:
    missing = [c for c in names.RUN_PREDICATES if not in_code(c)]
    assert not missing, f"run checks missing from docs/language.md: {missing}"


def test_every_metric_is_documented() -> None:
    missing = [m for m in names.METRICS if not in_code(m)]
    assert not missing, f"metrics missing from docs/language.md: {missing}"


def test_every_policy_family_is_documented() -> None:
    missing = [f for f in names.FAMILIES if not in_code(f)]
    assert not missing, f"policy families missing from docs/language.md: {missing}"


# -- the tables that list names are generated from where the names live ----------------
def test_generated_tables_are_fresh() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert set(reference.blocks_in(text)) == set(reference.BLOCKS)
    assert reference.update(text) == text, (
        "docs/language.md's generated tables are stale: run python -m vmcore.dsl.reference docs/language.md"
    )


def test_a_stale_table_is_rewritten_and_an_unknown_one_refused(tmp_path: Path) -> None:
    stale = "x\n<!-- generated: metrics (old) -->\n| `gone` | a metric no more |\n<!-- end metrics -->\ny\n"
    new = reference.update(stale)
    assert "`gone`" not in new and all(f"`{m}`" in new for m in names.METRICS)
    f = tmp_path / "language.md"
    f.write_text(stale, encoding="utf-8")
    assert reference.main([str(f), "--check"]) == 1
    assert reference.main([str(f)]) == 0 and reference.main([str(f), "--check"]) == 0
    f.write_text("<!-- generated: nope x -->\n<!-- end nope -->\n", encoding="utf-8")
    assert reference.main([str(f)]) == 2
