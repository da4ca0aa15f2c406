"""The package shows its layers, and each imports only the layers under it.

errors → core (C) → hooks (the plugin API) → engine → dsl (the language) → cli (the
front end). The C core knows nothing of Python policies, the engine nothing of the
language, the language nothing of the command line. The bundled plugins import only
what :mod:`vmcore` exports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vmcore

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vmcore"
LAYERS = ["errors", "core", "hooks", "engine", "dsl", "cli"]
"""Bottom to top; a module may import its own layer and those before it."""
TOOLS = {"__init__", "__main__", "testing", "fuzz", "docgen"}
"""Top-level modules above every layer: the public names, ``python -m vmcore``, the pytest
fixture for plugin authors, the fuzzers and the docs' pictures."""


def _imports(path: Path) -> set[str]:
    """Every vmcore module ``path`` imports, wherever the import statement is."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "vmcore":
                out.update(f"vmcore.{a.name}" for a in node.names)
            elif node.module.startswith("vmcore."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("vmcore."))
    return out


def _layer(module: str) -> str:
    name = module.split(".")[1]
    # the compiled C core belongs to the core; the version string to the bottom
    return {"_core": "core", "__version__": "errors"}.get(name, name)


def _sources() -> list[Path]:
    """The package's modules; ``vmcore/dsl`` is a symlink to ``dsl/``, which rglob skips."""
    found = [*PACKAGE.rglob("*.py"), *(PACKAGE / "dsl" / p.relative_to(ROOT / "dsl") for p in (ROOT / "dsl").rglob("*.py"))]
    return sorted({p for p in found if "__pycache__" not in p.parts})


def test_top_level_is_the_layers_and_a_few_tools() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert modules - TOOLS == {"errors"}, sorted(modules - TOOLS)
    assert packages == set(LAYERS) - {"errors"}, sorted(packages)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_layer_imports_only_layers_under_it(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    if own in TOOLS:
        return
    allowed = set(LAYERS[: LAYERS.index(own) + 1])
    above = sorted(m for m in _imports(path) if _layer(m) not in allowed)
    assert not above, f"{rel} ({own}) imports from layers above it: {above}"


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from vmcore.cli.session import Session\n    import vmcore.dsl.parser\n")
    assert {_layer(m) for m in _imports(bad)} == {"cli", "dsl"}


@pytest.mark.parametrize("path", sorted(ROOT.glob("plugins/*/src/*/*.py")), ids=lambda p: p.parent.name)
def test_bundled_plugins_import_only_public_names(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vmcore":
            assert node.module == "vmcore", f"{path.name}:{node.lineno}: from {node.module} import ..."
            private = [a.name for a in node.names if a.name not in vmcore.__all__]
            assert not private, f"{path.name}:{node.lineno}: {private} not in vmcore.__all__"
        elif isinstance(node, ast.Import):
            deep = [a.name for a in node.names if a.name.startswith("vmcore.")]
            assert not deep, f"{path.name}:{node.lineno}: import {deep}"


def test_public_names_resolve() -> None:
    missing = [n for n in vmcore.__all__ if not hasattr(vmcore, n)]
    assert not missing
