"""docs/contributing.md's worked examples work, exactly as written.

Each example's code blocks name a file and a place (``at the end``, ``after the line:
"..."``, ``before the line: "..."``). The test applies them to a copy of the source
tree, checks that the example touches only the files the page promises, then runs its
"Try it" scenario with ``vmcore test`` and ``vmcore fmt --check`` in that copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "contributing.md"

_FENCE = re.compile(r"^```(\w+)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_WHERE = re.compile(
    r'^(?:#|//) (?P<file>[\w/.]+), (?:at the end|(?P<side>after|before) the line: "(?P<anchor>.*)")$'
)

ALLOWED = {
    # the grammar, the AST node, the parser method, the plan class (and a mechanic, if any)
    "Adding a statement": {"dsl/vms.lark", "dsl/ast/statements.py", "dsl/parser.py", "vmcore/engine/plan.py"},
    # at most three files
    "Adding a predicate": {"dsl/vms.lark", "dsl/ast/predicates.py", "vmcore/engine/checks.py"},
}


@dataclass(frozen=True)
class Edit:
    file: str
    side: str | None
    """``after`` or ``before`` the anchor line; None: at the end of the file."""
    anchor: str
    code: str


@dataclass
class Example:
    edits: list[Edit]
    scenario: tuple[str, str] | None = None
    """(file name, text) of the "Try it" .vms block."""
    console: tuple[list[str], list[str]] | None = None
    """(the command's words, the lines it prints) of the "Try it" console block."""


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@cache
def examples() -> dict[str, Example]:
    out: dict[str, Example] = {}
    for title, body in _sections(PAGE.read_text(encoding="utf-8")).items():
        ex = Example([])
        for lang, block in _FENCE.findall(body):
            first, _, rest = block.partition("\n")
            m = _WHERE.match(first)
            if m is not None:
                anchor = m["anchor"].replace('\\"', '"') if m["anchor"] is not None else ""
                ex.edits.append(Edit(m["file"], m["side"], anchor, rest))
            elif lang == "vms" and first.startswith("# ") and first.endswith(".vms"):
                ex.scenario = (first[2:], block)
            elif lang == "console" and first.startswith("$ "):
                ex.console = (first[2:].split(), rest.splitlines())
        if ex.edits:
            out[title] = ex
    return out


def apply(tree: Path, edit: Edit) -> None:
    path = tree / edit.file
    text = path.read_text(encoding="utf-8")
    if edit.side is None:
        text = text.rstrip("\n") + "\n" + ("\n\n" if edit.file.endswith(".py") else "\n") + edit.code
    else:
        lines = text.split("\n")
        hits = [i for i, line in enumerate(lines) if line == edit.anchor]
        assert len(hits) == 1, f"{edit.file}: the anchor line {edit.anchor!r} occurs {len(hits)} times, not once"
        at = hits[0] + (1 if edit.side == "after" else 0)
        lines[at:at] = edit.code.rstrip("\n").split("\n")
        text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")


def copy_tree(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "vmcore", dst / "vmcore", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "dsl", dst / "dsl", ignore=ignore)
    return dst


def run(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "XDG_CACHE_HOME": str(tree / "cache"),
        "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_page_has_both_worked_examples() -> None:
    found = examples()
    assert set(found) == set(ALLOWED), sorted(found)
    for title, ex in found.items():
        assert ex.scenario is not None and ex.console is not None, f"{title}: no 'Try it' scenario and command"


def test_an_anchor_must_stand_once(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="occurs 2 times"):
        apply(tmp_path, Edit("f.py", "after", "a", "x\n"))
    apply(tmp_path, Edit("f.py", "before", "b", "x\n"))
    assert (tmp_path / "f.py").read_text(encoding="utf-8") == "a\nx\nb\na\n"


@pytest.mark.parametrize("title", sorted(ALLOWED))
def test_worked_example(title: str, tmp_path: Path) -> None:
    ex = examples()[title]
    touched = {e.file for e in ex.edits}
    assert touched <= ALLOWED[title], f"{title} touches {sorted(touched - ALLOWED[title])} as well"
    tree = copy_tree(tmp_path)
    for edit in ex.edits:
        apply(tree, edit)
    assert ex.scenario is not None and ex.console is not None
    name, text = ex.scenario
    (tree / name).write_text(text, encoding="utf-8")
    words, shown = ex.console
    assert words[:2] == ["vmcore", "test"], words
    p = run(tree, "-m", "vmcore.cli", *words[1:])
    assert p.returncode == 0, p.stdout + p.stderr
    # every line the page shows, in order, begins a line of the real output
    out = iter(p.stdout.splitlines())
    for line in shown:
        assert any(real.startswith(line) for real in out), f"{line!r} not in:\n{p.stdout}"
    f = run(tree, "-m", "vmcore.cli", "fmt", "--check", name)
    assert f.returncode == 0, f.stdout + f.stderr


def test_the_worked_statement_reaches_the_log_and_refuses_an_empty_note(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    for edit in examples()["Adding a statement"].edits:
        apply(tree, edit)
    probe = """
from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.hooks.manager import plugin_manager

GPU = "gpu gpu0 { vram 16MiB; engine comp0 compute retry; engine sdma0 sdma }\\n"
comp = Compiler(plugin_manager([]))
(item,) = comp.compile_text(GPU + 'scenario "s" { process app on gpu0; note "phase 2"; run until idle }')
res = item.build(plugin_manager([]), {}).run()
print([e for e in res.log if e[2] == "note"])
try:
    comp.compile_text(GPU + 'scenario "s" { process app on gpu0; note "  " }', "empty.vms")
except VmsError as e:
    print(str(e).splitlines()[0])
"""
    p = run(tree, "-c", probe)
    assert p.returncode == 0, p.stderr
    assert "(0, 'app', 'note', 'phase 2')" in p.stdout
    assert 'empty.vms:2:42:' in p.stdout and 'a note is a string with some text' in p.stdout


def test_every_path_the_page_names_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:vmcore|dsl|tests|docs|benchmarks|scenarios)/[\w/.]*)`", text))
    assert len(paths) > 10
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/contributing.md names paths that do not exist: {missing}"


def test_the_worked_examples_pass_the_type_checker_and_the_linter(tmp_path: Path) -> None:
    """Both examples together, under the project's own mypy --strict and ruff settings."""
    tree = copy_tree(tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for ex in examples().values():
        for edit in ex.edits:
            apply(tree, edit)
    typed = run(tree, "-m", "mypy", "--strict", "--cache-dir", str(tree / "mypy-cache"), "vmcore")
    assert typed.returncode == 0, typed.stdout + typed.stderr
    lint = run(tree, "-m", "ruff", "check", "--no-cache", "vmcore", "dsl")
    assert lint.returncode == 0, lint.stdout + lint.stderr
