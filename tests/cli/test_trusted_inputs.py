"""Inputs the user did not mean (issue 15): replay files checked like any input and never
importing code by themselves, ``-p no:NAME`` and VMCORE_DISABLE_PLUGIN_AUTOLOAD honoured
before anything is imported (by ``test``, ``--replay``, ``explain`` and the workers), the
configuration looked for only up to the project root and named in the header, and ids and
witness files keyed by the path relative to the root directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import FAILING, GPU, output, quick, run, write

MARKED = """\
from pathlib import Path

Path(__file__).with_suffix(".imported").write_text("yes")

from vmcore import hookimpl


@hookimpl
def vmcore_addoption(parser):
    Path(__file__).with_suffix(".addoption").write_text("yes")
    parser.add_argument("--marked-flag", action="store_true")
"""


def entry_point_plugin(site: Path) -> Path:
    """A plugin installed as an entry point (``marked``), which leaves marks when it is
    imported and when its vmcore_addoption runs."""
    write(site / "markedplug.py", MARKED)
    dist = site / "markedplug-1.0.dist-info"
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: markedplug\nVersion: 1.0\n")
    write(dist / "entry_points.txt", "[vmcore]\nmarked = markedplug\n")
    return site / "markedplug.imported"


def failing_replay(tmp_path: Path, *extra: str) -> Path:
    write(tmp_path / "vmcore.yaml", "")
    write(tmp_path / "fail.vms", FAILING)
    p = run("test", "fail.vms", *extra, cwd=tmp_path)
    assert p.returncode == 1, output(p)
    (replay,) = (tmp_path / ".vmcore" / "witnesses").glob("*.json")
    return replay


def test_p_no_name_blocks_an_entry_point_plugin_before_it_is_imported(tmp_path: Path) -> None:
    mark = entry_point_plugin(tmp_path / "site")
    write(tmp_path / "q.vms", GPU + quick("q", "no deadlock"))
    env = {"PYTHONPATH": str(tmp_path / "site"), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": ""}
    p = run("test", "q.vms", "-p", "no:marked", cwd=tmp_path, env=env)
    assert p.returncode == 0, output(p)
    assert not mark.exists() and not mark.with_suffix(".addoption").exists()
    # without the block it loads, its option is known, and the header says so
    p = run("test", "q.vms", "--marked-flag", cwd=tmp_path, env=env)
    assert p.returncode == 0, output(p)
    assert mark.exists() and "plugins: marked" in p.stdout
    # a plugin whose vmcore_addoption raises is its error, named, with no traceback
    write(tmp_path / "site" / "markedplug.py", MARKED.replace("parser.add_argument(", "parser.addoption("))
    p = run("test", "q.vms", cwd=tmp_path, env=env)
    assert p.returncode == 2, output(p)
    assert "plugin 'marked': vmcore_addoption raised AttributeError" in p.stderr and "Traceback" not in output(p)


def test_replay_and_explain_honour_blocks_and_the_autoload_switch(tmp_path: Path) -> None:
    replay = failing_replay(tmp_path)
    mark = entry_point_plugin(tmp_path / "site")
    for env in (
        {"PYTHONPATH": str(tmp_path / "site"), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": "1"},
        {"PYTHONPATH": str(tmp_path / "site"), "VMCORE_DISABLE_PLUGIN_AUTOLOAD": ""},
    ):
        block = [] if env["VMCORE_DISABLE_PLUGIN_AUTOLOAD"] else ["-p", "no:marked"]
        for argv in (["test", "--replay", str(replay), *block], ["explain", str(replay), *block]):
            p = run(*argv, cwd=tmp_path, env=env)
            assert p.returncode in (0, 1), output(p)
            assert not mark.exists(), argv


def test_a_replay_file_does_not_import_the_plugins_it_names(tmp_path: Path) -> None:
    replay = failing_replay(tmp_path)
    data = json.loads(replay.read_text())
    write(tmp_path / "evil.py", 'from pathlib import Path\nPath(__file__).with_suffix(".ran").write_text("!")\n')
    data["plugins"] = ["evil"]
    replay.write_text(json.dumps(data))
    env = {"PYTHONPATH": str(tmp_path)}
    for argv in (["test", "--replay", str(replay)], ["explain", str(replay)]):
        p = run(*argv, cwd=tmp_path, env=env)
        assert p.returncode == 2, output(p)
        assert "a replay file does not import code by itself: add -p evil to load them" in p.stderr
        assert not (tmp_path / "evil.ran").exists()
    p = run("test", "--replay", str(replay), "-p", "evil", cwd=tmp_path, env=env)
    assert p.returncode == 1, output(p)
    assert (tmp_path / "evil.ran").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("choices", "1,2", "'choices' must be a list of integers"),
        ("choices", [0, "x"], "'choices' must be an integer in 0.."),
        ("choices", [-1], "'choices' must be an integer in 0.."),
        ("seed", True, "'seed' must be an integer"),
        ("seed", -5, "'seed' must be an integer"),
        ("policies", "alloc=ttm", "'policies' must be a list of strings"),
        ("policies", ["not a policy"], "which is not FAMILY=NAME"),
        ("plugins", ["os; rm -rf"], "which is not a module name"),
        ("path", 7, "'path' must be a string"),
        ("path", "/etc/passwd", "is not a .vms file"),
        ("path", "../../elsewhere/x.vms", "no such .vms file"),
        ("id", "no-separator", "is not FILE::NAME"),
        ("line", "18", "'line' must be an integer"),
        ("surprise", 1, "unknown field 'surprise'"),
    ],
)
def test_a_malformed_replay_field_is_a_clear_error(tmp_path: Path, field: str, value: object, message: str) -> None:
    from vmcore.cli.options import UsageError
    from vmcore.cli.replay import load_replay

    write(tmp_path / "vmcore.yaml", "")
    write(tmp_path / "fail.vms", FAILING)
    good = {"path": "fail.vms", "id": "fail.vms::x", "choices": [0, 1], "seed": 0, "policies": [], "plugins": [],
            "line": 3, "note": "", "version": 1}  # fmt: skip
    replay = tmp_path / "r.json"
    replay.write_text(json.dumps({**good, field: value}))
    with pytest.raises(UsageError) as info:
        load_replay(str(replay))
    assert message in str(info.value)
    assert str(replay) in str(info.value)
    # the command line says the same, with no traceback
    p = run("explain", str(replay), cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in output(p), output(p)


def test_a_replay_path_outside_the_project_tree_is_refused(tmp_path: Path) -> None:
    from vmcore.cli.options import UsageError
    from vmcore.cli.replay import load_replay

    proj = tmp_path / "proj"
    write(proj / "vmcore.yaml", "")
    write(tmp_path / "outside" / "x.vms", FAILING)
    replay = proj / ".vmcore" / "witnesses" / "r.json"
    write(replay, json.dumps({"path": "../../../outside/x.vms", "id": "x.vms::s", "choices": [], "version": 1}))
    with pytest.raises(UsageError, match="outside the project tree"):
        load_replay(str(replay))
    assert load_replay(str(replay), allow=[tmp_path / "outside"]).path.endswith("x.vms")


def test_a_replay_file_replays_from_any_directory(tmp_path: Path) -> None:
    replay = failing_replay(tmp_path)
    elsewhere = tmp_path / "some" / "where"
    elsewhere.mkdir(parents=True)
    p = run("test", "--replay", str(replay), cwd=elsewhere)
    assert p.returncode == 1, output(p)
    assert "replaying fail.vms::fault-path eviction" in p.stdout
    p = run("explain", str(replay), cwd=Path("/"))
    assert p.returncode == 0, output(p)


def test_ids_are_paths_relative_to_the_root_and_witness_files_do_not_collide(tmp_path: Path) -> None:
    write(tmp_path / "vmcore.yaml", "")
    for d in ("a", "b"):
        write(tmp_path / d / "x.vms", FAILING)
    scen = FAILING.replace(GPU, "")
    two = [scen.replace('scenario "fault-path eviction"', f'scenario "{n}"') for n in ("two words", "two_words")]
    write(tmp_path / "c" / "n.vms", GPU + "".join(two))
    p = run("test", "a", "b", "c", cwd=tmp_path)
    assert p.returncode == 1, output(p)
    for sid in ("a/x.vms::fault-path eviction", "b/x.vms::fault-path eviction", "c/n.vms::two words",
                "c/n.vms::two_words"):  # fmt: skip
        assert f"{sid} FAILED" in p.stdout, p.stdout
    files = sorted((tmp_path / ".vmcore" / "witnesses").glob("*.json"))
    assert len(files) == 4, files
    ids = sorted(json.loads(f.read_text())["id"] for f in files)
    assert ids == ["a/x.vms::fault-path eviction", "b/x.vms::fault-path eviction", "c/n.vms::two words",
                   "c/n.vms::two_words"]  # fmt: skip
    # from a subdirectory the ids stay relative to the root
    p = run("test", ".", cwd=tmp_path / "a")
    assert "a/x.vms::fault-path eviction FAILED" in p.stdout, output(p)
    # each printed replay line replays its own scenario, from another directory too
    for f in files:
        again = run("test", "--replay", str(f), cwd=tmp_path / "b")
        sid = json.loads(f.read_text())["id"]
        assert f"replaying {sid}:" in again.stdout, output(again)


def test_the_header_names_the_configuration_and_discovery_stops_at_the_project_root(tmp_path: Path) -> None:
    # a configuration above the project (a forgotten ~/vmcore.yaml) is never read
    write(tmp_path / "vmcore.yaml", "policies:\n  alloc: no-such-policy\n")
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    write(proj / "scenarios" / "q.vms", GPU + quick("q", "no deadlock"))
    p = run("test", cwd=proj)
    assert p.returncode == 0, output(p)
    assert f"rootdir: {proj.resolve()}" in p.stdout and "configfile" not in p.stdout
    write(proj / "vmcore.yaml", "seed: 3\n")
    p = run("test", cwd=proj / "scenarios")
    assert p.returncode == 0, output(p)
    assert f"rootdir: {proj.resolve()}, configfile: {(proj / 'vmcore.yaml').resolve()}" in p.stdout
    assert "scenarios/q.vms::q PASSED" in p.stdout
