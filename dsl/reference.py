"""The tables of ``docs/language.md`` that list names, generated from where the names live.

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end NAME -->`` in the
reference; ``python -m vmcore.dsl.reference docs/language.md`` rewrites them in place and
``--check`` says whether they are stale (a test runs it). The sources:

* ``run-predicates`` and ``short-forms``: :data:`~vmcore.engine.checks.RUN_PREDICATE_DOCS`
  (with :data:`~vmcore.engine.checks.RING_INTACT_DOC`), the run checks the grammar takes;
* ``metrics``: :data:`~vmcore.engine.checks.METRIC_DOCS`;
* ``families``: :data:`~vmcore.hooks.policies.FAMILIES`, the default first, with the
  decision hooks each family's policies implement.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from vmcore.dsl.names import FAMILIES
from vmcore.engine.checks import METRIC_DOCS, PROCESS_METRICS, RING_INTACT_DOC, RUN_PREDICATE_DOCS

_BLOCK = re.compile(r"(<!-- generated: ([a-z-]+) [^>]*-->\n)(.*?)(<!-- end \2 -->)", re.DOTALL)
MARK = "(python -m vmcore.dsl.reference docs/language.md; do not edit)"


def _table(head: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def run_predicates() -> str:
    rows = [(f"`{name}`", doc) for name, doc in RUN_PREDICATE_DOCS.items()]
    return _table(("predicate", "holds when"), [*rows, ("`ring R intact`", RING_INTACT_DOC)])


def short_forms() -> str:
    rows = [(f"`expect {p.removeprefix('no ')}`", f"`expect not {p}`") for p in RUN_PREDICATE_DOCS]
    return _table(("short form", "means"), rows)


def metrics() -> str:
    lines = ["| metric | counts | `of P` |", "|---|---|---|"]
    for m, doc in METRIC_DOCS.items():
        lines.append(f"| `{m}` | {doc} | {'yes' if m in PROCESS_METRICS else 'no'} |")
    return "\n".join(lines) + "\n"


def families() -> str:
    lines = ["| family | default | other built-in policies | decision hooks |", "|---|---|---|---|"]
    for family, classes in FAMILIES.items():
        hooks = sorted({n for c in classes for n in vars(c) if n.startswith("vmcore_")})
        others = ", ".join(f'`"{c.name}"`' for c in classes[1:]) or "none"
        lines.append(
            f'| `{family}` | `"{classes[0].name}"` | {others} | {", ".join(f"`{h}`" for h in hooks)} |'
        )
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[], str]] = {
    "run-predicates": run_predicates,
    "short-forms": short_forms,
    "metrics": metrics,
    "families": families,
}


def update(text: str) -> str:
    """``text`` with every generated block rewritten; an unknown block name is an error."""

    def one(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            raise ValueError(f"generated block {name!r}: no such table (known: {', '.join(BLOCKS)})")
        return f"<!-- generated: {name} {MARK} -->\n{BLOCKS[name]()}{m.group(4)}"

    return _BLOCK.sub(one, text)


def blocks_in(text: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m vmcore.dsl.reference", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    ap.add_argument("file", help="the language reference, docs/language.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if a table is stale; change nothing")
    args = ap.parse_args(argv)
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
        new = update(text)
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{path}: generated tables are stale; run python -m vmcore.dsl.reference {path}")
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
