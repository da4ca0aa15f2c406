"""The docs tell the truth about the code they describe."""

from __future__ import annotations

from pathlib import Path

from vmcore.hooks.hookdoc import render
from vmcore.hooks.policies import FAMILIES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_hook_reference_is_generated_from_the_hookspecs() -> None:
    assert (DOCS / "hooks.md").read_text(encoding="utf-8") == render(), (
        "docs/hooks.md is stale: run python -m vmcore.hooks.hookdoc > docs/hooks.md"
    )


def test_every_built_in_policy_is_documented() -> None:
    text = (DOCS / "policies.md").read_text(encoding="utf-8")
    for family, classes in FAMILIES.items():
        assert f"`{family}`" in text
        for cls in classes:
            assert f"`{cls.name}" in text, cls.name


def test_documented_limits_are_the_limits() -> None:
    """A sample of docs/limits.md, checked against the code that enforces it."""
    import pytest

    from vmcore.core import FenceTable, PageTable, Pool, Ring
    from vmcore.core.pagetable import READ_LIMIT
    from vmcore.engine.gpu.ih import IH_RING_ENTRIES
    from vmcore.engine.gpu.jobs import MAX_RETRIES
    from vmcore.errors import InvalidArgument, LimitExceeded

    text = (DOCS / "limits.md").read_text(encoding="utf-8")
    assert "2^24 (128 MiB of PTEs)" in text and READ_LIMIT == 1 << 24
    assert "| IH ring | 256 entries" in text and IH_RING_ENTRIES == 256
    assert "| 64 |" in text and MAX_RETRIES == 64
    with pytest.raises(LimitExceeded):
        PageTable(max_pts=(1 << 24) + 1)
    with pytest.raises(LimitExceeded):
        FenceTable(max_fences=(1 << 24) + 1)
    with pytest.raises(LimitExceeded):
        Pool(((1 << 26) + 1) * 4096)
    with pytest.raises(InvalidArgument):
        Ring(1 << 25)
    with PageTable() as pt, pytest.raises(LimitExceeded):
        pt.read_ptes(0, READ_LIMIT + 1)


def test_every_request_and_answer_type_is_documented_field_by_field() -> None:
    """Each decision type, its fields and enum members carry a docstring in
    vmcore/hooks/decisions.py, and docs/hooks.md (generated from it) lists them."""
    import dataclasses
    import enum

    from vmcore.hooks import decisions
    from vmcore.hooks.hookdoc import type_docs

    docs = type_docs()
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    types = [c for c in vars(decisions).values() if isinstance(c, type) and c.__module__ == decisions.__name__]
    assert len(types) >= 12
    for cls in types:
        doc, rows = docs[cls.__name__]
        assert doc, f"{cls.__name__} has no docstring"
        assert f"### `{cls.__name__}`" in text
        names = [m.name for m in cls] if issubclass(cls, enum.Enum) else [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        documented = {n: d for n, _, d in rows}
        for n in names:
            assert documented.get(n), f"{cls.__name__}.{n} has no docstring under it"
            assert f"| `{n}` |" in text, f"{cls.__name__}.{n} is missing from docs/hooks.md"
