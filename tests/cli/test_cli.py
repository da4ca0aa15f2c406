"""The ``vmcore`` command line, run as a subprocess the way users run it.

Every test runs ``python -m vmcore.cli`` in a directory of its own (``tmp_path``) or in
the repository root, found from this file, so nothing depends on where the repository
lives on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import vmcore
from vmcore.hooks.policies import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

GPU = """\
gpu gpu0 {
    vram 16MiB
    gtt 1GiB
    engine comp0 compute retry
    engine vcn0 mm
    engine sdma0 sdma
}
"""

# The fault-path eviction case of scenarios/03-fault-path-allocation.vms without its
# policy statements: no deadlock under the defaults (c1 is a KFD user queue, so m1 is
# submitted once c1 completed, and video holds only app's eviction fence), a deadlock
# with amdgpu_cs jobs (queues = "cs": video carries m1's fence, and the SVM fault path
# waits for it, under alloc = "ttm" as under "evict-lru").
EVICTION = (
    GPU
    + """
scenario "fault-path eviction" {
    process app on gpu0 { retry_faults on }
    svm app 0x4000_0000 +1MiB in system
    bo video in gpu0.vram size 15MiB owner app
    job c1 on comp0 by app touches 0x4000_0000 +64KiB
    job m1 on vcn0 by app uses video write after c1
    run until idle
    expect no deadlock
}
"""
)

FAILING = EVICTION.replace(
    "    process app on gpu0 { retry_faults on }",
    '    policy queues = "cs"\n    policy alloc = "evict-lru"\n    process app on gpu0 { retry_faults on }',
)


def quick(name: str, expectation: str) -> str:
    """A scenario that runs in no time: one process, nothing to do."""
    return (
        f'scenario "{name}" {{\n    process app on gpu0\n    run until idle\n    expect {expectation}\n}}\n'
    )


def vmcore_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "vmcore.cli", *args]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    # Installed third-party plugins (entry points) must not change what these tests see;
    # a test that is about autoloading passes VMCORE_DISABLE_PLUGIN_AUTOLOAD itself.
    full_env = {**os.environ, "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run(
        vmcore_cmd(*args), cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_many(
    cwd: Path, *argvs: Sequence[str], env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Independent runs at the same time (each vmcore start-up costs a few hundred ms)."""
    with ThreadPoolExecutor(max_workers=len(argvs)) as pool:
        return list(pool.map(lambda a: run(*a, cwd=cwd, env=env), argvs))


def output(p: subprocess.CompletedProcess[str]) -> str:
    return p.stdout + p.stderr


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in output(p), output(p)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- the program ------------------------------------------------------------------------
def test_version(tmp_path: Path) -> None:
    p = run("--version", cwd=tmp_path)
    assert p.returncode == 0
    assert p.stdout.strip() == f"vmcore {vmcore.__version__}"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    p = run("--help", cwd=tmp_path)
    assert p.returncode == 0
    for command in ("test", "compare", "check", "fmt", "plugins", "demo"):
        assert re.search(rf"^\s+{command}\s", p.stdout, re.MULTILINE), command
    assert "exit codes" in p.stdout


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    p = run("test", "--no-such-option", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)


# -- vmcore test ------------------------------------------------------------------------
def test_the_bundled_scenarios_pass() -> None:
    p = run("test", "scenarios", cwd=ROOT)
    assert p.returncode == 0, output(p)
    header = re.search(r"^vmcore test: (\d+) scenario\(s\) from (\d+) file\(s\)", p.stdout, re.MULTILINE)
    summary = re.search(r"^(\d+) passed, 0 failed in ", p.stdout, re.MULTILINE)
    assert header and summary, p.stdout
    assert int(summary.group(1)) == int(header.group(1)) > 0
    assert p.stdout.count(" PASSED") == int(header.group(1))
    assert "FAILED" not in p.stdout


def replay_of(out: str) -> list[str]:
    """The argv of the failure's ``replay:`` line, ``vmcore`` replaced by this interpreter."""
    replay = re.search(r"^replay: (.+)$", out, re.MULTILINE)
    assert replay, out
    argv = shlex.split(replay.group(1))
    assert argv[:2] == ["vmcore", "test"], argv
    return argv


