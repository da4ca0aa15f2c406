"""The bundled workloads (scenarios/workloads/): their traces are what make_traces.py
writes, each says what it imitates and what to look for, each oversubscribes VRAM 2-4x,
and the figures their headers derive from definitions hold."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from vmcore.cli.compare import Choice, run_cell
from vmcore.dsl.compiler import Compiler
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "scenarios" / "workloads"
FILES = sorted(WORKLOADS.glob("*.vms"))
PM = plugin_manager(entry_points=False)
UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def test_the_six_workloads_are_there() -> None:
    assert {f.stem for f in FILES} == {"stream", "random", "gemm", "hotspot", "kmeans", "two-tenants"}


def test_the_traces_are_what_make_traces_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_traces", WORKLOADS / "make_traces.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, make in mod.TRACES.items():
        assert (WORKLOADS / name).read_text(encoding="utf-8") == "\n".join(make()) + "\n", (
            f"{name} is stale: run python scenarios/workloads/make_traces.py"
        )


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)", text)
    assert m, text
    return int(m.group(1)) * UNITS[m.group(2)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_workload_says_what_it_imitates_and_what_to_look_for(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert re.search(r"gpu_ext|UVMSmart|Rodinia|PolyBench", header), "cite the workload it imitates"
    assert "Look at" in header and "vmcore compare" in header
    vram = sum(_size(v) for v in re.findall(r"^\s*vram (\S+)", text, re.MULTILINE))
    ranges = sum(_size(s) for s in re.findall(r"^\s*svm \S+ \S+ \+(\S+)", text, re.MULTILINE))
    assert 2 <= ranges / vram <= 4, (ranges, vram)


def _metric(path: Path, metric: str, *choices: Choice) -> float:
    (item,) = Compiler(PM).compile_path(path)
    cell = run_cell(item, PM, tuple(choices), 0)
    assert cell.passed and not cell.errors
    return cell.metrics[metric]


def test_a_stream_without_prefetch_faults_on_every_granule_of_both_passes() -> None:
    granules = (32 << 20) // (32 << 10)
    assert _metric(WORKLOADS / "stream.vms", "faults") == 2 * granules
    # sequential(64KiB) brings two granules with each fault: about a third of the faults
    assert _metric(WORKLOADS / "stream.vms", "faults", Choice("prefetch", "sequential")) < 2 * granules / 2.5


def test_an_eviction_takes_a_whole_svm_range() -> None:
    # KFD cuts the 32MiB range into 2MiB pieces (svm_range_set_max_pages for 8MiB of VRAM),
    # each one VRAM BO: an eviction moves 64 granules of 32KiB at once
    evictions = _metric(WORKLOADS / "stream.vms", "evictions")
    migrations = _metric(WORKLOADS / "stream.vms", "migrations")
    faults = _metric(WORKLOADS / "stream.vms", "faults")
    assert 0 < evictions < (migrations - faults) / 32


def test_kmeans_under_lru_faults_every_granule_on_every_pass_and_mru_less() -> None:
    granules, passes = (32 << 20) // (512 << 10), 5
    lru = _metric(WORKLOADS / "kmeans.vms", "faults", Choice("evict", "lru"))
    assert lru == granules * passes
    assert _metric(WORKLOADS / "kmeans.vms", "faults", Choice("evict", "mru")) < lru
