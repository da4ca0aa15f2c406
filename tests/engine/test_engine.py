"""Engine behaviour beyond the seed cases: determinism, budgets, policies and plugins."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from tests.engine.scenarios import KiB, MiB, base, fault_path_eviction
from vmcore.engine import Scenario
from vmcore.hooks import hookspecs
from vmcore.hooks.decisions import FaultAction, FaultInfo
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.manager import PluginError, plugin_manager
from vmcore.hooks.policies import Policy, PolicyError


def test_same_inputs_give_the_same_event_log() -> None:
    logs = []
    for _ in range(2):
        s = fault_path_eviction("no-wait")
        s.svm("app", 0x8000_0000, 4 * MiB, "gpu0.vram")
        s.job("c2", "comp0", "app", touches=(0x8000_0000, 4 * MiB))
        s.run_until_idle()
        r = s.run()
        logs.append(r.format_log())
    assert logs[0] == logs[1]
    assert len(logs[0].splitlines()) > 10


def test_fault_records_pickle_as_records() -> None:
    """A parallel ``vmcore test -n`` sends each Result home pickled: the faults in it go as
    their records (the fault handler's in-flight state, generators included, stays)."""
    import pickle

    from vmcore.engine.monitor import FaultRecord

    s = fault_path_eviction("no-wait")
    s.run_until_idle()
    r = s.run()
    recs = r.monitor.faults
    assert recs
    back = pickle.loads(pickle.dumps(recs))
    assert [type(f) for f in back] == [FaultRecord] * len(recs)
    fields = ("gpu", "process", "address", "write", "retry", "posted", "resolved", "outcome")
    assert [[getattr(f, k) for k in fields] for f in back] == [[getattr(f, k) for k in fields] for f in recs]


@pytest.mark.parametrize("alloc", ["no-wait", "evict-lru"])
def test_a_result_does_not_keep_the_engine_alive(alloc: str) -> None:
    """Exploration keeps every schedule's Result: its fault records must not hold the
    run's VMs (and through them the whole engine) alive, resolved or not (evict-lru
    deadlocks with c1's fault still in flight)."""
    import gc

    from vmcore.engine.system import System

    r = fault_path_eviction(alloc).run()
    assert any(f.resolved is None for f in r.monitor.faults) is (alloc == "evict-lru")
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, System)]
    assert r.monitor.faults  # the records are still there


def test_event_budget_stops_a_runaway_scenario() -> None:
    s = fault_path_eviction("no-wait")
    s.max_events = 10
    r = s.run()
    assert not r.passed
    assert any("event budget" in f for f in r.failures)


def test_time_budget_stops_a_runaway_scenario() -> None:
    s = base("long")
    s.max_time = 1_000
    s.process("app", ["gpu0"])
    s.run_for(5_000)
    r = s.run()
    assert any("simulated-time budget" in f for f in r.failures)


def test_unknown_policy_lists_known_names_and_suggests() -> None:
    s = fault_path_eviction("evict-lr")
    with pytest.raises(PolicyError) as e:
        s.run()
    msg = str(e.value)
    assert "did you mean 'evict-lru'" in msg
    assert "no-wait" in msg and "emergency-pool" in msg


def test_unknown_policy_parameter_is_named() -> None:
    s = fault_path_eviction("emergency-pool")
    s.policy("alloc", "emergency-pool", sise=4096)
    with pytest.raises(PolicyError, match="sise"):
        s.run()


def test_deadlock_not_expected_fails_the_scenario() -> None:
    r = fault_path_eviction("evict-lru").run()
    assert not r.passed
    assert r.failures and r.failures[0].startswith("unexpected deadlock: fault handler gpu0")


class Raising(Policy):
    family = "fault"
    name = "raising"

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        raise RuntimeError("boom")


class WrongType(Policy):
    family = "fault"
    name = "wrong-type"

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> object:
        return 42


class PolicyPlugin:
    @hookimpl
    def vmcore_policies(self) -> list[type[Policy]]:
        return [Raising, WrongType]


def _unmapped(policy: str) -> Scenario:
    pm = plugin_manager(entry_points=False)
    pm.register(PolicyPlugin(), name="test-plugin")
    s = Scenario("unmapped", plugins=pm)
    s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False)])
    s.policy("fault", policy)
    s.process("app", ["gpu0"])
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 4 * KiB))
    s.run_until_idle()
    return s


def test_plugin_hook_that_raises_fails_the_scenario_naming_plugin_and_hook() -> None:
    r = _unmapped("raising").run()
    assert not r.passed
    msg = r.failures[0]
    assert "'raising'" in msg and "vmcore_fault_action" in msg and "RuntimeError: boom" in msg
    assert "Traceback" in msg


def test_plugin_hook_with_wrong_return_type_fails_the_scenario() -> None:
    r = _unmapped("wrong-type").run()
    assert not r.passed
    assert "returned int 42, expected FaultAction" in r.failures[0]


def test_policy_name_claimed_twice_is_an_error() -> None:
    class Dup(Policy):
        family = "fault"
        name = "map-or-kill"

    class DupPlugin:
        @hookimpl
        def vmcore_policies(self) -> list[type[Policy]]:
            return [Dup]

    pm = plugin_manager(entry_points=False)
    pm.register(DupPlugin(), name="dup")
    s = Scenario("dup", plugins=pm)
    s.gpu("gpu0", vram=16 * MiB)
    with pytest.raises(PluginError, match="claimed twice"):
        s.run()


