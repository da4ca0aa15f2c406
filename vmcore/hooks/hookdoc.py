"""Render the hook reference (docs/hooks.md) from the hookspec docstrings."""

from __future__ import annotations

import inspect
import sys

from vmcore.hooks import hookspecs

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
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
