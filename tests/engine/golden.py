"""Reference runs: what the engine does, schedule by schedule, digested.

A refactor of the engine moves code without changing what runs.  This module runs a
fixed corpus (every bundled and plugin scenario, under its own policies and under every
built-in policy of each family, on the default schedule and on seeded random and PCT
schedules; the engine tests' Python scenarios; small oversubscribed workloads) and
digests each run: the event log, the scheduler's choices, the step count, the end time,
the metrics, the verdicts and the findings.  ``tests/engine/data/golden.json`` holds the
digests of the last accepted engine; ``test_golden.py`` compares.

A change that is *meant* to change behaviour regenerates the file and says so in its
commit: ``python -m tests.engine.golden --update`` (``--diff`` lists the runs that differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vmcore.dsl.compiler import Compiler
from vmcore.engine.explore import PctScheduler, RandomScheduler
from vmcore.engine.scenario import Result, Scenario
from vmcore.engine.sim import Scheduler
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies import FAMILIES

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = Path(__file__).resolve().parent / "data" / "golden.json"
REPLAYS = Path(__file__).resolve().parent / "data" / "replays"
"""Replay files written by the engine of their day (never regenerated): each must keep
replaying to the schedule it recorded.  ``expected.json`` holds what each replay did."""
RANDOM_SCHEDULES = 4
PCT_SCHEDULES = 2

WORKLOADS = {
    "stream 4KiB granules over 4x VRAM": """
gpu gpu0 { vram 256KiB; engine comp0 compute retry; engine sdma0 sdma }
scenario "w" {
    process app on gpu0
    svm app 0x4000_0000 +1MiB in system { granularity 4KiB }
    job p1 on comp0 by app touches 0x4000_0000 +1MiB
    job p2 on comp0 by app touches 0x4000_0000 +1MiB after p1
    run until idle
}
""",
    "stream 2MiB granules over 4x VRAM": """
gpu gpu0 { vram 4MiB; engine comp0 compute retry; engine sdma0 sdma }
scenario "w" {
    process app on gpu0
    svm app 0x4000_0000 +16MiB in system
    job p1 on comp0 by app touches 0x4000_0000 +16MiB
    job p2 on comp0 by app touches 0x4000_0000 +16MiB after p1
    run until idle
}
""",
    "two processes and BOs under pressure": """
