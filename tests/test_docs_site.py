"""The documentation site builds with mkdocs --strict, and its pictures are current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmcore.docgen import pictures

ROOT = Path(__file__).resolve().parent.parent


def test_generated_pictures_match_the_code() -> None:
    for name, text in pictures().items():
        path = ROOT / "docs" / "img" / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m vmcore.docgen docs/img"
        )


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("mkdocs is not installed (it is in the dev extra)")
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    html = (tmp_path / "site" / "language" / "index.html").read_text(encoding="utf-8")
    assert 'class="codehilite"' in html  # .vms examples are highlighted by vmcore's lexer


def test_the_compare_tutorial_shows_the_table_vmcore_prints() -> None:
    from vmcore.docgen import _tutorial_rows, compare_table, tutorial_text

    path = ROOT / "docs" / "compare-tutorial.md"
    text = path.read_text(encoding="utf-8")
    assert tutorial_text(text, compare_table(_tutorial_rows())) == text, (
        f"{path}'s table is stale: run python -m vmcore.docgen docs/img"
    )
    assert "img/compare-bars.svg" in text and "img/compare-timeline.svg" in text
