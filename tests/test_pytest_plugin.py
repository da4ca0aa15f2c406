"""Plain pytest collects .vms files through the vmcore plugin (entry point pytest11)."""

from __future__ import annotations

import pytest

GOOD = """
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
}

scenario "unmapped address kills" for P in ["map-or-kill", "silence-retry"] {
    policy fault = P
    process app on gpu0
    job c1 on comp0 by app touches 0x7000_0000 +8KiB
    run until idle
    expect app killed if P == "map-or-kill"
    expect stall if P == "silence-retry"
}
"""

BAD = GOOD.replace('expect app killed if P == "map-or-kill"', 'expect app alive if P == "map-or-kill"')


def test_pytest_collects_and_runs_vms_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vms", faults=GOOD)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "*faults.vms::unmapped address kills?map-or-kill? PASSED*",
            "*faults.vms::unmapped address kills?silence-retry? PASSED*",
        ]
    )
    result.assert_outcomes(passed=2)


def test_failure_report_names_expectation_line_and_replay(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vms", faults=BAD)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*faults.vms:11: expect app alive*",
            "*was killed: no-retry fault at 0x70000000*",
            "event log (last events):",
            "replay: vmcore test *faults.vms::unmapped address kills[[]map-or-kill[]]*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_syntax_error_is_a_readable_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vms", broken="gpu gpu0 {\n    vram 16MiB\n    engine comp0 quantum\n}\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        ["*broken.vms:3:18: unexpected 'quantum'*", "*^*", "*expected an engine kind*"]
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED or result.ret == pytest.ExitCode.TESTS_FAILED
