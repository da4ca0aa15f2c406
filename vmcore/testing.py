"""``vmcore.testing``: a pytest plugin for plugin authors.

The ``vms`` fixture writes a .vms file beside the test (in its tmp_path), compiles it with
vmcore's built-in policies plus the plugins you name, runs every scenario in-process
(explored when the scenario says ``explore``) and returns the outcomes::

    def test_my_policy(vms):
        run = vms('''
            gpu gpu0 { vram 16MiB; engine comp0 compute retry }
            scenario "stray read" {
                policy fault = "kill-writes"
                process app on gpu0
                job c1 on comp0 by app touches 0x1000_0000 +4KiB
                run until idle
                expect app alive
            }
        ''', plugins=[my_plugin_module])
        run.assert_passed()
        assert run["stray read"].passed

Registered under the ``pytest11`` entry point, so installing vmcore makes it available.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vmcore.cli.report import failure_text
from vmcore.cli.session import run_compiled
from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.engine.explore import Exploration
from vmcore.hooks.manager import plugin_manager


@dataclass
class VmsRun:
    """The outcome of every scenario id of one .vms text."""

    path: Path
    items: list[CompiledScenario]
    results: dict[str, Exploration] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Exploration:
        """By scenario name, or ``name[value]`` for one value of a ``for`` loop."""
        for item in self.items:
            short = item.short_id
            if name in (short, item.name):
                return self.results[item.id]
        raise KeyError(f"no scenario {name!r} (have: {', '.join(i.short_id for i in self.items)})")

    @property
    def passed(self) -> bool:
        return all(ex.passed for ex in self.results.values())

    def assert_passed(self) -> None:
        """Fail the test with vmcore's own failure report for every failing id."""
        bad = [
            failure_text(item, self.results[item.id])
            for item in self.items
            if not self.results[item.id].passed
        ]
        if bad:
            pytest.fail("\n\n".join(bad), pytrace=False)


@pytest.fixture
def vms(tmp_path: Path) -> Iterator[Callable[..., VmsRun]]:
    """Run .vms text with the given plugins (modules or objects) and return the outcomes."""
    counter = iter(range(1_000_000))

    def run(text: str, plugins: Iterable[Any] = (), seed: int = 0, name: str | None = None) -> VmsRun:
        pm = plugin_manager(entry_points=False)
        for plugin in plugins:
            if not pm.is_registered(plugin):
                pm.register(plugin, name=getattr(plugin, "__name__", None) or type(plugin).__name__)
        path = tmp_path / (name or f"scenario{next(counter)}.vms")
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        items = Compiler(pm).compile_path(path)
        out = VmsRun(path, items)
        for item in items:
            out.results[item.id] = run_compiled(item, pm, seed=seed)
        return out

    yield run