def run_replay(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run(*argv[1:], cwd=cwd, env=env)


def test_a_failure_is_reported_and_its_replay_line_reproduces_it(tmp_path: Path) -> None:
    f = write(tmp_path / "fail.vms", FAILING)
    p = run("test", "fail.vms", cwd=tmp_path)
    out = p.stdout
    assert p.returncode == 1, output(p)
    assert "fail.vms::fault-path eviction FAILED" in out
    assert "0 passed, 1 failed" in out
    line = line_of(FAILING, "expect no deadlock")
    assert f"fail.vms:{line}: expect no deadlock" in out
    cycle = re.search(r"^\s+deadlock: (fault handler gpu0 -> .*)$", out, re.MULTILINE)
    assert cycle, out
    # the events of the schedule that failed: simulated time, actor, action, detail
    events = re.findall(r"^\s*(?:\d+\.)?\s+\d+ ns\s+\S.*$", out, re.MULTILINE)
    assert len(events) >= 3, out
    assert any("fault" in e for e in events)

    again = run_replay(replay_of(out), tmp_path)
    assert again.returncode == 1, output(again)
    assert "expect no deadlock" in again.stdout
    assert f"line {line}" in again.stdout or f"fail.vms:{line}:" in again.stdout
    assert cycle.group(1) in again.stdout
    assert "0 passed, 1 failed" in again.stdout
    no_traceback(again)
    assert f.read_text(encoding="utf-8") == FAILING


def test_an_explored_failure_replays_too(tmp_path: Path) -> None:
    write(tmp_path / "fail.vms", FAILING)
    p = run("test", "fail.vms", "--explore", "3", "--strategy", "pct", "--seed", "5", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    assert "(3 schedules, pct" in p.stdout
    cycle = re.search(r"deadlock: (fault handler gpu0 -> .*)$", p.stdout, re.MULTILINE)
    assert cycle
    again = run_replay(replay_of(p.stdout), tmp_path)
    assert again.returncode == 1, output(again)
    assert cycle.group(1) in again.stdout


def test_without_a_witness_file_the_replay_line_is_the_command_line(tmp_path: Path) -> None:
    # `.vmcore` is a file, so no witness can be saved under .vmcore/witnesses: the replay
    # line must then carry everything that decides the run, exploration options included
    write(tmp_path / ".vmcore", "in the way\n")
    write(tmp_path / "fail.vms", FAILING)
    p = run(
        "test", "fail.vms", "--explore", "3", "--strategy", "pct", "--depth", "1", "--seed", "5", cwd=tmp_path
    )
    assert p.returncode == 1, output(p)
    argv = replay_of(p.stdout)
    assert argv[2] == "fail.vms::fault-path eviction"
    for opt, value in (("--explore", "3"), ("--strategy", "pct"), ("--depth", "1"), ("--seed", "5")):
        assert argv[argv.index(opt) + 1] == value, argv
    again = run_replay(argv, tmp_path)
    assert again.returncode == 1
    assert "(3 schedules, pct" in again.stdout


def test_a_syntax_error_exits_2_with_place_and_caret(tmp_path: Path) -> None:
    text = (
        GPU
        + 'scenario "broken" {\n    process app on gpu0\n    job j on comp0 by app touches 0x4000_0000 64KiB\n}\n'
    )
    write(tmp_path / "broken.vms", text)
    line = line_of(text, "touches")
    col = text.splitlines()[line - 1].index("64KiB") + 1
    for p in run_many(tmp_path, ["test", "broken.vms"], ["check", "broken.vms"]):
        assert p.returncode == 2, output(p)
        no_traceback(p)
        out = output(p)
        assert f"broken.vms:{line}:{col}: " in out
        lines = out.splitlines()
        at = next(i for i, s in enumerate(lines) if s.endswith("touches 0x4000_0000 64KiB"))
        caret = lines[at + 1]
        assert caret.strip() == "^"
        assert caret.index("^") == lines[at].index("64KiB")
        assert "expected" in out


def test_an_unknown_name_gets_a_suggestion(tmp_path: Path) -> None:
    text = GPU + 'scenario "typo" {\n    process app on gpu0\n    job j on comp9 by app\n}\n'
    write(tmp_path / "typo.vms", text)
    p = run("check", "typo.vms", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert f"typo.vms:{line_of(text, 'comp9')}:" in p.stderr
    assert "did you mean 'comp0'?" in p.stderr


def test_one_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path / "a.vms", GPU + quick("fine", "app alive"))
    write(tmp_path / "b.vms", "gpu g {\n")
    p = run("test", ".", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert "a.vms::fine PASSED" in p.stdout
    assert "1 passed, 0 failed, 1 error" in p.stdout


def test_k_selects_by_expression(tmp_path: Path) -> None:
    write(
        tmp_path / "many.vms",
        GPU
        + quick("alpha one", "app alive")
        + quick("beta two", "app alive")
        + quick("gamma three", "app alive"),
    )
    p, q, bad = run_many(
        tmp_path,
        ["test", "many.vms", "-k", "alpha or gamma"],
        ["test", "many.vms", "-k", "not (beta or ALPHA)"],
        ["test", "many.vms", "-k", "alpha and ("],
    )
    assert p.returncode == 0, output(p)
    assert "2 passed, 0 failed" in p.stdout
    assert "beta" not in p.stdout
    assert "many.vms::gamma three PASSED" in q.stdout
    assert "1 passed, 0 failed" in q.stdout
    assert bad.returncode == 2
    no_traceback(bad)


def test_a_selector_runs_one_id(tmp_path: Path) -> None:
    text = GPU + quick("looped", "app alive").replace('"looped"', '"looped" for V in ["a", "b"]')
    write(tmp_path / "loop.vms", text)
    p = run("test", "loop.vms::looped[b]", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert "loop.vms::looped[b] PASSED" in p.stdout
    assert "1 passed, 0 failed" in p.stdout
    p = run("test", "loop.vms::nope", cwd=tmp_path)
    assert p.returncode == 2


def test_x_stops_at_the_first_failure(tmp_path: Path) -> None:
    write(tmp_path / "two.vms", GPU + quick("first", "app killed") + quick("second", "app killed"))
    all_, p = run_many(tmp_path, ["test", "two.vms"], ["test", "two.vms", "-x"])
    assert all_.returncode == 1
    assert "0 passed, 2 failed" in all_.stdout
    assert p.returncode == 1
    assert "0 passed, 1 failed" in p.stdout
    assert "second" not in p.stdout


def test_q_shows_only_failures_and_the_summary(tmp_path: Path) -> None:
    write(tmp_path / "mixed.vms", GPU + quick("good", "app alive") + quick("bad", "app killed"))
    p = run("test", "mixed.vms", "-q", cwd=tmp_path)
    assert p.returncode == 1
    assert "good" not in p.stdout
    assert "mixed.vms::bad FAILED" in p.stdout
    assert "1 passed, 1 failed" in p.stdout


def test_v_shows_every_verdict(tmp_path: Path) -> None:
    write(tmp_path / "v.vms", GPU + quick("good", "app alive"))
    p = run("test", "v.vms", "-v", cwd=tmp_path)
    assert p.returncode == 0
    assert re.search(r"^\s+ok\s+expect app alive \(line \d+\): app is alive$", p.stdout, re.MULTILINE), (
        p.stdout
    )


def test_junitxml_records_passes_and_failures(tmp_path: Path) -> None:
    write(tmp_path / "mixed.vms", GPU + quick("good", "app alive") + quick("bad", "app killed"))
    report = tmp_path / "out" / "report.xml"
    p = run("test", "mixed.vms", "--junitxml", str(report), cwd=tmp_path)
    assert p.returncode == 1
    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"good", "bad"}
    assert cases["good"].find("failure") is None
    failure = cases["bad"].find("failure")
    assert failure is not None
    assert "expect app killed" in (failure.get("message") or "")
    assert "replay: " in (failure.text or "")
    assert cases["bad"].get("classname") == "mixed.vms"


def test_durations_lists_the_slowest(tmp_path: Path) -> None:
    write(
        tmp_path / "three.vms",
        GPU + quick("a", "app alive") + quick("b", "app alive") + quick("c", "app alive"),
    )
    p = run("test", "three.vms", "--durations", "2", cwd=tmp_path)
    assert p.returncode == 0
    after = p.stdout.split("slowest 2 durations", 1)[1].splitlines()[1:]
    timed = [s for s in after if re.match(r"^\s*\d+\.\d+s three\.vms::", s)]
    assert len(timed) == 2, p.stdout


def test_policy_option_changes_the_outcome(tmp_path: Path) -> None:
    write(tmp_path / "evict.vms", EVICTION)
    default, p = run_many(
        tmp_path, ["test", "evict.vms"], ["test", "evict.vms", "--policy", "queues=cs"]
    )
    assert default.returncode == 0, output(default)
    assert p.returncode == 1, output(p)
    assert "deadlock: fault handler gpu0" in p.stdout


def test_the_scenario_policy_statement_wins_over_the_option(tmp_path: Path) -> None:
    text = EVICTION.replace(
        "    process app on gpu0 { retry_faults on }",
        '    policy queues = "kfd"\n    process app on gpu0 { retry_faults on }',
    )
    write(tmp_path / "own.vms", text)
    p = run("test", "own.vms", "--policy", "queues=cs", cwd=tmp_path)
    assert p.returncode == 0, output(p)


BAD_POLICIES = {
    "alloc=evict-lr": ["'evict-lr'", "did you mean 'evict-lru'?"],
    "aloc=evict-lru": ["family 'aloc'", "did you mean 'alloc'?"],
    "alloc=no-wait(size=64KiB)": ["no parameter 'size'"],
    "alloc": ["FAMILY=NAME"],
}


def test_a_bad_policy_option_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "evict.vms", EVICTION)
    got = run_many(tmp_path, *(["test", "evict.vms", "--policy", spec] for spec in BAD_POLICIES))
    for (spec, words), p in zip(BAD_POLICIES.items(), got, strict=True):
        assert p.returncode == 2, (spec, output(p))
        no_traceback(p)
        assert p.stderr.startswith("vmcore: error: "), spec
        for w in words:
            assert w in p.stderr, (spec, p.stderr)


def test_a_policy_with_parameters(tmp_path: Path) -> None:
    write(tmp_path / "evict.vms", EVICTION)
    p = run("test", "evict.vms", "--policy", "alloc=emergency-pool(size=64KiB)", cwd=tmp_path)
    assert p.returncode == 0, output(p)


def test_trace_graph_and_explain(tmp_path: Path) -> None:
    write(tmp_path / "fail.vms", FAILING)
    p = run("test", "fail.vms", "--trace", "out/trace.json", "--graph", "out/wait.dot", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    trace = json.loads((tmp_path / "out" / "trace.json").read_text(encoding="utf-8"))
    assert trace["traceEvents"]
    dot = (tmp_path / "out" / "wait.dot").read_text(encoding="utf-8")
    assert dot.startswith("digraph ") and "fault handler gpu0" in dot
    argv = replay_of(p.stdout)
    if "--replay" in argv:  # a witness file was saved: `vmcore explain` tells its story
        e = run("explain", argv[argv.index("--replay") + 1], cwd=tmp_path)
        assert e.returncode == 0, output(e)
        assert "deadlock" in e.stdout


def test_n_spreads_over_processes_with_the_same_outcome(tmp_path: Path) -> None:
    write(
        tmp_path / "mixed.vms",
        GPU + quick("good", "app alive") + quick("bad", "app killed") + FAILING[len(GPU) :],
    )
    serial, parallel, bad = run_many(
        tmp_path, ["test", "mixed.vms"], ["test", "mixed.vms", "-n", "2"], ["test", "mixed.vms", "-n", "none"]
    )
    assert serial.returncode == parallel.returncode == 1
    status = re.compile(r"^mixed\.vms::.* (?:PASSED|FAILED)$", re.MULTILINE)
    assert status.findall(serial.stdout) == status.findall(parallel.stdout)
    assert "1 passed, 2 failed" in parallel.stdout
    assert bad.returncode == 2


def test_an_interrupt_exits_130_after_the_summary(tmp_path: Path) -> None:
    write(
        tmp_path / "interrupter.py",
        "from vmcore.hooks.hookspecs import hookimpl\n\n\n"
        "@hookimpl\n"
        "def vmcore_event(time, actor, action, detail):\n"
        "    raise KeyboardInterrupt\n",
    )
    write(tmp_path / "a.vms", GPU + quick("a", "app alive"))
    p = run("test", "a.vms", "-p", "interrupter", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 130, output(p)
    assert "interrupted" in p.stdout
    assert re.search(r"^\d+ passed, \d+ failed", p.stdout, re.MULTILINE)
    no_traceback(p)


# -- vmcore check -----------------------------------------------------------------------
def test_check_accepts_the_bundled_scenarios() -> None:
    p = run("check", *sorted(str(f.relative_to(ROOT)) for f in SCENARIOS.glob("*.vms")), cwd=ROOT)
    assert p.returncode == 0, output(p)
    assert re.search(r"^\d+ scenario\(s\) valid$", p.stdout, re.MULTILINE)


def test_check_rejects_a_semantic_error(tmp_path: Path) -> None:
    text = GPU + 'scenario "s" {\n    process app on gpu0\n    svm app 0x4000_0010 +4KiB in system\n}\n'
    write(tmp_path / "align.vms", text)
    p = run("check", "align.vms", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert f"align.vms:{line_of(text, 'svm')}:" in p.stderr
    assert "not 4KiB aligned" in p.stderr
    assert "1 error(s) in 1 file(s)" in p.stderr


def test_check_reports_every_failing_expectation_and_scenario(tmp_path: Path) -> None:
    text = GPU + (
        'scenario "a" {\n    process app on gpu0\n    expect migratons < 2\n    expect app alive\n'
        "    expect deadlocks\n}\n"
        'scenario "b" {\n    process app on gpu0\n    svm app 0x4000_0010 +4KiB in system\n}\n'
        'scenario "c" {\n    process app on gpu0\n    expect app alive\n}\n'
        'scenario "d" for N in [1, 2] {\n    process app on gpu0\n    expect faults of ghost < 1\n}\n'
    )
    write(tmp_path / "many.vms", text)
    p = run("check", "many.vms", cwd=tmp_path)
    assert p.returncode == 2, output(p)
    no_traceback(p)
    for needle in ("expect migratons", "expect deadlocks", "svm app 0x4000_0010", "expect faults of ghost"):
        assert f"many.vms:{line_of(text, needle)}:" in p.stderr, p.stderr
    assert "did you mean 'migrations'" in p.stderr
    assert "error(s) in 1 file(s)" in p.stderr
    assert p.stderr.count("many.vms:") >= 4, p.stderr


def test_check_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    p = run("check", "nowhere.vms", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert "nowhere.vms" in p.stderr


# -- vmcore fmt -------------------------------------------------------------------------
MESSY = """\
# a comment that must survive
gpu   gpu0 {vram 16MiB;engine comp0   compute retry}
scenario "messy" {
  process app on gpu0
      run until idle     # trailing comment
  expect   app alive
}
"""


def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    f = write(tmp_path / "messy.vms", MESSY)
    p = run("fmt", "--check", "messy.vms", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    assert "would reformat messy.vms" in p.stdout
    assert f.read_text(encoding="utf-8") == MESSY

    p = run("fmt", "messy.vms", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert "reformatted messy.vms" in p.stdout
    formatted = f.read_text(encoding="utf-8")
    assert formatted != MESSY
    assert "# a comment that must survive" in formatted
    assert "# trailing comment" in formatted
    assert "    run until idle" in formatted

    p = run("fmt", "--check", "messy.vms", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert p.stdout == ""
    assert run("check", "messy.vms", cwd=tmp_path).returncode == 0


def test_fmt_reports_files_it_cannot_read(tmp_path: Path) -> None:
    write(tmp_path / "broken.vms", "gpu g {\n")
    (tmp_path / "latin1.vms").write_bytes(b"gpu g { vram 1MiB }\n# caf\xe9\n")
    for name in ("broken.vms", "latin1.vms"):
        p = run("fmt", "--check", name, cwd=tmp_path)
        assert p.returncode == 2, (name, output(p))
        no_traceback(p)
        assert f"{name}:" in p.stderr


# -- vmcore plugins ---------------------------------------------------------------------
def test_plugins_lists_the_built_in_policies(tmp_path: Path) -> None:
    p = run("plugins", cwd=tmp_path)
    assert p.returncode == 0
    assert "vmcore.policies" in p.stdout
    assert "alloc=no-wait" in p.stdout


def test_plugins_json(tmp_path: Path) -> None:
    p = run("plugins", "--json", cwd=tmp_path)
    assert p.returncode == 0
    rows = json.loads(p.stdout)
    assert isinstance(rows, list)
    builtin = next(r for r in rows if r["name"] == "vmcore.policies")
    assert set(builtin) >= {"name", "distribution", "version", "hooks", "policies", "path"}
    assert builtin["version"] == vmcore.__version__
    assert "vmcore_policies" in builtin["hooks"]
    expected = {f"{fam}={cls.name}" for fam, classes in FAMILIES.items() for cls in classes}
    assert set(builtin["policies"]) == expected


def test_the_environment_turns_entry_point_loading_off(tmp_path: Path) -> None:
    on = run("plugins", "--json", cwd=tmp_path, env={"VMCORE_DISABLE_PLUGIN_AUTOLOAD": ""})
    off = run("plugins", "--json", cwd=tmp_path)
    names_on = {r["name"] for r in json.loads(on.stdout)}
    names_off = {r["name"] for r in json.loads(off.stdout)}
    assert names_off == {"vmcore.policies"}
    assert names_on >= names_off


PLUGIN = """\
from vmcore.hooks.decisions import FaultAction
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.policies import Policy


class SilenceAll(Policy):
    family = "fault"
    name = "test-silence-all"

    @hookimpl
    def vmcore_fault_action(self, fault):
        return FaultAction.SILENCE


@hookimpl
def vmcore_policies():
    return [SilenceAll]
"""


def test_a_plugin_module_adds_a_policy(tmp_path: Path) -> None:
    write(tmp_path / "myplug.py", PLUGIN)
    text = (
        GPU
        + 'scenario "unmapped" {\n    process app on gpu0\n    job c1 on comp0 by app touches 0x7000_0000 +8KiB\n    run until idle\n    expect app killed\n}\n'
    )
    write(tmp_path / "unmapped.vms", text)
    env = {"PYTHONPATH": str(tmp_path), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    listed, blocked, default, mine, unknown = run_many(
        tmp_path,
        ["plugins", "--json", "-p", "myplug"],
        ["plugins", "--json", "-p", "myplug", "-p", "no:myplug"],
        ["test", "unmapped.vms"],
        ["test", "unmapped.vms", "-p", "myplug", "--policy", "fault=test-silence-all"],
        # without the module the name is unknown: a usage error
        ["test", "unmapped.vms", "--policy", "fault=test-silence-all"],
        env=env,
    )
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "myplug")
    assert row["policies"] == ["fault=test-silence-all"]
    assert "vmcore_policies" in row["hooks"]
    assert "myplug" not in {r["name"] for r in json.loads(blocked.stdout)}
    assert default.returncode == 0, output(default)
    assert mine.returncode == 1, output(mine)
    assert "plugins: myplug" in mine.stdout
    assert unknown.returncode == 2
    no_traceback(unknown)


# -- configuration ----------------------------------------------------------------------
def test_vmcore_yaml_with_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "vmcore.yaml", "paths: [s]\nsede: 3\n")
    p = run("test", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert "unknown key 'sede'" in p.stderr
    assert "vmcore.yaml" in p.stderr


def test_tool_vmcore_with_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.vmcore]\npaths = ["s"]\nplugin = ["x"]\n')
    p = run("test", cwd=tmp_path)
    assert p.returncode == 2
    no_traceback(p)
    assert "unknown key 'plugin'" in p.stderr


def test_tool_vmcore_paths_and_seed_are_respected(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.vmcore]\npaths = ["mine"]\nseed = 7\n')
    write(tmp_path / "mine" / "a.vms", GPU + quick("configured", "app alive"))
    write(tmp_path / "scenarios" / "b.vms", GPU + quick("not configured", "app alive"))
    (tmp_path / "sub").mkdir()
    p, cli = run_many(tmp_path, ["test"], ["test", "scenarios", "--seed", "3"])
    assert p.returncode == 0, output(p)
    assert "vmcore test: 1 scenario(s) from 1 file(s), seed 7" in p.stdout
    assert "a.vms::configured PASSED" in p.stdout
    # the command line wins
    assert "seed 3" in cli.stdout
    assert "b.vms::not configured PASSED" in cli.stdout
    # configured paths are relative to the configuration file, wherever vmcore runs
    p = run("test", cwd=tmp_path / "sub")
    assert p.returncode == 0, output(p)
    assert "a.vms::configured PASSED" in p.stdout


def test_configured_policies_apply_below_the_command_line(tmp_path: Path) -> None:
    write(tmp_path / "vmcore.yaml", "paths: [evict.vms]\npolicies:\n  queues: cs\n")
    write(tmp_path / "evict.vms", EVICTION)
    p = run("test", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    assert "deadlock: fault handler gpu0" in p.stdout
    assert run("test", "--policy", "queues=kfd", cwd=tmp_path).returncode == 0
    write(tmp_path / "vmcore.yaml", "paths: [evict.vms]\npolicies:\n  alloc: evict-lr\n")
    p = run("test", cwd=tmp_path)
    assert p.returncode == 2
    assert "did you mean 'evict-lru'?" in p.stderr


# -- vmcore demo ------------------------------------------------------------------------
def test_demo(tmp_path: Path) -> None:
    p = run("demo", "--pages", "16", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert "page tables: mapped 16 pages" in p.stdout
    assert "intact: True" in p.stdout
