"""The run view plugin predicates and metrics receive is read-only: a plugin can read the
run but not erase a deadlock, drop a finding or kill a process (issue 15)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.cli.test_cli import FAILING
from vmcore import hookimpl
from vmcore.dsl.compiler import Compiler
from vmcore.engine.view import ReadOnlyError, RunView
from vmcore.hooks.manager import plugin_manager

ATTACKS: dict[str, Callable[[Any], object]] = {
    "clear the deadlocks": lambda v: v.deadlocks.clear(),
    "clear the sim's deadlocks": lambda v: v.sim.deadlocks.clear(),
    "drop the findings": lambda v: v.monitor.findings.clear(),
    "set a counter": lambda v: v.monitor.counters.__setitem__("faults", 0),
    "replace the monitor": lambda v: setattr(v, "monitor", None),
    "mark the process killed": lambda v: setattr(v.system.processes["app"], "killed", True),
    "call an engine method": lambda v: v.system.kill("app"),
    "set a fault's outcome": lambda v: setattr(v.faults[0], "outcome", "mapped"),
}


class _Attacker:
    def __init__(self, attack: Callable[[Any], object]) -> None:
        self.attack = attack
        self.errors: list[BaseException] = []
        self.seen: dict[str, object] = {}

    @hookimpl
    def vmcore_expect_predicates(self) -> Mapping[str, Callable[..., bool]]:
        def tamper(view: Any) -> bool:
            # reading works: everything the hookspec promises
            self.seen = {
                "deadlocks": len(view.deadlocks),
                "faults": len(view.faults),
                "gpu0": "gpu0" in view.system.gpus,
                "faults metric": view.metric("faults"),
                "first fault gpu": view.faults[0].gpu if len(view.faults) else None,
            }
            try:
                self.attack(view)
            except (ReadOnlyError, AttributeError, TypeError) as e:
                self.errors.append(e)
            return True

        return {"tamper": tamper}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_plugin_predicate_cannot_change_the_verdict(name: str) -> None:
    pm = plugin_manager(entry_points=False)
    plugin = _Attacker(ATTACKS[name])
    pm.register(plugin, name="attacker")
    text = FAILING.replace("    expect no deadlock\n", "    expect tamper\n    expect no deadlock\n")
    (cs,) = Compiler(pm).compile_text(text, "t.vms")
    r = cs.build(pm).run()
    assert plugin.errors, f"{name}: the attack went through"
    assert plugin.seen["deadlocks"] == 1 and plugin.seen["gpu0"] is True
    assert plugin.seen["first fault gpu"] == "gpu0"
    assert r.deadlocks, "the deadlock was erased"
    assert not r.passed
    assert [o.passed for o in r.outcomes] == [True, False]


def test_the_view_reads_lazily_and_refuses_writes_with_a_clear_message() -> None:
    from types import SimpleNamespace

    st = SimpleNamespace(
        deadlocks=[["a", "b"]],
        stalls=[],
        leaks=[],
        monitor=SimpleNamespace(faults=list(range(1_000_000)), findings={"ring": [1]}),
    )

    view = RunView(st)
    assert len(view.faults) == 1_000_000 and view.faults[5] == 5 and view.faults[2:4] == (2, 3)
    assert view.deadlocks == (("a", "b"),)
    with pytest.raises(ReadOnlyError, match="the run view is read-only: cannot set 'x'"):
        view.x = 1
    with pytest.raises(TypeError):
        view.findings["ring"] = []  # type: ignore[index]
