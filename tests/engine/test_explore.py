"""Exploration, witnesses, replay, shrinking and exports."""

from __future__ import annotations

import json
import random

from tests.engine.scenarios import ENGINES, KiB, MiB, fault_path_eviction
from vmcore.engine import Scenario, Scheduler
from vmcore.engine.explore import DfsScheduler, RandomScheduler, explore
from vmcore.engine.export import chrome_trace, dot_graph
from vmcore.engine.witness import ReplayScheduler, explain, shrink, signature, trace


def ring_race(locked: bool, sched: Scheduler | None = None) -> Scenario:
    """Direct submission by the fault handler while the scheduler thread writes a map."""
    s = Scenario("ring race", scheduler=sched)
    s.gpu(
        "gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False), ("sdma0", "sdma", False, locked)]
    )
    s.policy("update", "direct")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system", preferred="system")
    s.bo("buf", "gpu0.vram", 64 * KiB, "app")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
    with s.at(1_000):
        s.map("buf", "app", 0x9000_0000)
    s.run_until_idle()
    s.expect("ring intact", "sdma0", negate=True)
    s.expect("stall")
    return s


def test_exploration_finds_the_lockless_ring_race_and_the_lock_prevents_it() -> None:
    bad = explore(lambda sched: ring_race(False, sched), runs=20, strategy="random")
    assert bad.passed, [o.why for o in bad.outcomes]
    assert "committed dwords lost" in bad.outcomes[0].why
    good = explore(lambda sched: ring_race(True, sched), runs=20, strategy="random")
    assert not good.outcomes[0].passed  # `expect not ring intact` finds no damaged schedule
    assert good.outcomes[0].why.startswith("every packet")


def test_expect_p_needs_every_schedule_and_expect_not_p_needs_one() -> None:
    def build(sched: Scheduler | None) -> Scenario:
        s = fault_path_eviction("evict-lru")
        s.scheduler = sched
        s.expect("deadlock")
        s.expect("no deadlock")
        return s

    ex = explore(build, runs=5, strategy="pct", depth=2)
    verdicts = [o.passed for o in ex.outcomes]
    assert verdicts == [True, False]
    assert ex.runs == 5


