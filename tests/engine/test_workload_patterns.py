"""Workloads: the order a job walks its pages (``pattern``), ``passes``, and recorded
access lists (``accesses "FILE"``)."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from vmcore.cli.session import run_compiled
from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.dsl.formatter import format_text
from vmcore.engine.model import PAGE, Access
from vmcore.hooks.manager import plugin_manager

BASE = 0x4000_0000
PM = plugin_manager(entry_points=False)


def pages(acc: Access, seed: int = 0, job: str = "j") -> list[tuple[int, bool]]:
    """Every page access of the walk, in order: (page index, write)."""
    return [
        ((va - BASE) // PAGE + k, w) for va, n, w in acc.runs(seed, job) for k in range(n)
    ]


def test_sequential_is_one_run_per_pass() -> None:
    acc = Access(BASE, 8 * PAGE, False, passes=3)
    assert list(acc.runs(0, "j")) == [(BASE, 8, False)] * 3
    assert acc.accesses() == 24


def test_reverse_walks_from_the_last_page() -> None:
    assert [p for p, _ in pages(Access(BASE, 5 * PAGE, True, pattern="reverse"))] == [4, 3, 2, 1, 0]


def test_stride_walks_every_stride_then_from_the_next_page() -> None:
    acc = Access(BASE, 8 * PAGE, False, pattern="stride", stride=3 * PAGE)
    assert [p for p, _ in pages(acc)] == [0, 3, 6, 1, 4, 7, 2, 5]


def test_random_is_a_permutation_fixed_by_seed_and_job_name() -> None:
    acc = Access(BASE, 64 * PAGE, False, pattern="random", passes=2)
    one = [p for p, _ in pages(acc, seed=1)]
    assert sorted(one[:64]) == list(range(64)) and one[:64] == one[64:]  # each pass the same walk
    assert one == [p for p, _ in pages(acc, seed=1)]
    assert one != [p for p, _ in pages(acc, seed=2)]
    assert one != [p for p, _ in pages(acc, seed=1, job="other")]
    assert one[:64] != list(range(64))


def test_a_trace_merges_consecutive_pages_of_one_kind() -> None:
    t = array("Q", [BASE, BASE + PAGE, BASE + 2 * PAGE | 1, BASE + 3 * PAGE | 1, BASE, BASE + 9 * PAGE])
    acc = Access(0, PAGE, False, trace=t.tobytes(), passes=1)
    assert list(acc.runs(0, "j")) == [
        (BASE, 2, False),
        (BASE + 2 * PAGE, 2, True),
        (BASE, 1, False),
        (BASE + 9 * PAGE, 1, False),
    ]
    assert acc.accesses() == 6


GPU = "gpu gpu0 {\n    vram 16MiB\n    engine comp0 compute retry\n    engine sdma0 sdma\n}\n"


def scenario(job: str, extra: str = "") -> str:
    return (
        GPU
        + 'scenario "w" {\n    process app on gpu0\n'
        + "    svm app 0x4000_0000 +64KiB in system {\n        granularity 4KiB\n    }\n"
        + f"    {job}\n    run until idle\n{extra}}}\n"
    )


def fault_pages(text: str, path: str = "w.vms", seed: int = 0) -> list[int]:
    (item,) = Compiler(PM).compile_text(text, path)
    ex = run_compiled(item, PM, seed=seed)
    assert ex.passed, ex.outcomes
    return [(f.address - BASE) // PAGE for f in ex.interesting.monitor.faults]


def test_the_pattern_orders_the_faults() -> None:
    job = "job c on comp0 by app touches 0x4000_0000 +64KiB pattern {}"
    assert fault_pages(scenario(job.format("sequential"))) == list(range(16))
    assert fault_pages(scenario(job.format("reverse"))) == list(range(15, -1, -1))
    assert fault_pages(scenario(job.format("stride 16KiB"))) == [
        i + k for k in range(4) for i in range(0, 16, 4)
    ]
    rnd = fault_pages(scenario(job.format("random")), seed=3)
    assert sorted(rnd) == list(range(16)) and rnd != list(range(16))
    assert rnd == fault_pages(scenario(job.format("random")), seed=3)
    assert rnd != fault_pages(scenario(job.format("random")), seed=4)


def test_passes_repeat_the_walk_and_data_is_written_each_time() -> None:
    text = scenario(
        "job c on comp0 by app touches 0x4000_0000 +64KiB pattern reverse passes 3 write value 5",
        "    expect 0x4000_0000 +64KiB of app reads 5\n",
    )
    assert fault_pages(text) == list(range(15, -1, -1))  # later passes find the pages mapped


def test_an_access_list_replays_in_its_order(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text(
        "# a recorded trace\n0x4000_3000\n0x4000_1008 w   # any address in the page\n\n1_073_762_304 r\n0x4000_3000\n",
        encoding="utf-8",
    )
    text = scenario('job c on comp0 by app accesses "t.txt"', "    expect 0x4000_1000 of app reads 1\n")
    assert fault_pages(text, str(tmp_path / "w.vms")) == [3, 1, 5]  # 1_073_762_304 is 0x4000_5000


def test_an_access_list_is_read_once_and_formats_back(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("0x4000_0000\n", encoding="utf-8")
    text = scenario('job c on comp0 by app touches 0x4000_0000 +8KiB pattern sequential passes 2 write accesses "t.txt"')
    assert format_text(text) == text
    comp = Compiler(PM)
    comp.compile_text(text, str(tmp_path / "w.vms"))
    (tmp_path / "t.txt").write_text("bad\n", encoding="utf-8")
    comp.compile_text(text, str(tmp_path / "w.vms"))  # the list was read already
    assert len(comp.access_lists) == 1


@pytest.mark.parametrize(
    ("body", "line", "col", "message"),
    [
        ("0x1000\nnope\n", 2, 1, "not an address"),
        ("  0x1000 x\n", 1, 10, "an access is 'r' or 'w'"),
        ("0x1000 w w\n", 1, 10, "one access per line"),
        ("4KiB\n", 1, 1, "not an address"),
        ("0x1_0000_0000_0000\n", 1, 1, "past the 48-bit address space"),
        ("# only comments\n\n", 1, 1, "holds no access"),
    ],
)
def test_a_malformed_access_list_is_an_error_in_it(tmp_path: Path, body: str, line: int, col: int, message: str) -> None:
    (tmp_path / "t.txt").write_text(body, encoding="utf-8")
    with pytest.raises(VmsError) as info:
        Compiler(PM).compile_text(scenario('job c on comp0 by app accesses "t.txt"'), str(tmp_path / "w.vms"))
    e = info.value
    assert (Path(e.path).name, e.line, e.col) == ("t.txt", line, col), str(e)
    assert message in e.message
    assert "nope" not in str(e) and "4KiB" not in str(e)  # an access list is not echoed


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing.txt", "cannot read the file"), (".", "not a regular file")],
)
def test_an_unreadable_access_list_is_an_error_at_the_clause(tmp_path: Path, target: str, message: str) -> None:
    text = scenario(f'job c on comp0 by app accesses "{target}"')
    with pytest.raises(VmsError) as info:
        Compiler(PM).compile_text(text, str(tmp_path / "w.vms"))
    e = info.value
    assert (e.path, e.line) == (str(tmp_path / "w.vms"), GPU.count("\n") + 6)
    assert message in e.message


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        ("pattern stride 6KiB", "stride 0x1800 is not a positive multiple of 4KiB"),
        ("passes 0", "passes 0: a walk repeats 1 to 1,000,000 times"),
    ],
)
def test_bad_pattern_values_are_errors_at_them(clause: str, message: str) -> None:
    with pytest.raises(VmsError) as info:
        Compiler(PM).compile_text(scenario(f"job c on comp0 by app touches 0x4000_0000 +64KiB {clause}"), "w.vms")
    assert message in info.value.message
