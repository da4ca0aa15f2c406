"""Compiled scenarios: their ids, what conditions and loop values select, what `use`
brings in, and what the built engine scenario holds; the seed scenarios all pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pluggy
import pytest

from tests.dsl.util import BODY_LINE, GPUS, PM, SCENARIO_FILES, compile_scenario, compile_text
from vmcore import hookimpl
from vmcore.dsl.compiler import CompiledScenario, Compiler, ExplorePlan
from vmcore.dsl.errors import VmsError
from vmcore.engine import Scenario, plan
from vmcore.hooks.manager import plugin_manager

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


def built(cs: CompiledScenario, pm: pluggy.PluginManager = PM) -> Scenario:
    return cs.build(pm)


def kinds(s: Scenario) -> list[str]:
    return [type(st).__name__ for st in s.statements]


def only(text: str) -> Scenario:
    """The engine scenario of a one-scenario body after the test GPUs."""
    (cs,) = compile_scenario(text)
    return built(cs)


def stmts(text: str, kind: type[plan.Statement]) -> list[plan.Statement]:
    return [st for st in only(text).statements if type(st) is kind]


def expects(stmts: list[plan.Statement]) -> list[plan.Expect]:
    return [st for st in stmts if isinstance(st, plan.Expect)]


# -- ids ------------------------------------------------------------------------------
def test_id_of_a_scenario_without_a_loop() -> None:
    (cs,) = compile_text(GPUS + 'scenario "plain one" {}\n', "/some/dir/x.vms")
    assert cs.id == "x.vms::plain one"
    assert (cs.name, cs.path, cs.line, cs.param) == ("plain one", "/some/dir/x.vms", 12, None)


def test_ids_of_a_for_loop() -> None:
    out = compile_text(
        GPUS + 'scenario "s" for X in ["no-wait", 0x10, 1_000, 4KiB, 2us, true, false] {}\n', "dir/f.vms"
    )
    # values as written, strings without their quotes
    assert [c.id for c in out] == [
        "f.vms::s[no-wait]",
        "f.vms::s[0x10]",
        "f.vms::s[1_000]",
        "f.vms::s[4KiB]",
        "f.vms::s[2us]",
        "f.vms::s[true]",
        "f.vms::s[false]",
    ]
    assert [c.param for c in out] == ["no-wait", "0x10", "1_000", "4KiB", "2us", "true", "false"]
    assert {c.name for c in out} == {"s"}


def test_id_of_text_without_a_file() -> None:
    (cs,) = Compiler(PM).compile_text('scenario "s" for X in [1] {}')
    assert cs.id == "<string>::s[1]"


def test_scenarios_come_in_file_order() -> None:
    out = compile_text(GPUS + 'scenario "b" {}\nscenario "a" for X in [1, 2] {}\nscenario "c" {}\n')
    assert [c.id for c in out] == ["t.vms::b", "t.vms::a[1]", "t.vms::a[2]", "t.vms::c"]
    assert [c.line for c in out] == [12, 13, 13, 14]


def test_seed_scenario_ids() -> None:
    out = Compiler(PM).compile_path(next(p for p in SCENARIO_FILES if p.name.startswith("07-")))
    assert [c.id for c in out] == [
        "07-unmapped-address.vms::an access to an unmapped address[map-or-kill]",
        "07-unmapped-address.vms::an access to an unmapped address[silence-retry]",
        "07-unmapped-address.vms::an access to an unmapped address[dummy-page]",
    ]


# -- loop values and conditions -------------------------------------------------------
def test_conditions_select_statements_per_loop_value() -> None:
    out = compile_text(
        GPUS
        + """scenario "s" for P in ["a", "b", "c"] {
    process app on gpu0
    kill app if P == "a"
    run for 1us if P != "a"
    at 1us {
        expect app alive if P == "b"
        expect app killed if P != "b"
    } if P != "c"
    run until idle
}
"""
    )
    a, b, c = (built(cs) for cs in out)
    assert kinds(a) == ["Process", "Kill", "RunIdle"]
    assert kinds(b) == ["Process", "RunFor", "RunIdle"]
    assert kinds(c) == ["Process", "RunFor", "RunIdle"]
    assert [[st.expectation.predicate.kind for st in expects(blk)] for _, blk in a.at_blocks] == [["killed"]]
    assert [[st.expectation.predicate.kind for st in expects(blk)] for _, blk in b.at_blocks] == [["alive"]]
    assert c.at_blocks == []
    assert [cs.statements for cs in out] == [5, 5, 3]  # an `at` and what it holds count


@pytest.mark.parametrize(
    ("value", "cond", "on"),
    [
        ('"x"', '== "x"', True),
        ('"x"', '!= "x"', False),
        ('"x"', '== "y"', False),
        ("1", "== 1", True),
        ("0x10", "== 16", True),
        ("4KiB", "== 4096B", True),
        ("4KiB", "== 4096", False),  # compared by kind and value: a size is not a number
        ("1us", "== 1000ns", True),
        ("1us", "== 1000", False),
        ("true", "== true", True),
        ("true", "!= false", True),
        ("true", '== "true"', False),
        ("1", '== "1"', False),
    ],
)
def test_condition_compares_kind_and_value(value: str, cond: str, on: bool) -> None:
    (cs,) = compile_text(
        GPUS + f'scenario "s" for X in [{value}] {{\n  process app on gpu0\n  kill app if X {cond}\n}}\n'
    )
    assert kinds(built(cs)) == (["Process", "Kill"] if on else ["Process"])


def test_condition_against_the_loop_variable_itself() -> None:
    (cs,) = compile_text(
        GPUS + 'scenario "s" for X in [3] {\n  process app on gpu0\n  kill app if X == X\n}\n'
    )
    assert kinds(built(cs)) == ["Process", "Kill"]


def test_loop_variable_stands_wherever_a_value_may() -> None:
    out = compile_text(
        GPUS
        + """scenario "s" for V in [0x4000_0000] {
    policy alloc = "emergency-pool"(size = V)
    explore 2 depth 3
    process app on gpu0
    svm app V +4KiB in system
    cpu app writes V +4KiB value V
    migrate app V +4KiB to gpu0.vram
    munmap app V +4KiB
    evict page tables of app at V
    job j on comp0 by app touches V +4KiB write value V
    expect V of app in system
    expect V of app reads V
    expect fault at V of app resolved
    expect faults < V
}
"""
    )
    s = built(out[0])
    v = 0x4000_0000
    assert s.choices["alloc"].params == (("size", v),)
    by = {type(st): st for st in s.statements}
    svm, cpu, mig, mun = by[plan.Svm], by[plan.Cpu], by[plan.Migrate], by[plan.Munmap]
    ev, job = by[plan.EvictPageTables], by[plan.Job]
    assert isinstance(svm, plan.Svm) and svm.addr == v
    assert isinstance(cpu, plan.Cpu) and (cpu.addr, cpu.value) == (v, v)
    assert isinstance(mig, plan.Migrate) and mig.addr == v
    assert isinstance(mun, plan.Munmap) and mun.addr == v
    assert isinstance(ev, plan.EvictPageTables) and ev.at == v
    assert isinstance(job, plan.Job) and (job.touches, job.value) == ((v, 4 * KiB), v)
    exps = [st.expectation.predicate for st in expects(s.statements)]
    assert [p.args for p in exps] == [
        (v, 4 * KiB, "app", "system"),
        (v, 4 * KiB, "app", v),
        (v, "app", None, None),
        ("faults", "<", v),
    ]


def test_loop_values_of_each_kind_in_their_places() -> None:
    out = compile_text(
        GPUS
        + """scenario "s" for T in [3us] {
    process app on gpu0
    job j on comp0 by app takes T
    at T { kill app }
    run for T
}
scenario "t" for P in ["on-fault"] {
    policy migration = P(silent_retry = S) if P == "x"
    policy migration = P
}
scenario "u" for S in [true, false] {
    policy migration = "on-fault"(silent_retry = S)
}
"""
    )
    t, p, s_true, s_false = (built(cs) for cs in out)
    job, run_for = t.statements[1:]
    assert isinstance(job, plan.Job) and isinstance(run_for, plan.RunFor)
    assert (job.takes, run_for.ns) == (3000, 3000)
    assert [at for at, _ in t.at_blocks] == [3000]
    assert p.choices["migration"].name == "on-fault"
    assert s_true.choices["migration"].params == (("silent_retry", True),)
    assert s_false.choices["migration"].params == (("silent_retry", False),)


def test_each_loop_value_is_compiled_on_its_own() -> None:
    out = compile_text(GPUS + 'scenario "s" for A in ["no-wait", "evict-lru"] {\n  policy alloc = A\n}\n')
    assert [cs.policies for cs in out] == [{"alloc": "no-wait"}, {"alloc": "evict-lru"}]
    assert [built(cs).choices["alloc"].name for cs in out] == ["no-wait", "evict-lru"]


# -- use ------------------------------------------------------------------------------
def test_use_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "vmcore.yaml").write_text("", encoding="utf-8")  # the project root: ../hw is inside it
    (tmp_path / "hw" / "gpus.vms").write_text(
        'use "links.vms"\ngpu a { vram 4MiB; engine ca compute retry }\n', encoding="utf-8"
    )
    (tmp_path / "hw" / "links.vms").write_text(
        "gpu b { vram 2MiB; gtt 16MiB; engine sb sdma locked }\n", encoding="utf-8"
    )
    (tmp_path / "tests" / "t.vms").write_text(
        'use "../hw/gpus.vms"\nlink a b xgmi bandwidth 8GiB/s latency 2us\n'
        'scenario "s" {\n  process app on a, b\n  job j on ca by app\n}\n',
        encoding="utf-8",
    )
    (cs,) = Compiler(PM).compile_path(tmp_path / "tests" / "t.vms")
    s = built(cs)
    assert sorted(s.gpus) == [
        ("a", 4 * MiB, GiB, [("ca", "compute", True, False)]),
        ("b", 2 * MiB, 16 * MiB, [("sb", "sdma", False, True)]),
    ]
    assert s.links == [("a", "b", "xgmi", 8 * GiB, 2000)]
    assert cs.id == "t.vms::s"


def test_use_from_text_resolves_against_the_given_path(tmp_path: Path) -> None:
    (tmp_path / "g.vms").write_text("gpu a { vram 1MiB }\n", encoding="utf-8")
    (cs,) = Compiler(PM).compile_text(
        'use "g.vms"\nscenario "s" { process p on a }\n', str(tmp_path / "x.vms")
    )
    assert [g[0] for g in built(cs).gpus] == ["a"]
    with pytest.raises(VmsError, match=r"cannot use 'g\.vms'"):
        Compiler(PM).compile_text('use "g.vms"\n', str(tmp_path / "elsewhere" / "x.vms"))


def test_use_from_a_string_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "g.vms").write_text("gpu a { vram 1MiB }\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (cs,) = Compiler(PM).compile_text('use "g.vms"\nscenario "s" { process p on a }\n')
    assert [g[0] for g in built(cs).gpus] == ["a"]


def test_seed_scenarios_use_the_shared_gpus() -> None:
    for path in SCENARIO_FILES:
        text = path.read_text(encoding="utf-8")
        if 'use "gpus.vms"' not in text:
            continue
        for cs in Compiler(PM).compile_path(path):
            assert "gpu0" in [g[0] for g in built(cs).gpus]


# -- what the built scenario holds ----------------------------------------------------
def test_topology() -> None:
    s = only("")
    assert s.gpus == [
        ("gpu0", 16 * MiB, 64 * MiB, [("comp0", "compute", True, False), ("vcn0", "mm", False, False), ("sdma0", "sdma", False, False)]),
        ("gpu1", 8 * MiB, GiB, [("comp1", "compute", True, False)]),
    ]  # fmt: skip
    (cs,) = compile_text('gpu g { vram 1MiB }\ngpu h { vram 1MiB }\nlink g h pcie\nscenario "s" {}\n')
    assert built(cs).links == [("g", "h", "pcie", 0, 0)]


def test_engine_lock_modes() -> None:
    (cs,) = compile_text(
        'gpu g { vram 1MiB; engine a sdma; engine b sdma lockless; engine c sdma locked }\nscenario "s" {}'
    )
    assert built(cs).gpus[0][3] == [
        ("a", "sdma", False, False),
        ("b", "sdma", False, False),
        ("c", "sdma", False, True),
    ]


def test_process_defaults_and_flags() -> None:
    procs = stmts(
        "process a on gpu0\nprocess b on gpu0, gpu1 { retry_faults off }\nprocess c on gpu1 { prefill on }",
        plan.Process,
    )
    assert procs == [
        plan.Process("a", ("gpu0",), True, False, line=13),
        plan.Process("b", ("gpu0", "gpu1"), False, False, line=14),
        plan.Process("c", ("gpu1",), True, True, line=15),
    ]


def test_svm_attributes() -> None:
    (svm,) = stmts(
        "process app on gpu0, gpu1\nsvm app 0x1000 +2MiB in gpu0.vram {\n  preferred gpu1.vram; access gpu0\n"
        "  in_place gpu1; granularity 64KiB; readonly; exec\n}",
        plan.Svm,
    )
    assert svm == plan.Svm(
        "app",
        0x1000,
        2 * MiB,
        "gpu0.vram",
        (
            ("preferred", "gpu1.vram"),
            ("access", ("gpu0",)),
            ("in_place", ("gpu1",)),
            ("granularity", 64 * KiB),
            ("readonly", True),
            ("exec", True),
        ),
        line=14,
    )


def test_bo_map_unmap() -> None:
    s = only(
        "process app on gpu0\nbo a in gpu0.vram size 4KiB owner app\nbo b in system size 8KiB owner app pinned contiguous\n"
        "map b into app at 0x9000_0000\nunmap b from app"
    )
    assert s.statements[1:] == [
        plan.Bo("a", "gpu0.vram", 4 * KiB, "app", False, False, line=14),
        plan.Bo("b", "system", 8 * KiB, "app", True, True, line=15),
        plan.Map("b", "app", 0x9000_0000, line=16),
        plan.Unmap("b", "app", line=17),
    ]


def test_job_defaults_and_clauses() -> None:
    a, b = stmts(
        "process app on gpu0\nbo v in system size 4KiB owner app\njob a on comp0 by app\n"
        "job b on vcn0 by app touches 0x1000 +8KiB write value 9 copies 0x1000 +4KiB to 0x3000 uses v write after a takes 2us",
        plan.Job,
    )
    assert a == plan.Job("a", "comp0", "app", None, False, 1, None, (), (), 1000, line=15)
    assert b == plan.Job(
        "b", "vcn0", "app", (0x1000, 8 * KiB), True, 9, (0x1000, 4 * KiB, 0x3000), (("v", True),), ("a",), 2000,
        line=16,
    )  # fmt: skip


def test_cpu_migrate_munmap_evict_kill_run() -> None:
    s = only(
        "process app on gpu0, gpu1\ncpu app reads 0x1000 +4KiB\ncpu app writes 0x1000 +4KiB value 5\n"
        "migrate app 0 +2MiB to gpu1.vram\nmunmap app 0 +2MiB\nevict page tables of app\n"
        "evict page tables of app on gpu1 at 0x2000\nkill app\nrun for 5us\nrun until idle"
    )
    assert s.statements[1:] == [
        plan.Cpu("app", "reads", 0x1000, 4 * KiB, 1, line=14),
        plan.Cpu("app", "writes", 0x1000, 4 * KiB, 5, line=15),
        plan.Migrate("app", 0, 2 * MiB, "gpu1.vram", line=16),
        plan.Munmap("app", 0, 2 * MiB, line=17),
        plan.EvictPageTables("app", None, None, line=18),
        plan.EvictPageTables("app", "gpu1", 0x2000, line=19),
        plan.Kill("app", line=20),
        plan.RunFor(5000, line=21),
        plan.RunIdle(line=22),
    ]


def test_at_blocks() -> None:
    s = only("process app on gpu0\nat 1500ns {\n  kill app\n}\nat 2ms { run for 1us; expect app killed }")
    assert [(t, [type(st).__name__ for st in blk]) for t, blk in s.at_blocks] == [
        (1500, ["Kill"]),
        (2_000_000, ["RunFor", "Expect"]),
    ]
    assert kinds(s) == ["Process"]


def expectations(text: str) -> list[tuple[str, tuple[object, ...], bool]]:
    return [
        (e.predicate.kind, e.predicate.args, e.negate)
        for e in (st.expectation for st in expects(only(text).statements))
    ]


def test_expectations() -> None:
    assert expectations(
        "process app on gpu0\nexpect deadlock\nexpect no deadlock\nexpect not no stall\nexpect potential deadlock\n"
        "expect leaks\nexpect user fence on page tables\nexpect no stale pte\nexpect not ring sdma0 intact\n"
        "expect app killed\nexpect not app alive\nexpect 0x1000 of app in gpu0.vram\nexpect 0x1000 +8KiB of app reads 3\n"
        "expect fault at 0x1234 of app on gpu0 resolved within 2us\nexpect bytes_moved >= 2MiB\n"
        "expect not vram_fragmentation < 1"
    ) == [
        ("no deadlock", (), True),
        ("no deadlock", (), False),
        ("no stall", (), True),
        ("no potential deadlock", (), True),
        ("no leaks", (), True),
        ("no user fence on page tables", (), True),
        ("no stale pte", (), False),
        ("ring intact", ("sdma0",), True),
        ("killed", ("app",), False),
        ("alive", ("app",), True),
        ("in", (0x1000, 4 * KiB, "app", "gpu0.vram"), False),
        ("reads", (0x1000, 8 * KiB, "app", 3), False),
        ("resolved", (0x1234, "app", "gpu0", 2000), False),
        ("metric", ("bytes_moved", ">=", 2 * MiB), False),
        ("metric", ("vram_fragmentation", "<", 1), True),
    ]


def test_policy_statements_and_overrides() -> None:
    (cs,) = compile_scenario('policy alloc = "evict-lru"\npolicy evict = "fifo"()\nprocess app on gpu0')
    assert cs.policies == {"alloc": "evict-lru", "evict": "fifo"}
    s = cs.build(PM, overrides={"alloc": ("fail-retry", {}), "fault": ("dummy-page", {})})
    # the scenario's own policy statement wins over --policy; other families take it
    assert {f: c.name for f, c in s.choices.items()} == {
        "alloc": "evict-lru",
        "evict": "fifo",
        "fault": "dummy-page",
    }


def test_explore_plan() -> None:
    (cs,) = compile_scenario("explore 50 strategy dfs depth 4\nprocess app on gpu0")
    assert cs.explore == ExplorePlan(50, "dfs", 4, BODY_LINE)
    (cs,) = compile_scenario("explore 7")
    assert cs.explore == ExplorePlan(7, "random", 2, BODY_LINE)
    (cs,) = compile_scenario("process app on gpu0")
    assert cs.explore is None


def test_build_passes_options_to_the_scenario() -> None:
    (cs,) = compile_scenario("process app on gpu0")
    s = cs.build(PM, seed=7, max_events=123)
    assert (s.name, s.seed, s.max_events) == ("s", 7, 123)


# -- plugins --------------------------------------------------------------------------
class _Predicates:
    seen: ClassVar[list[tuple[str, ...]]] = []

    @hookimpl
    def vmcore_expect_predicates(self) -> Mapping[str, Callable[..., bool]]:
        def args_are(st: Any, *args: str) -> bool:
            _Predicates.seen.append(args)
            return args == ("sdma0", "4096", "1000", "s x", "7")

        return {"always": lambda st, *a: True, "args_are": args_are}


def plugin_pm() -> pluggy.PluginManager:
    pm = plugin_manager(entry_points=False)
    pm.register(_Predicates(), name="predicates")
    return pm


def test_plugin_predicates_compile_and_run() -> None:
    pm = plugin_pm()
    out = Compiler(pm).compile_text(
        GPUS
        + """scenario "s" for N in [7] {
    process app on gpu0
    run until idle
    expect always
    expect args_are sdma0 4KiB 1us "s x" N
}
scenario "neg" {
    expect not always
}
"""
    )
    _Predicates.seen.clear()
    r = out[0].build(pm).run()
    assert r.passed, r.summary()
    assert _Predicates.seen == [("sdma0", "4096", "1000", "s x", "7")]
    assert not out[1].build(pm).run().passed


def test_plugin_predicates_are_unknown_without_the_plugin() -> None:
    with pytest.raises(VmsError, match="unknown expectation 'always'"):
        compile_scenario("expect always")


def test_a_plugin_predicate_is_not_a_metric() -> None:
    with pytest.raises(VmsError, match="unknown metric 'always'"):
        Compiler(plugin_pm()).compile_text(GPUS + 'scenario "s" {\n  expect always > 1\n}\n')


class MetricsPlugin:
    """A plugin reporting one metric, ``my_count`` (3); tests/test_doc_claims.py uses it too."""

    @hookimpl
    def vmcore_metric_names(self) -> list[str]:
        return ["my_count"]

    @hookimpl
    def vmcore_metrics(self, result: Any) -> Mapping[str, float]:
        return {"my_count": 3.0}


def test_plugin_metrics_compile_and_run() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(MetricsPlugin(), name="metrics")
    body = "  process app on gpu0\n  run until idle\n  expect my_count == 3\n  expect not my_count > 3\n"
    (cs,) = Compiler(pm).compile_text(f'{GPUS}scenario "s" {{\n{body}}}\n')
    r = cs.build(pm).run()
    assert r.passed, r.summary()
    with pytest.raises(VmsError, match="unknown metric 'my_count'"):
        compile_scenario("expect my_count == 3")  # without the plugin


# -- the seed scenarios ---------------------------------------------------------------
def _seed() -> list[CompiledScenario]:
    comp = Compiler(PM)
    return [cs for p in SCENARIO_FILES for cs in comp.compile_path(p)]


SEED = _seed()


def test_the_seed_scenarios_compile() -> None:
    assert len(SEED) >= 10
    assert len({cs.id for cs in SEED}) == len(SEED)


@pytest.mark.parametrize("cs", SEED, ids=[cs.id for cs in SEED])
def test_seed_scenario_passes(cs: CompiledScenario) -> None:
    from vmcore.engine.explore import explore

    if cs.explore is None:
        r = cs.build(PM).run()
        assert r.passed, r.summary()
    else:  # `explore N`: the verdicts are over all N schedules
        ex = explore(
            lambda sched: cs.build(PM, scheduler=sched),
            cs.explore.runs,
            cs.explore.strategy,
            cs.explore.depth,
        )
        assert ex.passed, [(str(o.expectation), o.why) for o in ex.outcomes if not o.passed]