def test_observer_sees_every_logged_event() -> None:
    seen: list[str] = []

    class Observer:
        @hookimpl
        def vmcore_event(self, time: int, actor: str, action: str, detail: str) -> None:
            seen.append(action)

    pm = plugin_manager(entry_points=False)
    pm.register(Observer(), name="observer")
    s = fault_path_eviction("no-wait")
    s.pm = pm
    r = s.run()
    assert seen == [a for _, _, a, _ in r.log]


def test_every_hookspec_is_documented() -> None:
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("vmcore_"):
            assert fn.__doc__ and len(fn.__doc__.strip()) > 40, name


def test_engine_job_on_gpu_without_vm_is_a_scenario_error() -> None:
    s = Scenario("two gpus")
    s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False)])
    s.gpu("gpu1", vram=16 * MiB, engines=[("comp1", "compute", True, False)])
    s.process("app", ["gpu0"])
    s.job("c1", "comp1", "app", touches=(0x1000_0000, 4 * KiB))
    r = s.run()
    assert any("has no VM on gpu1" in f for f in r.failures)


def test_bo_larger_than_its_pool_is_a_scenario_error() -> None:
    s = base("big bo")
    s.process("app", ["gpu0"])
    s.bo("huge", "gpu0.vram", 32 * MiB, "app")
    r = s.run()
    assert any("larger than gpu0.vram" in f for f in r.failures)


def _fast_as_slow(replay: Callable[[bool], tuple[list[Any], dict[str, float], int]]) -> list[Any]:
    """Run ``replay`` with the event log on (step by step) and off (fast-forwarded):
    fault records, metrics and step count must agree; returns the fast run's records."""
    slow, m1, steps1 = replay(True)
    fast, m2, steps2 = replay(False)
    assert slow == fast
    assert m1 == m2
    assert steps1 == steps2
    return fast


@pytest.mark.parametrize(("ngpus", "with_job"), [(2, False), (4, False), (4, True)])
def test_fast_forwarded_faults_resolve_exactly_as_step_by_step(ngpus: int, with_job: bool) -> None:
    """With the event log off, already-mapped faults are resolved back to back, those of
    other GPUs' rings too (their handlers' steps taken by the running one); every
    fault's resolution time and outcome, the metrics and the step count must equal the
    step-by-step run's.  The job faults on pages of the trace too (faults it waits for
    end a window), and 4 GPUs fill their rings (a drain to half a ring wakes the replay)."""
    import random

    def replay(keep_log: bool) -> tuple[list[tuple[str, int, int, int | None, str]], dict[str, float], int]:
        s = Scenario("replay", keep_log=keep_log)
        gpus = [f"gpu{i}" for i in range(ngpus)]
        for g in gpus:
            s.gpu(g, vram=64 * MiB, engines=[(f"{g}.comp", "compute", True, False)])
        s.process("app", gpus)
        s.svm("app", 0x10_0000_0000, ngpus * 16 * MiB, "system")
        rng = random.Random(4)
        trace = [
            (gpus[i % ngpus], 0x10_0000_0000 + (i % ngpus) * 16 * MiB + rng.randrange(4096) * 4096, bool(i & 2))
            for i in range(3000 * ngpus // 2)
        ]
        if with_job:  # gpu1's first faults: its first granule's, the job's first page among them
            job_va = 0x10_0000_0000 + 16 * MiB
            trace = [("gpu1", job_va + k * 4096, False) for k in (2, 3, 4, 5, 0, 6)] + trace
            s.job("j", "gpu1.comp", "app", touches=(job_va, 4 * MiB))
        s.replay_faults("app", trace)
        s.run_until_idle()
        r = s.run()
        assert not r.failures, r.failures
        recs = [(f.gpu, f.address, f.posted, f.resolved, f.outcome) for f in r.monitor.faults]
        return recs, r.metrics, r.events

    fast = _fast_as_slow(replay)
    assert sum(1 for *_, o in fast if o == "mapped") > 2000


def test_fast_forward_over_rings_holding_faults_of_two_processes() -> None:
    """Two processes replay at once on the same GPUs, so each IH ring holds runs of faults
    of two VMs (the fast-forward asks their translations per run of one VM), and a third
    of one process's pages lie outside its range (faults that need the fault policy end
    a window).  Fast and step-by-step runs must agree fault by fault."""
    import random

    def replay(keep_log: bool) -> tuple[list[tuple[str, str, int, int, int | None, str]], dict[str, float], int]:
        s = Scenario("two tenants", keep_log=keep_log)
        gpus = ["gpu0", "gpu1"]
        for g in gpus:
            s.gpu(g, vram=64 * MiB, engines=[(f"{g}.comp", "compute", True, False)])
        s.policy("fault", "dummy-page")
        rng = random.Random(7)
        traces = {}
        for k, name in enumerate(["a", "b"]):
            base = 0x10_0000_0000 + k * 0x1_0000_0000
            s.process(name, gpus)
            s.svm(name, base, 32 * MiB, "system")
            span = 48 * MiB if name == "b" else 32 * MiB  # b's last third: no range there
            traces[name] = [
                (gpus[i % 2], base + (i % 2) * 16 * MiB + rng.randrange(span // 2 // 4096) * 4096, bool(i & 2))
                for i in range(3000)
            ]
        with s.at(0):
            s.replay_faults("b", traces["b"])
        s.replay_faults("a", traces["a"])
        s.run_until_idle()
        r = s.run()
        assert not r.failures, r.failures
        recs = [(f.gpu, f.process, f.address, f.posted, f.resolved, f.outcome) for f in r.monitor.faults]
        return recs, r.metrics, r.events

    fast = _fast_as_slow(replay)
    outcomes = {o for *_, o in fast}
    assert "mapped" in outcomes and len(outcomes) > 1, outcomes
