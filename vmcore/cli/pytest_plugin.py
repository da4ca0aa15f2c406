"""pytest plugin: plain ``pytest`` collects .vms files and runs their scenarios.

Registered under the ``pytest11`` entry point, so installing vmcore is enough.  Each
scenario id (``name[value]`` for a ``for`` loop) is a test item; a failure is reported
as the expectation, its line, the end of the event log and the replay command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vmcore.cli.report import failure_text
from vmcore.cli.session import run_compiled
from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.dsl.errors import VmsError
from vmcore.errors import VmcoreError
from vmcore.hooks.manager import plugin_manager


class VmsFailure(Exception):
    """A scenario whose expectations did not hold."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vmcore")
    group.addoption("--vmcore-seed", type=int, default=0, help="seed for explored .vms scenarios")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".vms":
        f: VmsFile = VmsFile.from_parent(parent, path=file_path)
        return f
    return None


class VmsFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        pm = plugin_manager()
        try:
            compiled = Compiler(pm).compile_path(self.path)
        except VmsError as e:
            raise self.CollectError(str(e)) from None
        for cs in compiled:
            yield VmsItem.from_parent(self, name=cs.short_id, scenario=cs, pm=pm)


class VmsItem(pytest.Item):
    def __init__(self, *, scenario: CompiledScenario, pm: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.pm = pm

    def runtest(self) -> None:
        seed = int(self.config.getoption("vmcore_seed") or 0)
        try:
            ex = run_compiled(self.scenario, self.pm, seed=seed)
        except VmcoreError as e:
            raise VmsFailure(f"{self.scenario.path}:{self.scenario.line}: {e}") from None
        if not ex.passed:
            raise VmsFailure(
                failure_text(self.scenario, ex)
                + f"\nreplay: vmcore test '{self.scenario.path}::{self.name}' --seed {seed}"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VmsFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"scenario: {self.name}"
