"""What a pytest user expects of the command line (issue 15): exit 5 when -k selects
nothing, bounded --explore/--depth/--seed, ``python -m vmcore``, and a plugin that calls
``sys.exit()`` reported as that plugin's error rather than ending the session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import GPU, output, run, write

EXITING = """\
import sys

from vmcore import FaultAction, Policy, hookimpl


class Exits(Policy):
    family = "fault"
    name = "test-exits"

    @hookimpl
    def vmcore_fault_action(self, fault):
        sys.exit(0)


@hookimpl
def vmcore_policies():
    return [Exits]
"""

UNMAPPED = (
    GPU
    + 'scenario "unmapped" {\n    process app on gpu0\n    job c1 on comp0 by app touches 0x7000_0000 +8KiB\n'
    "    run until idle\n    expect app killed\n}\n"
    + 'scenario "quiet" {\n    process app on gpu0\n    expect app alive\n}\n'
)


def test_a_plugin_calling_sys_exit_fails_its_run_and_the_session_goes_on(tmp_path: Path) -> None:
    write(tmp_path / "exiting.py", EXITING)
    write(tmp_path / "u.vms", UNMAPPED)
    env = {"PYTHONPATH": str(tmp_path), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = run(
        "test", "u.vms", "-p", "exiting", "--policy", "fault=test-exits", "--junitxml", "j.xml",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert p.returncode == 1, output(p)
    assert "u.vms::unmapped ERROR" in p.stdout and "u.vms::quiet PASSED" in p.stdout
    assert "vmcore_fault_action raised SystemExit" in p.stdout
    assert "1 passed, 0 failed, 1 error" in p.stdout
    assert (tmp_path / "j.xml").exists()


def test_a_plugin_hook_that_raises_is_an_error_with_its_traceback_printed_once(tmp_path: Path) -> None:
    body = EXITING.replace("sys.exit(0)", 'raise RuntimeError("boom in the plugin")')
    write(tmp_path / "raising.py", body.replace("test-exits", "test-raises"))
    write(tmp_path / "u.vms", UNMAPPED.replace("    process app on gpu0\n    job", "    explore 5\n    process app on gpu0\n    job", 1))
    env = {"PYTHONPATH": str(tmp_path), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = run(
        "test", "u.vms", "-p", "raising", "--policy", "fault=test-raises", "--junitxml", "j.xml",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert p.returncode == 1, output(p)
    assert "u.vms::unmapped ERROR (5 schedules" in p.stdout
    assert "error: policy fault = 'test-raises': hook vmcore_fault_action raised RuntimeError: boom" in p.stdout
    assert p.stdout.count("Traceback (most recent call last)") == 1, p.stdout
    assert p.stdout.count('raise RuntimeError("boom in the plugin")') == 1
    assert "never reached" not in p.stdout  # the expectations it left unjudged are not failures
    assert "1 passed, 0 failed, 1 error" in p.stdout
    xml = (tmp_path / "j.xml").read_text()
    assert "<error" in xml and "boom in the plugin" in xml


def test_k_that_selects_nothing_exits_5_as_pytest(tmp_path: Path) -> None:
    write(tmp_path / "u.vms", UNMAPPED)
    p = run("test", "u.vms", "-k", "nothing_is_called_that", cwd=tmp_path)
    assert p.returncode == 5, output(p)
    assert "no scenarios selected: -k 'nothing_is_called_that' matched none of 2" in p.stdout
    assert run("test", "u.vms", "-k", "quiet", cwd=tmp_path).returncode == 0


def test_explore_depth_and_seed_are_bounded_on_the_command_line(tmp_path: Path) -> None:
    write(tmp_path / "u.vms", UNMAPPED)
    for args, says in (
        (["--explore", "0"], "argument --explore: 0 is out of range 1..1,000,000"),
        (["--explore", "2000000"], "out of range 1..1,000,000"),
        (["--depth", "65"], "argument --depth: 65 is out of range 0..64"),
        (["--seed", "-1"], "argument --seed: -1 is out of range"),
        (["--seed", "lots"], "argument --seed: 'lots' is not an integer"),
    ):
        p = run("test", "u.vms", *args, cwd=tmp_path)
        assert p.returncode == 2 and says in p.stderr, (args, output(p))
        assert "Traceback" not in p.stderr
    p = run("compare", "u.vms", "--policy", "fault=map-or-kill", "--depth", "99", cwd=tmp_path)
    assert p.returncode == 2 and "out of range 0..64" in p.stderr, output(p)


def test_python_dash_m_vmcore_is_the_command(tmp_path: Path) -> None:
    write(tmp_path / "u.vms", UNMAPPED)
    p = subprocess.run(
        [sys.executable, "-m", "vmcore", "test", "u.vms"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 passed, 0 failed" in p.stdout


DYING = EXITING.replace("sys.exit(0)", "import os; os._exit(3)").replace("test-exits", "test-dies")


def test_a_worker_that_dies_costs_only_its_scenario(tmp_path: Path) -> None:
    write(tmp_path / "dying.py", DYING)
    text = UNMAPPED.replace('scenario "unmapped" {\n', 'scenario "unmapped" {\n    policy fault = "test-dies"\n')
    text += "".join(f'scenario "q{i}" {{\n    process app on gpu0\n    expect app alive\n}}\n' for i in range(4))
    write(tmp_path / "u.vms", text)
    env = {"PYTHONPATH": str(tmp_path), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = run("test", "u.vms", "-p", "dying", "-n", "2", "--junitxml", "j.xml", cwd=tmp_path, env=env, timeout=60)
    assert p.returncode == 1, output(p)
    assert "u.vms::unmapped ERROR" in p.stdout, output(p)
    assert "worker process running it died (exit code 3)" in p.stdout
    assert "5 passed, 0 failed, 1 error" in p.stdout, output(p)
    junit = (tmp_path / "j.xml").read_text()
    assert 'tests="6"' in junit and "died (exit code 3)" in junit


MISSPELLED = """\
from vmcore import FaultAction, Policy, hookimpl


