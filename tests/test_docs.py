"""The docs tell the truth about the code they describe."""

from __future__ import annotations

from pathlib import Path

from vmcore.hookdoc import render
from vmcore.policies import FAMILIES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_hook_reference_is_generated_from_the_hookspecs() -> None:
    assert (DOCS / "hooks.md").read_text(encoding="utf-8") == render(), (
        "docs/hooks.md is stale: run python -m vmcore.hookdoc > docs/hooks.md"
    )


def test_every_built_in_policy_is_documented() -> None:
    text = (DOCS / "policies.md").read_text(encoding="utf-8")
    for family, classes in FAMILIES.items():
        assert f"`{family}`" in text
        for cls in classes:
            assert f"`{cls.name}" in text, cls.name
