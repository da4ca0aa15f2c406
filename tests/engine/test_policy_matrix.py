"""Every built-in policy runs every bundled scenario without an internal error.

Outcomes differ by design (that is what the scenarios show); what must never happen is
a Python exception escaping the engine or an engine error instead of a verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vmcore.dsl.compiler import Compiler
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies import FAMILIES

ROOT = Path(__file__).resolve().parent.parent.parent
PM = plugin_manager(entry_points=False)
ITEMS = [c for f in sorted((ROOT / "scenarios").glob("*.vms")) for c in Compiler(PM).compile_path(f)]
CASES = [(fam, cls.name) for fam, classes in FAMILIES.items() for cls in classes]


def test_the_matrix_covers_the_bundled_scenarios() -> None:
    assert len(ITEMS) >= 25


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}={n}" for f, n in CASES])
def test_policy_runs_every_scenario(family: str, name: str) -> None:
    for item in ITEMS:
        scenario = item.build(PM)  # one schedule each: only internal errors matter here
        scenario.policy(family, name)  # after the scenario's own policy statements: it wins
        r = scenario.run()
        internal = [
            f
            for f in r.failures
            if f.split(":", 1)[0] in ("EngineError", "CoreError", "StateError", "BadHandle")
        ]
        assert not internal, (item.id, internal)
