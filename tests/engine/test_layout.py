"""The engine's shape: rooms small enough to read, and imports that point down only."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent.parent / "vmcore" / "engine"


def _runtime_imports(path: Path) -> set[str]:
    """vmcore.engine modules ``path`` imports when it runs (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vmcore.engine"):
                # `from vmcore.engine import plan` imports the module vmcore.engine.plan
                subs = {f"{node.module}.{a.name}" for a in node.names}
                mods = {m for m in subs if (ENGINE.parent.parent / (m.replace(".", "/") + ".py")).exists()}
                out.update(mods or {node.module})
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("vmcore.engine"))
            for field in ("body", "orelse", "finalbody", "handlers"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    visit([n for n in sub if isinstance(n, ast.stmt)])

    visit(tree.body)
    return out


def _module(path: Path) -> str:
    rel = path.relative_to(ENGINE.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_engine_module_is_over_500_lines() -> None:
    big = {p.name: n for p in ENGINE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not big, big


def test_engine_imports_form_no_cycle() -> None:
    graph = {_module(p): _runtime_imports(p) for p in ENGINE.rglob("*.py")}
    state: dict[str, int] = {}

    def dfs(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if n not in graph:
                continue
            if state.get(n) == 1:
                raise AssertionError(
                    "import cycle: " + " -> ".join([*path, m, n][path.index(n) if n in path else 0 :])
                )
            if n not in state:
                dfs(n, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m, [])


def test_rooms_import_only_rooms_below_them() -> None:
    order = ["memory", "svm_bo", "device", "ring", "ttm", "vm_pt", "vm", "svm_split", "svm_migrate", "svm", "ih", "jobs"]
    order.append("process")
    for i, room in enumerate(order):
        imports = _runtime_imports(ENGINE / "gpu" / f"{room}.py")
        above = {f"vmcore.engine.gpu.{r}" for r in order[i + 1 :]}
        assert not imports & above, (room, sorted(imports & above))
