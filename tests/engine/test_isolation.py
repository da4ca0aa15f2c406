"""Buggy plugins fail only their own scenario, named, with the hook and traceback."""

from __future__ import annotations

import time

from tests.engine.scenarios import KiB, MiB
from vmcore.engine import Scenario
from vmcore.hooks.decisions import FaultAction, FaultInfo
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies import Policy


class Hangs(Policy):
    family = "fault"
    name = "hangs"

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        while True:  # a bug: never returns
            time.sleep(0.01)


class Plugin:
    @hookimpl
    def vmcore_policies(self) -> list[type[Policy]]:
        return [Hangs]


class BrokenObserver:
    @hookimpl
    def vmcore_event(self, time: int, actor: str, action: str, detail: str) -> None:
        if action == "fault":
            raise KeyError(detail)


def scenario(policy: str, pm: object) -> Scenario:
    s = Scenario("unmapped", plugins=pm, max_seconds=0.5)  # type: ignore[arg-type]
    s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False)])
    s.policy("fault", policy)
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("killed", "app")
    return s


def test_a_hook_that_never_returns_fails_its_scenario_naming_policy_and_hook() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(Plugin(), name="hanging-plugin")
    t0 = time.perf_counter()
    r = scenario("hangs", pm).run()
    assert time.perf_counter() - t0 < 5
    assert not r.passed
    msg = r.failures[0]
    assert "'hangs'" in msg and "vmcore_fault_action did not return" in msg
    assert "time.sleep" in msg  # where it was stuck
    # the next scenario runs normally with the same plugin manager
    assert scenario("map-or-kill", pm).run().passed


def test_an_observer_that_raises_fails_its_scenario_with_the_traceback() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(BrokenObserver(), name="broken-observer")
    r = scenario("map-or-kill", pm).run()
    assert not r.passed
    assert "an observer of vmcore_event raised KeyError" in r.failures[0]
    assert "Traceback" in r.failures[0]


def test_policies_see_snapshots_not_engine_state() -> None:
    seen: list[object] = []

    class Spy(Policy):
        family = "fault"
        name = "spy"

        @hookimpl
        def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
            seen.append(fault)
            return FaultAction.KILL

    class SpyPlugin:
        @hookimpl
        def vmcore_policies(self) -> list[type[Policy]]:
            return [Spy]

    pm = plugin_manager(entry_points=False)
    pm.register(SpyPlugin(), name="spy")
    assert scenario("spy", pm).run().passed
    (req,) = seen
    assert isinstance(req, FaultInfo)
    try:
        req.address = 0  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover - a mutable request would let a policy reach into the run
        raise AssertionError("decision requests must be frozen")