gpu gpu0 { vram 1MiB; engine comp0 compute retry; engine comp1 compute retry; engine sdma0 sdma }
scenario "w" {
    process a on gpu0
    process b on gpu0
    bo ba in gpu0.vram size 256KiB owner a
    bo bb in gpu0.vram size 256KiB owner b
    map ba into a at 0x9000_0000
    svm a 0x4000_0000 +1MiB in system { granularity 64KiB }
    svm b 0x4000_0000 +1MiB in system { granularity 64KiB }
    job j1 on comp0 by a touches 0x4000_0000 +1MiB write value 7 uses ba
    job j2 on comp1 by b touches 0x4000_0000 +1MiB uses bb write
    job j3 on comp0 by a touches 0x9000_0000 +256KiB after j1
    run until idle
    expect 0x4000_0000 +1MiB of a reads 7
}
""",
}


def _h(x: object) -> str:
    return hashlib.sha256(repr(x).encode()).hexdigest()[:16]


def digest(r: Result) -> dict[str, Any]:
    """What a run did, small enough to keep: the log, the choices and the conclusions
    hashed; the step count, end time and verdict whole."""
    rest = (
        sorted(r.metrics.items()),
        [(o.expectation.line, o.passed, o.why) for o in r.outcomes],
        [f.split("\n", 1)[0] for f in r.failures],
        r.deadlocks,
        r.stalls,
        r.leaks,
        sorted((k, [str(f) for f in v]) for k, v in r.findings.items()),
    )
    return {
        "log": _h(r.log),
        "choices": _h(r.choices),
        "events": r.events,
        "end": r.end_time,
        "conclusions": _h(rest),
        "passed": r.passed,
    }


def _schedules() -> Iterator[tuple[str, Callable[[], Scheduler | None]]]:
    yield "default", lambda: None
    for i in range(RANDOM_SCHEDULES):
        yield f"random{i}", lambda i=i: RandomScheduler(1000 + i)  # type: ignore[misc]
    for i in range(PCT_SCHEDULES):
        yield f"pct{i}", lambda i=i: PctScheduler(2000 + i, 2, 200)  # type: ignore[misc]


def corpus() -> Iterator[tuple[str, Callable[[Scheduler | None], Scenario], bool]]:
    """(run id, build(scheduler), explore it) for every scenario of the corpus."""
    pm = plugin_manager(entry_points=True)
    comp = Compiler(pm)
    files = sorted((ROOT / "scenarios").glob("*.vms"))
    files += sorted((ROOT / "plugins").glob("*/scenarios/*.vms"))
    for f in files:
        for item in comp.compile_path(f):
            rel = f"{f.relative_to(ROOT)}::{item.short_id}"
            yield rel, lambda s, item=item: item.build(pm, {}, scheduler=s), True  # type: ignore[misc]
            if f.parent.name != "scenarios" or f.parent.parent != ROOT:
                continue
            for fam, classes in FAMILIES.items():
                for cls in classes:

                    def build(
                        s: Scheduler | None, item: Any = item, fam: str = fam, name: str = cls.name
                    ) -> Scenario:
                        sc: Scenario = item.build(pm, {}, scheduler=s)
                        sc.policy(fam, name)
                        return sc

                    yield f"{rel} [{fam}={cls.name}]", build, False
    from tests.engine import scenarios as py

    builders: list[tuple[str, Callable[[], Scenario]]] = []
    for alloc in ("no-wait", "evict-lru", "emergency-pool", "fail-retry"):
        builders.append((f"py fault_path_eviction {alloc}", lambda a=alloc: py.fault_path_eviction(a)))  # type: ignore[misc]
    for ptf in ("cs-fences-on-pt", "kernel-fences-only"):
        builders.append((f"py pt_eviction {ptf}", lambda p=ptf: py.pt_eviction(p)))  # type: ignore[misc]
    for upd in ("split-entities", "delayed-entity", "immediate-entity", "direct", "cpu"):
        builders.append((f"py delayed_entity {upd}", lambda u=upd: py.delayed_entity(u)))  # type: ignore[misc]
    for name, make in builders:

        def build_py(s: Scheduler | None, make: Callable[[], Scenario] = make) -> Scenario:
            sc = make()
            sc.scheduler = s
            return sc

        yield name, build_py, True
    for name, text in WORKLOADS.items():
        item = comp.compile_text(text, f"<{name}>")[0]
        yield f"workload {name}", lambda s, item=item: item.build(pm, {}, scheduler=s), True  # type: ignore[misc]


def replay(path: Path) -> Result:
    """Run a replay file as ``vmcore test --replay`` does."""
    from vmcore.cli.options import parse_policy
    from vmcore.engine.witness import ReplayFile, ReplayScheduler

    rf = ReplayFile.load(path)
    pm = plugin_manager(rf.plugins, entry_points=True)
    item = next(
        i for i in Compiler(pm).compile_path(ROOT / rf.path) if i.id.endswith(rf.id.split("::", 1)[1])
    )
    overrides = {fam: (name, params) for fam, name, params in map(parse_policy, rf.policies)}
    return item.build(pm, overrides, scheduler=ReplayScheduler(rf.choices)).run()


def record_replays() -> dict[str, dict[str, Any]]:
    return {p.name: digest(replay(p)) for p in sorted(REPLAYS.glob("*.json")) if p.name != "expected.json"}


def write_replays() -> None:
    """Save explored schedules of the bundled scenarios as replay files (done once)."""
    from vmcore.engine.witness import ReplayFile

    pm = plugin_manager(entry_points=True)
    REPLAYS.mkdir(parents=True, exist_ok=True)
    picks = {
        "03-fault-path-allocation.vms": 3,
        "05-direct-submission.vms": 4,
        "08-kill-with-faults-in-flight.vms": 2,
        "09-migration-outside-the-fault-handler.vms": 2,
        "10-multi-gpu.vms": 2,
    }
    for fname, n in picks.items():
        for item in Compiler(pm).compile_path(ROOT / "scenarios" / fname)[:n]:
            for seed in range(50):
                r = item.build(pm, {}, scheduler=RandomScheduler(seed)).run()
                if any(r.choices):
                    break
            rf = ReplayFile(f"scenarios/{fname}", f"scenarios/{fname}::{item.short_id}", r.choices)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.short_id)[:80]
            (REPLAYS / f"{fname[:2]}-{name}.json").write_text(rf.dumps(), encoding="utf-8")


def record() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid, build, explored in corpus():
        for sname, make in _schedules():
            if sname != "default" and not explored:
                break
            out[f"{rid} @{sname}"] = digest(build(make()).run())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help=f"rewrite {DATA.relative_to(ROOT)}")
    ap.add_argument("--diff", action="store_true", help="list the runs that differ from the file")
    ap.add_argument("--new-replays", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.new_replays:
        write_replays()
    now = record()
    replays = record_replays()
    if a.update:
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        (REPLAYS / "expected.json").write_text(json.dumps(replays, indent=1, sort_keys=True) + "\n")
        print(f"{len(now)} runs and {len(replays)} replays written to {DATA.parent.relative_to(ROOT)}")
        return 0
    old = json.loads(DATA.read_text(encoding="utf-8"))
    old.update({f"replay {k}": v for k, v in json.loads((REPLAYS / "expected.json").read_text()).items()})
    now.update({f"replay {k}": v for k, v in replays.items()})
    bad = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k))
    for k in bad:
        print(k)
        if a.diff and k in old and k in now:
            for field in old[k]:
                if old[k][field] != now[k][field]:
                    print(f"    {field}: {old[k][field]!r} -> {now[k][field]!r}")
    print(f"{len(bad)} of {len(now)} runs differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
