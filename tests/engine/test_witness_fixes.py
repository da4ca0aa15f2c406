"""What a witness shows (issue 15): the steps of a deadlock's cycle up to the wait that
closed it, the monitor's "user fence on page tables" lines only where a scenario asks for
that check, a failed metric expectation in words, and a job that has not started not
called "running"."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import GPU, output, replay_of, run, write
from tests.engine.scenarios import KiB, MiB, base, delayed_entity, fault_path_eviction
from vmcore.engine.witness import explain, steps, trace

USER_FENCE = "user fence on page tables"


def test_the_unmap_of_a_cycle_and_the_wait_that_closes_it_are_steps() -> None:
    r = delayed_entity("delayed-entity").run()
    cycle = r.deadlocks[0]
    assert "app@gpu0 delayed: unmap app@gpu0#2" in cycle
    assert not any("unmap app@gpu0#2" in row[3] for row in r.log)  # the log never shows it
    shown = steps(r)
    actions = [(actor, action, detail) for _, actor, action, detail in shown]
    unmap = actions.index(("app@gpu0 delayed", "pending update", "unmap app@gpu0#2, waiting for fence c1"))
    behind = actions.index(
        ("app@gpu0 delayed", "pending update", "map app@gpu0#3, waiting for fence unmap app@gpu0#2")
    )
    closes = next(i for i, a in enumerate(actions) if a[1] == "waits (deadlock)")
    assert unmap < behind < closes  # in the order they queued up, the closing wait last
    assert actions[closes][0] == cycle[0] == "fault handler gpu0"
    assert actions[closes][2].startswith("for fence map app@gpu0#3")
    # at the moment the monitor saw the wait, just before its line
    assert shown[closes][0] == shown[closes + 1][0] == 1100
    assert actions[closes + 1][1] == "potential deadlock"
    text = trace(r)
    assert "unmap app@gpu0#2" in text and "waits (deadlock)" in text
    assert len(text.splitlines()) == len(shown)


def test_a_job_waiting_to_start_is_a_step_of_the_cycle() -> None:
    r = fault_path_eviction("evict-lru").run()
    actions = [(actor, action, detail) for _, actor, action, detail in steps(r)]
    assert ("vcn0", "pending job", "m1, waiting for fence c1") in actions
    assert (
        "fault handler gpu0",
        "waits (deadlock)",
        "for fence m1: this wait closes the wait-for cycle",
    ) in actions
    assert actions[-1][1] == "potential deadlock"


def test_user_fence_lines_only_where_the_scenario_asks_for_that_check() -> None:
    r = fault_path_eviction("evict-lru").run()  # queues = "cs": every job's fence is on the PTs
    assert any(row[2] == USER_FENCE for row in r.log)
    assert USER_FENCE not in trace(r) and USER_FENCE not in explain(r)
    for negate in (False, True):
        s = base("asks")
        s.process("app", ["gpu0"])
        s.svm("app", 0x4000_0000, 1 * MiB, "system")
        s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * KiB))
        s.run_until_idle()
        s.expect(USER_FENCE, negate=not negate)  # `expect no user fence ...` / `expect user fence ...`
        asked = s.run()
        assert USER_FENCE in trace(asked) and USER_FENCE in explain(asked)


def test_a_job_that_has_not_started_is_not_called_running() -> None:
    r = fault_path_eviction("evict-lru").run()
    cycle = r.deadlocks[0]
    assert "vcn0 waiting to start m1" in cycle  # the graph's name for the head of vcn0's queue
    assert not any(action == "start" and detail == "m1" for _, _, action, detail in r.log)
    text = explain(r)
    assert "running job m1" not in text
    assert "job m1, not yet started on engine vcn0" in text
    assert "engine comp0, running job c1" in text  # c1 did start


def test_a_failed_metric_expectation_is_told_with_its_value_and_bound() -> None:
    s = base("metric")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 4 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * MiB))
    s.run_until_idle()
    s.expect("metric", "migrations", "<", 2, line=7)
    s.expect("metric", "faults", "<", 5, negate=True, line=8)
    text = explain(s.run())
    assert "Expectation `expect migrations < 2` (line 7) failed: migrations is 2, not < 2." in text
    assert "Expectation `expect not faults < 5` (line 8) failed: faults is 2, which is < 5." in text
    assert "Nothing went wrong" not in text


METRIC = (
    GPU
    + 'scenario "too many migrations" {\n    process app on gpu0\n    svm app 0x4000_0000 +4MiB in system\n'
    "    job c1 on comp0 by app touches 0x4000_0000 +4MiB\n    run until idle\n"
    "    expect migrations < 2\n}\n"
)


def test_vmcore_explain_of_a_failed_metric_says_what_failed(tmp_path: Path) -> None:
    write(tmp_path / "m.vms", METRIC)
    p = run("test", "m.vms", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    argv = replay_of(p.stdout)
    assert "--replay" in argv, p.stdout
    e = run("explain", argv[argv.index("--replay") + 1], cwd=tmp_path)
    assert e.returncode == 0, output(e)
    line = GPU.count("\n") + 6
    assert f"Expectation `expect migrations < 2` (line {line}) failed: migrations is 2, not < 2." in e.stdout
    assert "Nothing went wrong" not in e.stdout


def test_a_large_metric_value_is_written_in_full() -> None:
    from vmcore.dsl.compiler import Compiler
    from vmcore.hooks.manager import plugin_manager

    pm = plugin_manager(entry_points=False)
    text = (
        "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n"
        'scenario "s" {\n  process app on gpu0\n  svm app 0x4000_0000 +4MiB in system\n'
        "  job c on comp0 by app touches 0x4000_0000 +4MiB\n  run until idle\n  expect bytes_moved < 1\n}\n"
    )
    (cs,) = Compiler(pm).compile_text(text)
    r = cs.build(pm).run()
    (o,) = r.outcomes
    assert not o.passed and o.why == "bytes_moved is 4194304", o.why  # not 4.1943e+06
