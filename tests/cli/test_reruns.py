"""pytest habits (issue 15): ``--lf``/``--ff`` from a cache under ``.vmcore/``, and colour
on terminals (``--color``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import FAILING, GPU, output, quick, run, write

BOTH = FAILING + quick("fine", "no deadlock") + quick("also fine", "no deadlock")


def ids_run(stdout: str) -> list[str]:
    return [ln.rsplit(" ", 1)[0] for ln in stdout.splitlines() if ln.endswith((" PASSED", " FAILED", " ERROR"))]


def test_lf_runs_only_what_failed_and_ff_runs_it_first(tmp_path: Path) -> None:
    write(tmp_path / "vmcore.yaml", "")
    write(tmp_path / "a.vms", BOTH)
    p = run("test", "a.vms", "--lf", cwd=tmp_path)  # no cache yet: everything
    assert p.returncode == 1, output(p)
    assert "--lf: no previously failed scenarios, running all 3" in p.stdout
    cache = json.loads((tmp_path / ".vmcore" / "cache" / "lastfailed.json").read_text())
    assert cache == {"a.vms::fault-path eviction": True}
    p = run("test", "a.vms", "--lf", cwd=tmp_path)
    assert ids_run(p.stdout) == ["a.vms::fault-path eviction"], p.stdout
    assert "deselecting 2" in p.stdout and "0 passed, 1 failed" in p.stdout
    p = run("test", "a.vms", "--ff", cwd=tmp_path)
    assert ids_run(p.stdout) == ["a.vms::fault-path eviction", "a.vms::fine", "a.vms::also fine"], p.stdout
    # fixed: the id passes, leaves the cache, and --lf runs everything again
    write(tmp_path / "a.vms", BOTH.replace('    policy queues = "cs"\n', ""))
    p = run("test", "a.vms", "-k", "eviction", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert json.loads((tmp_path / ".vmcore" / "cache" / "lastfailed.json").read_text()) == {}
    p = run("test", "a.vms", "--lf", cwd=tmp_path)
    assert "no previously failed scenarios, running all 3" in p.stdout


def test_a_broken_cache_is_an_empty_one(tmp_path: Path) -> None:
    write(tmp_path / "vmcore.yaml", "")
    write(tmp_path / "a.vms", GPU + quick("fine", "no deadlock"))
    write(tmp_path / ".vmcore" / "cache" / "lastfailed.json", "{not json")
    p = run("test", "a.vms", "--lf", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert "Traceback" not in output(p)


def test_color_yes_paints_the_verdicts_and_no_and_pipes_do_not(tmp_path: Path) -> None:
    write(tmp_path / "a.vms", BOTH)
    p = run("test", "a.vms", "--color", "yes", cwd=tmp_path)
    assert "a.vms::fine \x1b[32mPASSED\x1b[0m" in p.stdout
    assert "a.vms::fault-path eviction \x1b[31mFAILED\x1b[0m" in p.stdout
    assert "\x1b[31m2 passed, 1 failed" in p.stdout
    for argv, env in ((["--color", "no"], {}), ([], {}), ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"})):
        p = run("test", "a.vms", *argv, cwd=tmp_path, env=env)
        assert "\x1b[" not in p.stdout, argv
    p = run("test", "a.vms", cwd=tmp_path, env={"FORCE_COLOR": "1"})
    assert "\x1b[32mPASSED" in p.stdout


def test_bash_completion_completes_commands_options_and_choices(tmp_path: Path) -> None:
    import shutil
    import subprocess

    p = run("completion", "bash", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    write(tmp_path / "c.sh", p.stdout)
    write(tmp_path / "s" / "x.vms", GPU)
    bash = shutil.which("bash")
    assert bash is not None

    def complete(*words: str) -> list[str]:
        arr = " ".join(f"'{w}'" for w in words)
        cmd = f'source c.sh; COMP_WORDS=({arr}); COMP_CWORD={len(words) - 1}; _vmcore; printf "%s\\n" "${{COMPREPLY[@]}}"'
        out = subprocess.run([bash, "-c", cmd], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        return out.split()

    assert complete("vmcore", "te") == ["test"]
    assert "--strategy" in complete("vmcore", "test", "--st") and "--lf" in complete("vmcore", "test", "--l")
    assert complete("vmcore", "test", "--strategy", "") == ["random", "pct", "dfs"]
    assert complete("vmcore", "test", "s/") == ["s/x.vms"]
    z = run("completion", "zsh", cwd=tmp_path)
    assert z.stdout.startswith("autoload -U +X bashcompinit && bashcompinit")
