"""Shared helpers for the .vms language tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmcore.dsl import ast
from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.dsl.errors import VmsError
from vmcore.dsl.parser import parse
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.vms"))

PM = plugin_manager(entry_points=False)
COMPILER = Compiler(PM)

# one GPU per kind of test: two GPUs so that "the other GPU" errors can be written
GPUS = """\
gpu gpu0 {
    vram 16MiB
    gtt 64MiB
    engine comp0 compute retry
    engine vcn0 mm
    engine sdma0 sdma
}
gpu gpu1 {
    vram 8MiB
    engine comp1 compute retry
}
"""


def body(text: str) -> tuple[ast.Stmt, ...]:
    """The statements of ``text`` written inside a scenario."""
    f = parse(f'scenario "s" {{\n{text}\n}}\n')
    (sc,) = f.items
    assert isinstance(sc, ast.ScenarioDef)
    return sc.body


def stmt(text: str) -> ast.Node:
    """The one statement ``text`` is, parsed inside a scenario."""
    (st,) = body(text)
    assert st.cond is None
    return st.node


def pred(text: str) -> ast.ExpectStmt:
    """``expect text`` parsed."""
    node = stmt(f"expect {text}")
    assert isinstance(node, ast.ExpectStmt)
    return node


def I(v: int) -> ast.Val:  # noqa: E743 - short names keep the expected ASTs readable
    return ast.Val("int", v)


def S(v: int) -> ast.Val:
    return ast.Val("size", v)


def T(v: int) -> ast.Val:
    return ast.Val("time", v)


def Str(v: str) -> ast.Val:
    return ast.Val("str", v)


def N(v: str) -> ast.Val:
    return ast.Val("name", v)


def B(v: bool) -> ast.Val:
    return ast.Val("bool", v)


def compile_text(text: str, path: str = "t.vms") -> list[CompiledScenario]:
    return COMPILER.compile_text(text, path)


def compile_scenario(text: str, gpus: str = GPUS) -> list[CompiledScenario]:
    """Compile ``text`` as the body of one scenario after the two test GPUs."""
    return compile_text(f'{gpus}scenario "s" {{\n{text}\n}}\n')


def error(text: str, path: str = "t.vms") -> VmsError:
    """The VmsError that compiling ``text`` raises."""
    with pytest.raises(VmsError) as info:
        COMPILER.compile_text(text, path)
    return info.value


def scenario_error(text: str, gpus: str = GPUS) -> VmsError:
    """The VmsError of ``text`` as a scenario body after the test GPUs."""
    return error(f'{gpus}scenario "s" {{\n{text}\n}}\n')


# the first line of the scenario body in `compile_scenario` / `scenario_error`
BODY_LINE = GPUS.count("\n") + 2