def test_dfs_exhausts_a_small_space_and_visits_distinct_schedules() -> None:
    seen: list[tuple[int, ...]] = []

    def build(sched: Scheduler | None) -> Scenario:
        s = Scenario("two actors", scheduler=sched)
        s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
        s.process("app", ["gpu0"])
        s.svm("app", 0x4000_0000, 2 * MiB, "system", access=["gpu0"], preferred="system")
        s.job("a", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
        s.run_until_idle()
        s.expect("no deadlock")
        return s

    ex = explore(
        build, runs=10_000, strategy="dfs", depth=1, on_run=lambda i, r: seen.append(tuple(r.choices))
    )
    assert ex.exhausted is True
    assert ex.runs == len(seen) == len(set(seen)) > 1
    # a second search visits exactly the same schedules
    again: list[tuple[int, ...]] = []
    explore(build, runs=10_000, strategy="dfs", depth=1, on_run=lambda i, r: again.append(tuple(r.choices)))
    assert again == seen


def test_replay_reproduces_a_schedule_exactly() -> None:
    r1 = ring_race(False, RandomScheduler(7)).run()
    r2 = ring_race(False, ReplayScheduler(list(r1.choices))).run()
    assert r1.log == r2.log
    assert r1.choices == r2.choices
    assert [o.passed for o in r1.outcomes] == [o.passed for o in r2.outcomes]


def test_shrinking_turns_a_padded_witness_into_a_short_one() -> None:
    def build(sched: Scheduler | None) -> Scenario:
        return ring_race(False, sched)

    # find a damaging schedule, then pad it with arbitrary extra choices
    rng = random.Random(3)
    for seed in range(50):
        r = build(RandomScheduler(seed)).run()
        if r.outcomes[0].passed:
            break
    padded = list(r.choices) + [rng.randrange(1, 4) for _ in range(40)]
    want = signature(build(ReplayScheduler(padded)).run(), line=0)
    small, res, runs = shrink(build, padded, lambda x: signature(x, 0) == want, budget=200)
    assert res is not None and runs <= 200
    assert len(small) < len(padded)
    assert sum(1 for c in small if c) <= sum(1 for c in padded if c)
    assert res.outcomes[0].passed  # still shows the corruption


def test_witness_trace_and_explanation_name_the_cycle() -> None:
    r = fault_path_eviction("evict-lru").run()
    t = trace(r)
    assert t.splitlines()[0].lstrip().startswith("1.")
    assert "fault handler gpu0" in t
    text = explain(r)
    assert text.startswith("The fault handler of gpu0 waits for fence m1")
    assert "running job c1" in text and "a deadlock" in text


def test_chrome_trace_has_tracks_slices_and_flows() -> None:
    r = fault_path_eviction("no-wait").run()
    data = json.loads(chrome_trace([("fault-path eviction", r)]))
    ev = data["traceEvents"]
    tracks = {e["args"]["name"] for e in ev if e.get("name") == "thread_name"}
    assert {"comp0", "vcn0", "fault handler gpu0", "sdma0 page queue"} <= tracks
    begins = [e for e in ev if e["ph"] == "B"]
    ends = [e for e in ev if e["ph"] == "E"]
    assert {e["name"] for e in begins} == {"c1", "m1"} and len(ends) == len(begins)
    starts = {e["id"] for e in ev if e["ph"] == "s"}
    finishes = {e["id"] for e in ev if e["ph"] == "f"}
    assert starts and starts == finishes
    assert all(isinstance(e.get("ts", 0.0), float | int) for e in ev)


def test_dot_graph_draws_the_cycle_in_red() -> None:
    r = fault_path_eviction("evict-lru").run()
    dot = dot_graph("x", r)
    assert dot.startswith('digraph "x"')
    assert dot.count("color=red") == len(r.deadlocks[0])
    assert '"fault handler gpu0" -> "fence m1"' in dot


def test_dfs_scheduler_records_choice_points() -> None:
    sched = DfsScheduler([1])
    ring_race(False, sched).run()
    assert sched.trace and sched.trace[0][0] == 1


def test_the_default_schedule_misses_the_ring_race_that_exploration_finds() -> None:
    single = ring_race(False).run()
    assert not single.outcomes[0].passed  # one default schedule: the ring stays intact
    assert "every packet" in single.outcomes[0].why
    explored = explore(lambda sched: ring_race(False, sched), runs=20, strategy="random")
    assert explored.outcomes[0].passed  # some explored schedule corrupts it


def _two_actors(sched: Scheduler, steps: int) -> list[str]:
    """Two actors, each running ``steps + 1`` segments separated by preemption points."""
    from vmcore.engine.sim import Sim, Sleep

    order: list[str] = []
    sim = Sim(sched)

    def actor(name: str):  # type: ignore[no-untyped-def]
        for i in range(steps + 1):
            order.append(f"{name}{i}")
            if i < steps:
                yield Sleep(0)

    sim.spawn("A", actor("A"))
    sim.spawn("B", actor("B"))
    sim.run()
    sim.close()
    return order


def test_dfs_enumerates_exactly_the_interleavings_of_two_actors() -> None:
    from math import comb

    from vmcore.engine.explore import _next_prefix

    for steps, bound, expected in [(2, 100, comb(6, 3)), (3, 100, comb(8, 4)), (2, 0, 1)]:
        seen: list[tuple[str, ...]] = []
        prefix: list[int] | None = []
        while prefix is not None:
            sched = DfsScheduler(prefix)
            seen.append(tuple(_two_actors(sched, steps)))
            prefix = _next_prefix(sched.trace, bound)
        assert len(seen) == expected, (steps, bound, len(seen))
        assert len(set(seen)) == expected
        for order in seen:  # each actor's own segments stay in program order
            for name in "AB":
                mine = [x for x in order if x[0] == name]
                assert mine == sorted(mine)


def _first_hit(build: object, runs: int, depth: int, hit: object) -> tuple[int | None, int, int]:
    """Index of the first PCT schedule where ``hit(result)`` holds; actors and steps seen."""
    found: list[int] = []
    actors = steps = 0

    def seen(i: int, r: object) -> None:
        nonlocal actors, steps
        steps = max(steps, r.events)  # type: ignore[attr-defined]
        actors = max(actors, len({a for _, a, _, _ in r.log}))  # type: ignore[attr-defined]
        if not found and hit(r):  # type: ignore[operator]
            found.append(i)

    explore(build, runs, "pct", depth, seed=3, on_run=seen)  # type: ignore[arg-type]
    return (found[0] if found else None), actors, steps


def test_pct_finds_bugs_within_the_runs_its_guarantee_predicts() -> None:
    # PCT (Burckhardt et al.) finds a bug of depth d with probability >= 1 / (n * k^(d-1))
    # per run, for n actors and k steps: expect a witness well within n * k^(d-1) runs.
    def deadlock_build(sched: Scheduler | None) -> Scenario:
        s = fault_path_eviction("evict-lru")
        s.scheduler = sched
        return s

    first, n, k = _first_hit(deadlock_build, 20, 1, lambda r: bool(r.deadlocks))
    assert first is not None and first < n  # depth 1: within n runs
    first, n, k = _first_hit(lambda sched: ring_race(False, sched), 200, 2, lambda r: r.outcomes[0].passed)
    assert first is not None and first < min(200, n * k)  # depth 2: within n * k runs
