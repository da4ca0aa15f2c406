"""The vms fixture of vmcore.testing, as a plugin author uses it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vmcore.hooks.decisions import FaultAction, FaultInfo
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies import Policy
from vmcore.testing import VmsRun


class DummyReads(Policy):
    family = "fault"
    name = "dummy-reads"

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        return FaultAction.KILL if fault.write else FaultAction.DUMMY


class Plugin:
    @hookimpl
    def vmcore_policies(self) -> list[type[Policy]]:
        return [DummyReads]


TEXT = """
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
}
scenario "stray access" for W in [false, true] {
    policy fault = "dummy-reads"
    process app on gpu0
    job c1 on comp0 by app touches 0x1000_0000 +4KiB write if W == true
    job c1 on comp0 by app touches 0x1000_0000 +4KiB if W == false
    run until idle
    expect app alive if W == false
    expect app killed if W == true
}
"""


def test_the_fixture_runs_a_scenario_with_a_plugin(vms: Callable[..., VmsRun]) -> None:
    run = vms(TEXT, plugins=[Plugin()])
    run.assert_passed()
    assert run["stray access[false]"].passed and run["stray access[true]"].passed
    assert run.path.read_text().startswith("gpu gpu0")


def test_a_failing_scenario_fails_with_vmcores_report(vms: Callable[..., VmsRun]) -> None:
    run = vms(
        TEXT.replace("expect app alive if W == false", "expect app killed if W == false"), plugins=[Plugin()]
    )
    assert not run.passed
    with pytest.raises(pytest.fail.Exception, match=r"scenario\d\.vms:\d+: expect app killed"):
        run.assert_passed()
    with pytest.raises(KeyError, match="no scenario 'nope'"):
        run["nope"]
