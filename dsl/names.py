"""The names the language shares with the engine, in one place.

* the grammar (``vms.lark``) with the run checks written in: the engine's
  :data:`~vmcore.engine.checks.RUN_PREDICATES` are the one list of them;
* the grammar's words, sorted by how they read (:func:`vocabulary`): statement words,
  keywords, constants.  The Pygments lexer, the TextMate grammar and the reference test
  of ``docs/language.md`` take them from here;
* the metrics (:data:`~vmcore.engine.checks.METRICS`) and the policy families
  (:data:`~vmcore.hooks.policies.FAMILIES`), as the compiler checks them.

Nothing here hard-codes a word of the language.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lark import Lark
from lark.exceptions import LarkError
from lark.grammar import Terminal
from lark.lexer import Pattern, PatternRE, PatternStr

from vmcore.engine.checks import METRICS, PROCESS_METRICS, RUN_PREDICATES
from vmcore.hooks.policies import FAMILIES

__all__ = [
    "FAMILIES",
    "METRICS",
    "PROCESS_METRICS",
    "RUN_CHECKS",
    "RUN_PREDICATES",
    "Vocabulary",
    "grammar_text",
    "run_checks_phrase",
    "statement_rules",
    "vocabulary",
    "vocabulary_of",
]

RUN_CHECKS: tuple[str, ...] = tuple(p.removeprefix("no ") for p in RUN_PREDICATES)
"""The run checks as ``expect`` writes them after ``no`` (``deadlock``, ``stale pte`` ...)."""

_PLACEHOLDER = "%RUN_CHECKS%"


def run_checks_phrase() -> str:
    """The run checks in words, as error messages list them."""
    return ", ".join(RUN_CHECKS)


def _grammar_file() -> str:
    return resources.files("vmcore").joinpath("dsl", "vms.lark").read_text(encoding="utf-8")


@cache
def grammar_text() -> str:
    """The .vms grammar with the run checks written into ``RUN_CHECK``, longest first (a
    check that is the prefix of another must not win), blanks between their words."""
    alts = [r"[ \t]+".join(re.escape(w) for w in c.split(" ")) for c in sorted(RUN_CHECKS, key=lambda c: (-len(c), c))]
    text = _grammar_file()
    if _PLACEHOLDER not in text:
        raise LarkError(f"dsl/vms.lark has no {_PLACEHOLDER} for the run checks")
    return text.replace(_PLACEHOLDER, "|".join(alts))


# -- the grammar's words ------------------------------------------------------------------

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


@dataclass(frozen=True)
class Vocabulary:
    """The words of the grammar, by how they read.

    * a word written as a string literal in a rule (``"gpu"``, ``"touches"``) is a
      *keyword*; the ones that open a top-level item or a statement (the first word of
      each alternative of ``_item`` and ``_statement``) are also *statement words*;
    * a word or phrase of a named terminal that a rule refers to by name (``ENGINE_KIND``,
      ``ON_OFF``, ``RUN_CHECK``'s ``potential deadlock`` ...) is a *constant*, a value
      the grammar names the kind of; a word that is both (``on``, ``vram``) counts as a
      constant.  ``NOT`` is the one named terminal that is an operator and stays a keyword.

    ``statements`` is a subset of ``keywords``; ``keywords`` and ``constants`` are
    disjoint.  A constant may be a phrase of words separated by one space.
    """

    statements: frozenset[str]
    keywords: frozenset[str]
    constants: frozenset[str]

    @property
    def words(self) -> frozenset[str]:
        return self.keywords | self.constants


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


def alternatives(pattern: Pattern) -> list[str] | None:
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
    """Sort the words of the grammar ``text`` (see :class:`Vocabulary`)."""
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
            words = alternatives(patterns[sym.name])
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
def statement_rules() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the rules of the top-level items, the rules of the statements), by name."""
    parser = Lark(grammar_text(), parser="earley", lexer="dynamic")
    found: dict[str, set[str]] = {r: set() for r in _STATEMENT_RULES}
    for rule in parser.rules:
        if rule.origin.name in found and len(rule.expansion) == 1:
            found[rule.origin.name].add(rule.expansion[0].name)
    items, stmts = (tuple(sorted(found[r])) for r in _STATEMENT_RULES)
    return items, stmts


@cache
def vocabulary() -> Vocabulary:
    """The words of the .vms grammar; none if it cannot be read or built."""
    try:
        return vocabulary_of(grammar_text())
    except (OSError, LarkError) as exc:  # pragma: no cover - a broken install or grammar
        warnings.warn(f"vms words unknown: {exc}", RuntimeWarning, stacklevel=2)
        return Vocabulary(frozenset(), frozenset(), frozenset())
