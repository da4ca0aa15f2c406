"""Render the hook reference (docs/hooks.md) from the hookspec docstrings, and the
request and answer types of the decision hooks from vmcore/hooks/decisions.py: each
class's docstring, and the string literal under each field and enum member."""

from __future__ import annotations

import ast
import enum
import inspect
import sys
from pathlib import Path

from vmcore.hooks import decisions, hookspecs


def type_docs() -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """class name -> (its docstring, [(field or member, annotation or value, its doc)])."""
    tree = ast.parse(Path(decisions.__file__).read_text(encoding="utf-8"))
    out: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        rows: list[tuple[str, str, str]] = []
        body = node.body
        for i, st in enumerate(body):
            nxt = body[i + 1] if i + 1 < len(body) else None
            doc = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                doc = inspect.cleandoc(nxt.value.value)
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                rows.append((st.target.id, ast.unparse(st.annotation), doc))
            elif isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name):
                rows.append((st.targets[0].id, ast.unparse(st.value), doc))
        out[node.name] = (inspect.cleandoc(ast.get_docstring(node) or ""), rows)
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_types() -> str:
    out = [
        "## Request and answer types\n",
        "What the decision hooks receive and return (`vmcore.hooks.decisions`, exported by",
        "`vmcore` itself). Requests are frozen: a policy changes a run only through its answer.\n",
    ]
    for name, (doc, rows) in type_docs().items():
        cls = getattr(decisions, name)
        kind = "enum" if isinstance(cls, type) and issubclass(cls, enum.Enum) else "dataclass"
        out.append(f"### `{name}`\n")
        if doc:
            out.append(doc + "\n")
        if kind == "enum":
            out += ["| member | value | meaning |", "|---|---|---|"]
            out += [f"| `{m}` | `{v}` | {_cell(d)} |" for m, v, d in rows]
        else:
            out += ["| field | type | meaning |", "|---|---|---|"]
            out += [f"| `{f}` | `{_cell(t)}` | {_cell(d)} |" for f, t, d in rows]
        out.append("")
    return "\n".join(out)


HEADER = """# Hooks

Generated from `vmcore/hooks/hookspecs.py` by `python -m vmcore.hooks.hookdoc > docs/hooks.md`; a
test keeps the two in step.

Decision hooks belong to a policy family and are called on the scenario's active policy
of that family only; `None` means the family's default. Observer hooks are called on
every plugin. Plugins register under the entry-point group `vmcore`.
"""


def render() -> str:
    out = [HEADER]
    for kind, pred in (("Decision hooks", True), ("Observer hooks", False)):
        out.append(f"## {kind}\n")
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
            if not name.startswith("vmcore_") or (name in hookspecs.FAMILY_OF_HOOK) != pred:
                continue
            sig = str(inspect.signature(fn)).replace("'", "")
            fam = hookspecs.FAMILY_OF_HOOK.get(name)
            out.append(f"### `{name}{sig}`\n")
            if fam:
                out.append(f"Family: `{fam}`.\n")
            out.append(inspect.cleandoc(fn.__doc__ or "") + "\n")
    out.append(render_types())
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
