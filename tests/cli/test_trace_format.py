"""``vmcore test --trace`` writes what trace viewers accept (issue 15): the Trace Event
Format's rules, checked by a small validator of its own, on the traces of a job killed
before it started, of faults and migrations, of a deadlock, and of every bundled scenario.

The rules (Trace Event Format, the "JSON Object Format" with ``traceEvents``): each phase
has its required keys; ``B``/``E`` pairs nest on their thread; an ``X`` slice has a
duration ``dur >= 0``; slices on one thread nest (none overlaps another partially); a
flow (``s``, ``t``, ``f``) binds to a slice of its own thread: ``s`` and ``t`` to the
slice enclosing their timestamp, ``f`` too with ``"bp": "e"`` (else to the next slice to
begin); a flow's ids are matched, one ``s`` and one ``f`` each.  A slice encloses the
timestamps from its start up to, not including, its end: Perfetto closes a complete
slice before it reads an event at its end time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.cli.test_cli import FAILING, GPU, SCENARIOS, output, run, write

EPS = 1e-9
"""Microseconds: timestamps are nanoseconds / 1000, so sums of them round."""

REQUIRED: dict[str, set[str]] = {
    "M": {"ph", "name", "pid", "args"},
    "B": {"ph", "name", "ts", "pid", "tid"},
    "E": {"ph", "ts", "pid", "tid"},
    "X": {"ph", "name", "ts", "dur", "pid", "tid"},
    "i": {"ph", "name", "ts", "pid", "tid"},
    "s": {"ph", "name", "cat", "id", "ts", "pid", "tid"},
    "t": {"ph", "name", "cat", "id", "ts", "pid", "tid"},
    "f": {"ph", "name", "cat", "id", "ts", "pid", "tid"},
}

Slice = tuple[float, float, str]
"""start, end (microseconds), name."""


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def validate(doc: object) -> list[str]:
    """What in ``doc`` breaks the Trace Event Format's rules (nothing: an empty list)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return ["not a JSON object with a traceEvents list"]
    problems: list[str] = []
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        problems.append(f"displayTimeUnit {doc['displayTimeUnit']!r} is neither 'ms' nor 'ns'")
    events: list[dict[str, Any]] = doc["traceEvents"]
    named_threads: set[tuple[object, object]] = set()
    named_processes: set[object] = set()
    per_thread: dict[tuple[object, object], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for k, e in enumerate(events):
        ph = e.get("ph")
        if ph not in REQUIRED:
            problems.append(f"event {k}: phase {ph!r} is not one this exporter should write")
            continue
        missing = REQUIRED[ph] - set(e)
        if missing:
            problems.append(f"event {k} ({ph}): missing {sorted(missing)}")
            continue
        if ph == "M":
            if e["name"] == "thread_name":
                named_threads.add((e["pid"], e.get("tid")))
            elif e["name"] == "process_name":
                named_processes.add(e["pid"])
            if not isinstance(e["args"], dict) or not isinstance(e["args"].get("name"), str):
                problems.append(f"event {k} (M): args.name is not a string")
            continue
        if not _number(e["ts"]):
            problems.append(f"event {k} ({ph}): ts {e['ts']!r} is not a number")
            continue
        if ph == "X" and not (_number(e["dur"]) and e["dur"] >= 0):
            problems.append(f"event {k} (X {e['name']}): dur {e['dur']!r} is not a number >= 0")
            continue
        if ph == "i" and e.get("s", "t") not in ("g", "p", "t"):
            problems.append(f"event {k} (i): scope {e['s']!r}")
        per_thread[(e["pid"], e["tid"])].append((k, e))
    for thread in per_thread:
        if thread not in named_threads:
            problems.append(f"thread {thread} has no thread_name")
        if thread[0] not in named_processes:
            problems.append(f"process {thread[0]} has no process_name")
    slices: dict[tuple[object, object], list[Slice]] = {}
    for thread, evs in per_thread.items():
        slices[thread], bad = _slices(thread, evs)
        problems += bad
    problems += _flows(per_thread, slices)
    return problems


def _slices(
    thread: tuple[object, object], evs: list[tuple[int, dict[str, Any]]]
) -> tuple[list[Slice], list[str]]:
    """The thread's slices (``X`` and matched ``B``/``E``), and how they break the rules."""
    problems: list[str] = []
    found: list[Slice] = []
    stack: list[tuple[float, str]] = []
    for _, e in sorted(evs, key=lambda ke: (ke[1]["ts"], ke[0])):  # stable: the file's order for equal times
        if e["ph"] == "X":
            found.append((e["ts"], e["ts"] + e["dur"], e["name"]))
        elif e["ph"] == "B":
            stack.append((e["ts"], e["name"]))
        elif e["ph"] == "E":
            if not stack:
                problems.append(f"thread {thread}: E {e.get('name')!r} at {e['ts']} without a B")
                continue
            start, name = stack.pop()
            if "name" in e and e["name"] != name:
                problems.append(f"thread {thread}: E {e['name']!r} at {e['ts']} closes B {name!r}")
            found.append((start, e["ts"], name))
    problems += [f"thread {thread}: B {name!r} at {ts} never ends" for ts, name in stack]
    open_: list[Slice] = []
    for s in sorted(found, key=lambda s: (s[0], -s[1])):
        while open_ and open_[-1][1] <= s[0] + EPS:
            open_.pop()
        if open_ and s[1] > open_[-1][1] + EPS:
            problems.append(f"thread {thread}: slice {s} overlaps {open_[-1]} without nesting in it")
        open_.append(s)
    return found, problems


def _flows(
    per_thread: dict[tuple[object, object], list[tuple[int, dict[str, Any]]]],
    slices: dict[tuple[object, object], list[Slice]],
) -> list[str]:
    problems: list[str] = []
    by_id: dict[object, list[dict[str, Any]]] = defaultdict(list)
    for thread, evs in per_thread.items():
        for _, e in evs:
            if e["ph"] not in ("s", "t", "f"):
                continue
            by_id[(e["cat"], e["id"])].append(e)
            ts, mine = e["ts"], slices.get(thread, [])
            if e["ph"] == "f" and e.get("bp") != "e":
                bound = any(s[0] + EPS >= ts for s in mine)  # the next slice to begin
            else:
                bound = any(s[0] <= ts + EPS and ts + EPS < s[1] for s in mine)  # the enclosing slice
            if not bound:
                problems.append(f"flow {e['ph']} {e['id']} at {ts} on thread {thread} binds to no slice")
    for fid, group in by_id.items():
        phases = sorted(e["ph"] for e in group)
        if phases.count("s") != 1 or phases.count("f") != 1:
            problems.append(f"flow {fid}: phases {phases}, not one s and one f")
            continue
        s = next(e for e in group if e["ph"] == "s")
        f = next(e for e in group if e["ph"] == "f")
        if f["ts"] + EPS < s["ts"]:
            problems.append(f"flow {fid} ends at {f['ts']}, before it starts at {s['ts']}")
        if len({e["name"] for e in group}) != 1:
            problems.append(f"flow {fid}: its events have different names")
    return problems


def trace_of(tmp_path: Path, *paths: str) -> dict[str, Any]:
    p = run("test", *paths, "--trace", "t.json", cwd=tmp_path)
    assert p.returncode in (0, 1), output(p)
    doc: dict[str, Any] = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    return doc


def slice_names(doc: dict[str, Any], cat: str) -> list[tuple[str, float]]:
    """(name, duration) of every slice of category ``cat``: X events and B/E pairs."""
    ev = doc["traceEvents"]
    out = [(e["name"], e["dur"]) for e in ev if e["ph"] == "X" and e.get("cat") == cat]
    begins = {(e["pid"], e["tid"], e["name"]): e["ts"] for e in ev if e["ph"] == "B" and e.get("cat") == cat}
    for e in ev:
        if e["ph"] == "E" and (e["pid"], e["tid"], e["name"]) in begins:
            out.append((e["name"], e["ts"] - begins[(e["pid"], e["tid"], e["name"])]))
    return out


KILLED_BEFORE_START = (
    GPU + 'scenario "killed in the queue" {\n    policy fault = "map-or-kill"\n    process app on gpu0\n'
    "    job c1 on comp0 by app touches 0x7000_0000 +8KiB\n"
    "    job c2 on comp0 by app touches 0x7000_0000 +8KiB\n"
    "    run until idle\n    expect app killed\n}\n"
)

MIGRATIONS = (
    GPU
    + 'scenario "faults and migrations" {\n    process app on gpu0\n    svm app 0x4000_0000 +4MiB in system\n'
    "    job c1 on comp0 by app touches 0x4000_0000 +4MiB\n    run until idle\n"
    "    cpu app writes 0x4000_0000 +8KiB\n    expect no stall\n}\n"
)


def test_the_validator_sees_what_breaks_the_rules() -> None:
    name = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "p"}}]
    name.append({"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "t"}})
    x = {"ph": "X", "pid": 1, "tid": 1, "name": "a", "ts": 0.0, "dur": 2.0}
    assert validate({"traceEvents": [*name, x]}) == []
    cases: dict[str, list[dict[str, Any]]] = {
        "without a B": [{"ph": "E", "pid": 1, "tid": 1, "ts": 1.0}],
        "never ends": [{"ph": "B", "pid": 1, "tid": 1, "name": "b", "ts": 1.0}],
        "dur": [{**x, "dur": -1.0}],
        "missing": [{"ph": "X", "pid": 1, "tid": 1, "ts": 0.0, "name": "a"}],
        "without nesting": [x, {**x, "ts": 1.0}],
        "binds to no slice": [
            x,
            {"ph": "s", "pid": 1, "tid": 1, "ts": 5.0, "id": 1, "name": "f", "cat": "c"},
            {"ph": "f", "bp": "e", "pid": 1, "tid": 1, "ts": 1.0, "id": 1, "name": "f", "cat": "c"},
        ],
        "not one s and one f": [
            x,
            {"ph": "s", "pid": 1, "tid": 1, "ts": 1.0, "id": 2, "name": "f", "cat": "c"},
        ],
        "no thread_name": [{**x, "tid": 2}],
    }
    for why, bad in cases.items():
        problems = validate({"traceEvents": [*name, *bad]})
        assert any(why in p for p in problems), (why, problems)


def test_a_job_killed_before_it_starts_has_no_end_without_a_start(tmp_path: Path) -> None:
    write(tmp_path / "k.vms", KILLED_BEFORE_START)
    doc = trace_of(tmp_path, "k.vms")
    assert validate(doc) == []
    jobs = dict(slice_names(doc, "job"))
    assert "c1" in jobs  # it started and was killed: a slice from start to end
    assert "c2 queued" in jobs  # it never started: only the time it waited in the queue
    assert not any(e["ph"] in ("B", "E") and e["name"] == "c2" for e in doc["traceEvents"])


def test_every_job_fault_and_migration_is_a_slice_and_flows_bind_to_slices(tmp_path: Path) -> None:
    write(tmp_path / "m.vms", MIGRATIONS)
    doc = trace_of(tmp_path, "m.vms")
    assert validate(doc) == []
    ev = doc["traceEvents"]
    faults = [e for e in ev if e["ph"] == "i" and e["name"] == "fault"]
    migrated = [e for e in ev if e["ph"] == "i" and e["name"] == "migrated"]
    assert len(faults) == 2 and len(migrated) == 3  # two to VRAM, one back on the CPU's write
    fault_slices = [s for s in slice_names(doc, "fault") if not s[0].startswith("handle ")]
    assert len(fault_slices) == len(faults) and all(d > 0 for _, d in fault_slices)
    moves = slice_names(doc, "migration")
    assert len(moves) == len(migrated) and all(d > 0 for _, d in moves)
    assert {n for n, _ in slice_names(doc, "job")} == {"c1"}
    flows = [e for e in ev if e["ph"] in ("s", "f")]
    assert len(flows) == 2 * len(faults)


def test_a_deadlock_ends_the_slices_it_left_open_where_the_run_ended(tmp_path: Path) -> None:
    write(tmp_path / "fail.vms", FAILING)
    doc = trace_of(tmp_path, "fail.vms")
    assert validate(doc) == []
    jobs = dict(slice_names(doc, "job"))
    assert "c1" in jobs and "m1 queued" in jobs  # c1 stalls on its fault; m1 never starts
    faults = [s for s in slice_names(doc, "fault") if s[0].startswith("retry fault")]
    assert faults and all(d > 0 for _, d in faults)  # the fault never resolved: up to the end


def test_the_traces_of_the_bundled_scenarios_follow_the_rules(tmp_path: Path) -> None:
    doc = trace_of(tmp_path, str(SCENARIOS))
    assert validate(doc) == []
    assert len([e for e in doc["traceEvents"] if e["name"] == "process_name"]) > 10
