"""``-k EXPRESSION``: pytest's keyword expressions over scenario ids."""

from __future__ import annotations

import re
from collections.abc import Callable

from vmcore.cli.options import UsageError


def keyword_matcher(expr: str) -> Callable[[str], bool]:
    """pytest-style ``-k``: substrings combined with and, or, not and parentheses."""
    tokens: list[str] = re.findall(r"\(|\)|[^\s()]+", expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def orx() -> Callable[[str], bool]:
        left = andx()
        while peek() == "or":
            take()
            right = andx()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def andx() -> Callable[[str], bool]:
        left = notx()
        while peek() == "and":
            take()
            right = notx()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def notx() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = notx()
            return lambda s: not inner(s)
        if peek() == "(":
            take()
            inner = orx()
            if peek() != ")":
                raise UsageError(f"-k {expr!r}: missing ')'")
            take()
            return inner
        t = peek()
        if t is None or t in ("and", "or", ")"):
            raise UsageError(f"-k {expr!r}: expected a word at {t or 'the end'}")
        word = take().lower()
        return lambda s: word in s.lower()

    fn = orx()
    if pos != len(tokens):
        raise UsageError(f"-k {expr!r}: unexpected {tokens[pos]!r}")
    return fn
