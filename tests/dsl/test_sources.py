"""Files a scenario names are input from anyone: only regular .vms files inside the
scenario's project tree, bounded in size, line length and nesting, each parsed once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import vmcore.dsl.compiler as compiler_mod
import vmcore.dsl.parser
from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.dsl.sources import MAX_LINE_CHARS, MAX_USE_DEPTH, MAX_VMS_BYTES, project_root
from vmcore.hooks.manager import plugin_manager

PM = plugin_manager(entry_points=False)
SCEN = 'scenario "s" {\n  process app on g\n  job j on c by app\n}\n'
GPU = "gpu g { vram 1MiB; engine c compute retry }\n"


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "vmcore.yaml").write_text("", encoding="utf-8")
    return root


def use_error(top: Path, comp: Compiler | None = None) -> VmsError:
    with pytest.raises(VmsError) as info:
        (comp or Compiler(PM)).compile_path(top)
    return info.value


def test_a_fifo_a_directory_and_a_device_are_refused_without_blocking(tmp_path: Path) -> None:
    root = project(tmp_path)
    os.mkfifo(root / "fifo.vms")
    (root / "dir.vms").mkdir()
    for name, why in [("fifo.vms", "a FIFO"), ("dir.vms", "a directory")]:
        top = root / "t.vms"
        top.write_text(f'use "{name}"\n{SCEN}', encoding="utf-8")
        t0 = time.perf_counter()
        e = use_error(top)
        assert time.perf_counter() - t0 < 5
        assert (e.line, e.col) == (1, 1)
        assert f"cannot use {name!r}: not a regular file: {why}" in e.message
    # the command line's own file is read the same way
    assert "not a regular file: a FIFO" in use_error(root / "fifo.vms").message


def test_only_vms_files_can_be_used_and_their_content_is_never_echoed(tmp_path: Path) -> None:
    root = project(tmp_path)
    secret = root / "secret.txt"
    secret.write_text("TOKEN=hunter2\n", encoding="utf-8")
    top = root / "t.vms"
    top.write_text(f'use "secret.txt"\n{SCEN}', encoding="utf-8")
    e = use_error(top)
    assert "only .vms files can be used" in e.message
    assert "hunter2" not in str(e)
    top.write_text(f'use "/dev/zero"\n{SCEN}', encoding="utf-8")
    assert "only .vms files can be used" in use_error(top).message


def test_use_stays_inside_the_project_tree_unless_allowed(tmp_path: Path) -> None:
    root = project(tmp_path)
    (tmp_path / "outside.vms").write_text(GPU, encoding="utf-8")
    top = root / "t.vms"
    top.write_text(f'use "../outside.vms"\n{SCEN}', encoding="utf-8")
    e = use_error(top)
    assert "is outside the scenario's project tree" in e.message and str(root) in e.message
    assert e.hint is not None and "--allow-path" in e.hint
    (cs,) = Compiler(PM, allow=[tmp_path]).compile_path(top)
    assert cs.id == "t.vms::s"
    # a symlink inside the tree that points outside it is outside too
    (root / "link.vms").symlink_to(tmp_path / "outside.vms")
    top.write_text(f'use "link.vms"\n{SCEN}', encoding="utf-8")
    assert "outside the scenario's project tree" in use_error(top).message


def test_an_access_list_outside_the_tree_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (tmp_path / "list.txt").write_text("0x1000\n", encoding="utf-8")
    top = root / "t.vms"
    top.write_text(
        GPU + 'scenario "s" {\n  process app on g\n  job j on c by app accesses "../list.txt"\n}\n', encoding="utf-8"
    )
    e = use_error(top)
    assert (e.line, "outside the scenario's project tree") == (4, "outside the scenario's project tree")
    assert "outside the scenario's project tree" in e.message


def test_the_project_root_is_the_nearest_marked_directory(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "a" / "b").mkdir(parents=True)
    assert project_root(root / "a" / "b") == root.resolve()
    (root / "a" / ".git").mkdir()
    assert project_root(root / "a" / "b") == (root / "a").resolve()


def test_a_symlink_loop_is_an_error_at_the_use(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "loop.vms").symlink_to(root / "loop.vms")
    top = root / "t.vms"
    top.write_text(f'use "loop.vms"\n{SCEN}', encoding="utf-8")
    e = use_error(top)
    assert (e.line, e.col) == (1, 1)
    assert "cannot use 'loop.vms': cannot read the file" in e.message


def test_a_deep_chain_stops_at_the_depth_bound_with_a_located_error(tmp_path: Path) -> None:
    root = project(tmp_path)
    n = 1000
    for i in range(n):
        (root / f"u{i}.vms").write_text(f'# level {i}\nuse "u{i + 1}.vms"\n', encoding="utf-8")
    (root / f"u{n}.vms").write_text(GPU, encoding="utf-8")
    top = root / "t.vms"
    top.write_text(f'use "u0.vms"\n{SCEN}', encoding="utf-8")
    e = use_error(top)
    assert f"'use' nests more than {MAX_USE_DEPTH} files deep" in e.message
    assert Path(e.path).name == f"u{MAX_USE_DEPTH - 2}.vms"  # the 32nd file, t.vms the first and (e.line, e.col) == (2, 1)


def test_a_diamond_of_uses_is_linear_and_each_file_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    depth = 20  # 2**20 paths through the diamond
    for i in range(depth):
        (root / f"d{i}.vms").write_text(f'use "d{i + 1}.vms"\nuse "d{i + 1}.vms"\n', encoding="utf-8")
    (root / f"d{depth}.vms").write_text("# nothing defined\n", encoding="utf-8")
    top = root / "t.vms"
    top.write_text(f'use "d0.vms"\n{GPU}{SCEN}', encoding="utf-8")
    parsed: list[str] = []
    real = vmcore.dsl.parser.parse

    def counting(text: str, path: str = "<string>"):  # type: ignore[no-untyped-def]
        parsed.append(Path(path).name)
        return real(text, path)

    monkeypatch.setattr(compiler_mod, "parse", counting)
    comp = Compiler(PM)
    t0 = time.perf_counter()
    assert len(comp.compile_path(top)) == 1
    comp.compile_path(top)  # a second compile in the same session parses no used file again
    assert time.perf_counter() - t0 < 10
    assert sorted(parsed) == sorted(["t.vms", "t.vms", *(f"d{i}.vms" for i in range(depth + 1))])


def test_a_diamond_whose_bottom_defines_a_gpu_is_still_defined_twice(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "g.vms").write_text(GPU, encoding="utf-8")
    (root / "a.vms").write_text('use "g.vms"\n', encoding="utf-8")
    (root / "b.vms").write_text('use "g.vms"\n', encoding="utf-8")
    top = root / "t.vms"
    top.write_text(f'use "a.vms"\nuse "b.vms"\n{SCEN}', encoding="utf-8")
    assert "GPU 'g' is defined twice" in use_error(top).message


def test_a_long_line_is_an_error_at_its_place_before_the_lexer_sees_it(tmp_path: Path) -> None:
    top = tmp_path / "t.vms"
    top.write_text(f'{GPU}scenario "{"x" * (MAX_LINE_CHARS * 3)}" {{\n}}\n', encoding="utf-8")
    e = use_error(top)
    assert (e.line, e.col) == (2, MAX_LINE_CHARS + 1)
    assert f"a line may hold at most {MAX_LINE_CHARS:,}" in e.message
    assert len(str(e)) < 500  # the line itself is not printed


def test_a_file_over_the_size_bound_is_refused_before_parsing(tmp_path: Path) -> None:
    top = tmp_path / "t.vms"
    with top.open("w", encoding="utf-8") as f:
        line = "# " + "-" * 100 + "\n"
        for _ in range(MAX_VMS_BYTES // len(line) + 2):
            f.write(line)
    e = use_error(top)
    assert "more than the" in e.message and f"{MAX_VMS_BYTES:,}" in e.message
    with pytest.raises(VmsError, match=r"more than a \.vms file may hold"):
        Compiler(PM).compile_text(top.read_text(encoding="utf-8"), str(top))
