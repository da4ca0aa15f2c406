"""``vmcore new-plugin NAME [--dir DIR]``: a plugin package whose tests pass out of the box."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vmcore.cli.main import main
from vmcore.cli.scaffold import ScaffoldError, files, plugin_names

NAME = "vmcore-sample-faults"
MODULE = "vmcore_sample_faults"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("new-plugin")
    p = run("-m", "vmcore.cli", "new-plugin", NAME, "--dir", str(where / "plugins"), cwd=where)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"created {where / 'plugins' / NAME}" in p.stdout
    assert "pip install -e" in p.stdout
    return where / "plugins" / NAME


def test_the_package_has_every_file(generated: Path) -> None:
    got = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    assert got == [
        "README.md",
        "pyproject.toml",
        "scenarios/sample-faults.vms",
        f"src/{MODULE}/__init__.py",
        f"src/{MODULE}/py.typed",
        f"tests/test_{MODULE}.py",
    ]
    meta = tomllib.loads((generated / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == NAME
    assert "vmcore" in meta["project"]["dependencies"]
    assert meta["project"]["entry-points"]["vmcore"] == {MODULE: MODULE}
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    code = (generated / "src" / MODULE / "__init__.py").read_text(encoding="utf-8")
    assert 'family = "fault"' in code and 'name = "sample-faults"' in code
    assert "def vmcore_policies()" in code
    assert "sample-faults" in (generated / "README.md").read_text(encoding="utf-8")
    assert not list(generated.parent.glob(f".{NAME}-*"))  # no temporary directory left behind


def test_its_tests_pass_out_of_the_box(generated: Path) -> None:
    p = run(
        "-m",
        "pytest",
        str(generated / "tests"),
        "-p",
        "no:cacheprovider",
        "-q",
        cwd=generated.parent,
        env={
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(generated / "src"), os.environ.get("PYTHONPATH")])
            )
        },
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "6 passed, 1 skipped" in p.stdout  # the entry-point test needs `pip install -e`


def test_vmcore_test_runs_its_scenario_with_p(generated: Path) -> None:
    p = run(
        "-m",
        "vmcore.cli",
        "test",
        str(generated / "scenarios"),
        "-p",
        MODULE,
        cwd=generated,
        env={"PYTHONPATH": str(generated / "src"), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "4 passed, 0 failed" in p.stdout


def test_an_existing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "keep.txt").write_text("mine\n", encoding="utf-8")
    assert main(["new-plugin", NAME, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmcore: error: ") and "already exists" in err and "Traceback" not in err
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("bad name", ["not a valid distribution name"]),
        ("vmcore-", ["not a valid distribution name"]),
        ("a/b", ["not a valid distribution name"]),
        ("3d-faults", ["module name '3d_faults'", "cannot import"]),
        ("pytest", ["module name 'pytest'", "already exists", "shadowed"]),
        ("json", ["module name 'json'", "shadowed"]),
        ("vmcore", ["module name 'vmcore'", "shadowed"]),
        ("map-or-kill", ["policy name 'map-or-kill'", "built-in fault policy"]),
    ],
)
def test_a_bad_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, words: list[str]
) -> None:
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmcore: error: ") and "Traceback" not in err
    for w in words:
        assert w in err
    assert list(tmp_path.iterdir()) == []


def test_the_real_command_exits_2(tmp_path: Path) -> None:
    p = run("-m", "vmcore.cli", "new-plugin", "bad name", cwd=tmp_path)
    assert p.returncode == 2
    assert "not a valid distribution name" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("name", "module", "policy", "cls"),
    [
        ("vmcore-kill-writes", "vmcore_kill_writes", "kill-writes", "KillWrites"),
        ("Stray.Reads_Plugin", "stray_reads_plugin", "stray-reads-plugin", "StrayReadsPlugin"),
        ("vmcore-3d", "vmcore_3d", "3d", "Policy3d"),
    ],
)
def test_derived_names(name: str, module: str, policy: str, cls: str) -> None:
    n = plugin_names(name)
    assert (n.module, n.policy, n.cls) == (module, policy, cls)
    assert set(files(n)) >= {
        f"src/{module}/__init__.py",
        f"scenarios/{policy}.vms",
        f"tests/test_{module}.py",
    }


def test_scaffold_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not a valid distribution name"):
        plugin_names("")
    assert issubclass(ScaffoldError, ValueError)


@pytest.mark.parametrize("family", ["evict", "prefetch", "alloc", "migration"])
def test_each_family_scaffolds_a_policy_whose_tests_and_scenarios_pass(tmp_path: Path, family: str) -> None:
    name = f"vmcore-sample-{family}"
    p = run("-m", "vmcore.cli", "new-plugin", name, "--family", family, "--dir", str(tmp_path), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"a {family} policy" in p.stdout
    pkg = tmp_path / name
    module = name.replace("-", "_")
    code = (pkg / "src" / module / "__init__.py").read_text(encoding="utf-8")
    assert f'family = "{family}"' in code and f'name = "sample-{family}"' in code
    env = {"PYTHONPATH": str(pkg / "src"), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    t = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=pkg, env=env)
    assert t.returncode == 0 and "3 passed, 1 skipped" in t.stdout, t.stdout + t.stderr
    v = run("-m", "vmcore.cli", "test", "scenarios", "-p", module, cwd=pkg, env=env)
    assert v.returncode == 0 and "2 passed, 0 failed" in v.stdout, v.stdout + v.stderr
    typed = run("-m", "mypy", "--strict", "src", "tests", cwd=pkg, env=env)
    assert typed.returncode == 0, typed.stdout + typed.stderr


def test_a_family_without_a_sample_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-plugin", "vmcore-x", "--family", "update", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "choose one of fault, evict, prefetch, alloc, migration" in err and "has no sample" in err
    assert main(["new-plugin", "vmcore-x", "--family", "evcit", "--dir", str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_builtin_name_of_the_chosen_family_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-plugin", "vmcore-mru", "--family", "evict", "--dir", str(tmp_path)]) == 2
    assert "built-in evict policy" in capsys.readouterr().err