class Typo(Policy):
    family = "fault"
    name = "test-typo"

    @hookimpl
    def vmcore_falut_action(self, fault):
        return FaultAction.DUMMY_PAGE


@hookimpl
def vmcore_policies():
    return [Typo]


@hookimpl
def vmcore_evnet(time, actor, action, detail):
    pass
"""


def test_a_misspelled_hook_is_a_warning_at_load_time_and_an_error_when_strict(tmp_path: Path) -> None:
    write(tmp_path / "typo.py", MISSPELLED)
    write(tmp_path / "u.vms", UNMAPPED)
    env = {"PYTHONPATH": str(tmp_path), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = run("test", "u.vms", "-p", "typo", cwd=tmp_path, env=env)
    assert p.returncode == 0, output(p)
    assert (
        "vmcore: warning: policy fault = 'test-typo' (typo.Typo): vmcore_falut_action is no vmcore hook, "
        "so it is never called; did you mean vmcore_fault_action?" in p.stderr
    ), p.stderr
    assert "implements none of its family's hooks (vmcore_fault_action)" in p.stderr
    assert "plugin 'typo': vmcore_evnet is no vmcore hook, so it is never called; did you mean vmcore_event?" in p.stderr
    strict = run("test", "u.vms", "-p", "typo", cwd=tmp_path, env={**env, "VMCORE_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2, output(strict)
    assert "vmcore: error:" in strict.stderr and "vmcore_falut_action" in strict.stderr
    assert "Traceback" not in strict.stderr


def test_fmt_keeps_symlinks_hard_links_mode_and_quotes(tmp_path: Path) -> None:
    import os
    import stat

    messy = 'gpu g { vram 16MiB\n engine c compute retry }\nscenario "s" {\n process app on g\n expect app alive }\n'
    write(tmp_path / "real.vms", messy)
    (tmp_path / "link.vms").symlink_to("real.vms")
    os.link(tmp_path / "real.vms", tmp_path / "hard.vms")
    os.chmod(tmp_path / "real.vms", 0o640)
    write(tmp_path / "alone.vms", messy)
    os.chmod(tmp_path / "alone.vms", 0o604)
    write(tmp_path / "q.vms", 'use "a\\"b\\\\c.vms"\n')
    for name in ("link.vms", "alone.vms", "q.vms"):
        p = run("fmt", name, cwd=tmp_path)
        assert p.returncode == 0, output(p)
    assert (tmp_path / "link.vms").is_symlink()
    real = (tmp_path / "real.vms").stat()
    assert real.st_nlink == 2 and real.st_ino == (tmp_path / "hard.vms").stat().st_ino
    assert (tmp_path / "hard.vms").read_text() == (tmp_path / "real.vms").read_text() != messy
    assert stat.S_IMODE(real.st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "alone.vms").stat().st_mode) == 0o604
    assert (tmp_path / "alone.vms").read_text() != messy
    assert (tmp_path / "q.vms").read_text() == 'use "a\\"b\\\\c.vms"\n'
    assert run("fmt", "--check", "q.vms", "link.vms", cwd=tmp_path).returncode == 0


def test_control_characters_in_a_scenario_name_leave_the_junit_xml_parseable(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    write(tmp_path / "c.vms", GPU + 'scenario "bell\x07 and \x01" {\n    process app on gpu0\n    expect app killed\n}\n')
    p = run("test", "c.vms", "--junitxml", "c.xml", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    root = ET.parse(tmp_path / "c.xml").getroot()
    (case,) = root.iter("testcase")
    assert case.get("name") == "bell\\x07 and \\x01"


def test_an_output_that_cannot_be_written_leaves_the_others_written(tmp_path: Path) -> None:
    write(tmp_path / "u.vms", UNMAPPED)
    (tmp_path / "adir").mkdir()
    p = run("test", "u.vms", "--explore", "2", "--trace", "adir", "--junitxml", "j.xml", "--json", "adir", cwd=tmp_path)
    assert p.returncode == 2, output(p)
    assert "vmcore: error: cannot write --trace adir: Is a directory" in p.stderr
    assert "vmcore: error: cannot write --json adir: Is a directory" in p.stderr
    assert "Traceback" not in p.stderr
    assert (tmp_path / "j.xml").read_text().count("<testcase") == 2


def test_sigterm_ends_the_session_with_its_summary_and_reports(tmp_path: Path) -> None:
    import os
    import signal
    import time

    many = GPU + "".join(
        f'scenario "s{i}" {{\n    explore 400\n    process app on gpu0\n    svm app 0x4000_0000 +1MiB in system {{ granularity 4KiB }}\n'
        f"    job c on comp0 by app touches 0x4000_0000 +1MiB\n    run until idle\n    expect app alive\n}}\n"
        for i in range(20)
    )
    write(tmp_path / "long.vms", many)
    env = {**os.environ, "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vmcore", "test", "long.vms", "--junitxml", "j.xml"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # the header: the session is running
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted: the summary so far follows" in out, out
    assert (tmp_path / "j.xml").exists()
    assert "Traceback" not in err
