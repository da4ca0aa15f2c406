"""Every construct of DESIGN's `.vms` language parses to the AST it means."""

from __future__ import annotations

import pytest

from tests.dsl.util import B, I, N, S, Str, T, body, pred, stmt
from vmcore.dsl import ast
from vmcore.dsl.parser import parse

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
US, MS = 1_000, 1_000_000


def items(text: str) -> tuple[ast.Use | ast.GpuDef | ast.LinkDef | ast.ScenarioDef, ...]:
    return parse(text).items


# -- top level ------------------------------------------------------------------------
def test_gpu_block_with_every_engine_form() -> None:
    (g,) = items(
        """gpu gpu0 {
    vram 16MiB
    gtt 1GiB
    engine comp0 compute retry
    engine gfx0 gfx
    engine vcn0  mm
    engine sdma0 sdma
    engine sdma1 sdma locked
    engine sdma2 sdma lockless
    engine comp1 compute retry locked
}"""
    )
    assert g == ast.GpuDef(
        "gpu0",
        S(16 * MiB),
        S(1 * GiB),
        (
            ast.EngineDef("comp0", "compute", True, None),
            ast.EngineDef("gfx0", "gfx", False, None),
            ast.EngineDef("vcn0", "mm", False, None),
            ast.EngineDef("sdma0", "sdma", False, None),
            ast.EngineDef("sdma1", "sdma", False, "locked"),
            ast.EngineDef("sdma2", "sdma", False, "lockless"),
            ast.EngineDef("comp1", "compute", True, "locked"),
        ),
    )
    assert g.pos == ast.Pos(1, 1)
    assert g.end == 11
    assert g.engines[2].pos == ast.Pos(6, 5)


def test_gpu_on_one_line_without_gtt() -> None:
    (g,) = items("gpu g { vram 1MiB; engine e mm }")
    assert g == ast.GpuDef("g", S(MiB), None, (ast.EngineDef("e", "mm", False, None),))


def test_gpu_items_in_any_order() -> None:
    (g,) = items("gpu g { engine e sdma; gtt 2GiB; vram 4KiB }")
    assert g == ast.GpuDef("g", S(4 * KiB), S(2 * GiB), (ast.EngineDef("e", "sdma", False, None),))


def test_link_with_bandwidth_and_latency() -> None:
    assert items("link a b xgmi bandwidth 10GiB/s latency 5us") == (
        ast.LinkDef("a", "b", "xgmi", S(10 * GiB), T(5 * US)),
    )


@pytest.mark.parametrize(
    ("text", "bw", "lat"),
    [
        ("link a b pcie", None, None),
        ("link a b pcie bandwidth 16GiB/s", S(16 * GiB), None),
        ("link a b pcie latency 2ms", None, T(2 * MS)),
        ("link a b pcie bandwidth 1MiB /s latency 1ns", S(MiB), T(1)),
    ],
)
def test_link_optional_parts(text: str, bw: ast.Val | None, lat: ast.Val | None) -> None:
    assert items(text) == (ast.LinkDef("a", "b", "pcie", bw, lat),)


def test_use() -> None:
    (u,) = items('use "../gpus/vega.vms"')
    assert u == ast.Use("../gpus/vega.vms")


def test_file_of_every_top_level_item_in_order() -> None:
    f = parse(
        """use "a.vms"
gpu g { vram 1MiB }

link g h xgmi
scenario "s" {
}
"""
    )
    assert [type(i).__name__ for i in f.items] == ["Use", "GpuDef", "LinkDef", "ScenarioDef"]
    assert [i.pos.line for i in f.items] == [1, 2, 4, 5]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "  # c\n\n# d\n", ";"])
def test_empty_files(text: str) -> None:
    assert parse(text).items == ()


def test_empty_scenario() -> None:
    (sc,) = items('scenario "nothing" {}')
    assert sc == ast.ScenarioDef("nothing", (), ())


def test_scenario_name_escapes() -> None:
    (sc,) = items(r'scenario "say \"hi\"\tthen\nleave \\ here" {}')
    assert isinstance(sc, ast.ScenarioDef)
    assert sc.name == 'say "hi"\tthen\nleave \\ here'


def test_scenario_for_loop_of_every_value_kind() -> None:
    (sc,) = items('scenario "s" for X in ["a", 1, 0x10, 4KiB, 2us, true, false, Y] {}')
    assert sc == ast.ScenarioDef(
        "s", (ast.Loop("X", (Str("a"), I(1), I(16), S(4 * KiB), T(2 * US), B(True), B(False), N("Y"))),), ()
    )
    assert isinstance(sc, ast.ScenarioDef)
    assert [v.text for v in sc.loops[0].values] == ['"a"', "1", "0x10", "4KiB", "2us", "true", "false", "Y"]


def test_scenario_for_loop_of_one_value() -> None:
    (sc,) = items('scenario "s" for P in ["no-wait"] { policy alloc = P }')
    assert sc == ast.ScenarioDef(
        "s", (ast.Loop("P", (Str("no-wait"),)),), (ast.Stmt(ast.PolicyStmt("alloc", N("P"), ())),)
    )


# -- statements -----------------------------------------------------------------------
def test_policy_without_params() -> None:
    n = stmt('policy alloc = "evict-lru"')
    assert n == ast.PolicyStmt("alloc", Str("evict-lru"), ())
    assert isinstance(n, ast.PolicyStmt)
    assert not n.has_parens


def test_policy_with_params() -> None:
    n = stmt('policy alloc = "emergency-pool"(size = 256KiB, name = "x", on = true, v = X, t = 3ns)')
    assert n == ast.PolicyStmt(
        "alloc",
        Str("emergency-pool"),
        (("size", S(256 * KiB)), ("name", Str("x")), ("on", B(True)), ("v", N("X")), ("t", T(3))),
    )


def test_policy_with_empty_parens() -> None:
    n = stmt('policy evict = "lru"()')
    assert isinstance(n, ast.PolicyStmt)
    assert n.params == ()
    assert n.has_parens


def test_policy_name_from_loop_variable() -> None:
    assert stmt("policy migration = M(silent_retry = S)") == ast.PolicyStmt(
        "migration", N("M"), (("silent_retry", N("S")),)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("explore 100", ast.ExploreStmt(I(100), None, None)),
        ("explore 5 strategy random", ast.ExploreStmt(I(5), "random", None)),
        ("explore 5 strategy pct", ast.ExploreStmt(I(5), "pct", None)),
        ("explore 5 strategy dfs", ast.ExploreStmt(I(5), "dfs", None)),
        ("explore 5 depth 3", ast.ExploreStmt(I(5), None, I(3))),
        ("explore 5 strategy pct depth 3", ast.ExploreStmt(I(5), "pct", I(3))),
        ("explore N strategy dfs depth D", ast.ExploreStmt(N("N"), "dfs", N("D"))),
    ],
)
def test_explore(text: str, expected: ast.ExploreStmt) -> None:
    assert stmt(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("process app on gpu0", ast.ProcessStmt("app", ("gpu0",), ())),
        ("process app on gpu0, gpu1,gpu2", ast.ProcessStmt("app", ("gpu0", "gpu1", "gpu2"), ())),
        ("process app on g { retry_faults on }", ast.ProcessStmt("app", ("g",), (("retry_faults", True),))),
        ("process app on g { retry_faults off }", ast.ProcessStmt("app", ("g",), (("retry_faults", False),))),
        (
            "process app on g { retry_faults on; prefill on }",
            ast.ProcessStmt("app", ("g",), (("retry_faults", True), ("prefill", True))),
        ),
        (
            "process app on g {\n    prefill off  # c\n    retry_faults on\n}",
            ast.ProcessStmt("app", ("g",), (("prefill", False), ("retry_faults", True))),
        ),
        ("process app on g {}", ast.ProcessStmt("app", ("g",), ())),
    ],
)
def test_process(text: str, expected: ast.ProcessStmt) -> None:
    n = stmt(text)
    assert n == expected
    assert isinstance(n, ast.ProcessStmt)
    assert n.has_block == ("{" in text)


def test_svm_without_block() -> None:
    n = stmt("svm app 0x4000_0000 +1MiB in system")
    assert n == ast.SvmStmt("app", I(0x4000_0000), S(MiB), ast.Loc(None, "system"), ())
    assert isinstance(n, ast.SvmStmt)
    assert not n.has_block


def test_svm_in_gpu_vram() -> None:
    assert stmt("svm app 0x1000 +4KiB in gpu0.vram") == ast.SvmStmt(
        "app", I(0x1000), S(4 * KiB), ast.Loc("gpu0", "vram"), ()
    )


@pytest.mark.parametrize(
    ("text", "attr"),
    [
        ("preferred system", ast.SvmAttr("preferred", loc=ast.Loc(None, "system"))),
        ("preferred gpu1.vram", ast.SvmAttr("preferred", loc=ast.Loc("gpu1", "vram"))),
        ("access gpu0", ast.SvmAttr("access", gpus=("gpu0",))),
        ("access gpu0, gpu1", ast.SvmAttr("access", gpus=("gpu0", "gpu1"))),
        ("in_place gpu1", ast.SvmAttr("in_place", gpus=("gpu1",))),
        ("no_access gpu0, gpu1", ast.SvmAttr("no_access", gpus=("gpu0", "gpu1"))),
        ("granularity 64KiB", ast.SvmAttr("granularity", size=S(64 * KiB))),
        ("granularity G", ast.SvmAttr("granularity", size=N("G"))),
        ("readonly", ast.SvmAttr("readonly")),
        ("exec", ast.SvmAttr("exec")),
    ],
)
def test_svm_each_attribute(text: str, attr: ast.SvmAttr) -> None:
    n = stmt(f"svm app 0x1000 +4KiB in system {{ {text} }}")
    assert isinstance(n, ast.SvmStmt)
    assert n.has_block
    assert n.attrs == (attr,)


def test_svm_block_over_lines_with_every_attribute() -> None:
    n = stmt(
        """svm app 0x1000 +2MiB in gpu0.vram {
        preferred gpu0.vram   # keep it here
        access gpu0; in_place gpu1
        no_access gpu2
        granularity 2MiB
        readonly
        exec
    }"""
    )
    assert isinstance(n, ast.SvmStmt)
    assert [a.name for a in n.attrs] == [
        "preferred",
        "access",
        "in_place",
        "no_access",
        "granularity",
        "readonly",
        "exec",
    ]
    assert n.end == 9
    assert n.attrs[1].pos.line == n.attrs[2].pos.line == 4


@pytest.mark.parametrize(
    ("text", "loc", "pinned", "contiguous"),
    [
        ("bo b in gpu0.vram size 15MiB owner app", ast.Loc("gpu0", "vram"), False, False),
        ("bo b in gpu0.gtt size 15MiB owner app pinned", ast.Loc("gpu0", "gtt"), True, False),
        ("bo b in system size 15MiB owner app contiguous", ast.Loc(None, "system"), False, True),
        ("bo b in system size 15MiB owner app pinned contiguous", ast.Loc(None, "system"), True, True),
        ("bo b in system size 15MiB owner app contiguous pinned", ast.Loc(None, "system"), True, True),
    ],
)
def test_bo(text: str, loc: ast.Loc, pinned: bool, contiguous: bool) -> None:
    assert stmt(text) == ast.BoStmt("b", loc, S(15 * MiB), "app", pinned, contiguous)


def test_map_and_unmap() -> None:
    assert stmt("map buf into app at 0x9000_0000") == ast.MapStmt("buf", "app", I(0x9000_0000))
    assert stmt("unmap buf from app") == ast.UnmapStmt("buf", "app")


def job(
    touches: ast.Touches | None = None,
    copies: ast.Copies | None = None,
    uses: tuple[tuple[str, bool], ...] = (),
    after: tuple[str, ...] = (),
    takes: ast.Val | None = None,
) -> ast.JobStmt:
    return ast.JobStmt("j", "comp0", "app", touches, copies, uses, after, takes)


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        ("", job()),
        ("touches 0x1000 +64KiB", job(touches=ast.Touches(I(0x1000), S(64 * KiB), False, None))),
        ("touches 0x1000 +64KiB write", job(touches=ast.Touches(I(0x1000), S(64 * KiB), True, None))),
        ("touches 0x1000 +4KiB write value 7", job(touches=ast.Touches(I(0x1000), S(4 * KiB), True, I(7)))),
        ("copies 0x1000 +8KiB to 0x9000", job(copies=ast.Copies(I(0x1000), S(8 * KiB), I(0x9000)))),
        ("uses video", job(uses=(("video", False),))),
        ("uses video write", job(uses=(("video", True),))),
        ("uses a, b write, c", job(uses=(("a", False), ("b", True), ("c", False)))),
        ("after c1", job(after=("c1",))),
        ("after c1, c2,c3", job(after=("c1", "c2", "c3"))),
        ("takes 20us", job(takes=T(20 * US))),
        (
            "touches 0x1000 +4KiB write value 2 copies 0x1000 +4KiB to 0x2000 uses v write after c0 takes 1ms",
            job(
                ast.Touches(I(0x1000), S(4 * KiB), True, I(2)),
                ast.Copies(I(0x1000), S(4 * KiB), I(0x2000)),
                (("v", True),),
                ("c0",),
                T(MS),
            ),
        ),
        (
            "takes 1ms after c0, c1 uses v copies 0 +4KiB to 0x2000 touches 0x1000 +4KiB write",
            job(
                ast.Touches(I(0x1000), S(4 * KiB), True, None),
                ast.Copies(I(0), S(4 * KiB), I(0x2000)),
                (("v", False),),
                ("c0", "c1"),
                T(MS),
            ),
        ),
        ("uses v write after c0", job(uses=(("v", True),), after=("c0",))),
    ],
)
def test_job_clauses(clauses: str, expected: ast.JobStmt) -> None:
    assert stmt(f"job j on comp0 by app {clauses}") == expected


def test_job_keeps_the_places_of_its_names() -> None:
    n = stmt("job j on comp0 by app uses a, b after x, y")
    assert isinstance(n, ast.JobStmt)
    # the body starts on line 2 of the parsed text
    assert n.engine_pos == ast.Pos(2, 10)
    assert n.by_pos == ast.Pos(2, 19)
    assert n.uses_pos == (ast.Pos(2, 28), ast.Pos(2, 31))
    assert n.after_pos == (ast.Pos(2, 39), ast.Pos(2, 42))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu app reads 0x1000 +4KiB", ast.CpuStmt("app", "reads", I(0x1000), S(4 * KiB), None)),
        ("cpu app writes 0x1000 +8KiB", ast.CpuStmt("app", "writes", I(0x1000), S(8 * KiB), None)),
        (
            "cpu app writes 0x1000 +8KiB value 0xdead_beef",
            ast.CpuStmt("app", "writes", I(0x1000), S(8 * KiB), I(0xDEADBEEF)),
        ),
        ("cpu app reads 0x1000 +4KiB value V", ast.CpuStmt("app", "reads", I(0x1000), S(4 * KiB), N("V"))),
    ],
)
def test_cpu(text: str, expected: ast.CpuStmt) -> None:
    assert stmt(text) == expected


def test_migrate_and_munmap() -> None:
    assert stmt("migrate app 0x4000_0000 +2MiB to system") == ast.MigrateStmt(
        "app", I(0x4000_0000), S(2 * MiB), ast.Loc(None, "system")
    )
    assert stmt("migrate app 0x4000_0000 +2MiB to gpu0.vram") == ast.MigrateStmt(
        "app", I(0x4000_0000), S(2 * MiB), ast.Loc("gpu0", "vram")
    )
    assert stmt("munmap app 0x4000_0000 +2MiB") == ast.MunmapStmt("app", I(0x4000_0000), S(2 * MiB))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evict page tables of app", ast.EvictStmt("app", None, None)),
        ("evict page tables of app on gpu0", ast.EvictStmt("app", "gpu0", None)),
        ("evict page tables of app at 0x1000", ast.EvictStmt("app", None, I(0x1000))),
        ("evict page tables of app on gpu0 at 0x1000", ast.EvictStmt("app", "gpu0", I(0x1000))),
    ],
)
def test_evict_page_tables(text: str, expected: ast.EvictStmt) -> None:
    assert stmt(text) == expected


def test_kill_and_run() -> None:
    assert stmt("kill app") == ast.KillStmt("app")
    assert stmt("run until idle") == ast.RunIdle()
    assert stmt("run for 5us") == ast.RunFor(T(5 * US))
    assert stmt("run for T") == ast.RunFor(N("T"))


def test_at_block_over_lines() -> None:
    n = stmt("at 1500ns {\n    kill app\n    run for 1us\n}")
    assert n == ast.AtStmt(T(1500), (ast.Stmt(ast.KillStmt("app")), ast.Stmt(ast.RunFor(T(US)))))
    assert isinstance(n, ast.AtStmt)
    assert (n.pos.line, n.end) == (2, 5)


def test_at_block_on_one_line_and_empty() -> None:
    assert stmt("at 5us { migrate app 0 +4KiB to system; kill app }") == ast.AtStmt(
        T(5 * US),
        (
            ast.Stmt(ast.MigrateStmt("app", I(0), S(4 * KiB), ast.Loc(None, "system"))),
            ast.Stmt(ast.KillStmt("app")),
        ),
    )
    assert stmt("at 5us {}") == ast.AtStmt(T(5 * US), ())


def test_at_block_statements_take_conditions_and_the_block_too() -> None:
    (st,) = body("at 1us { kill app if X == 1 } if Y != 2")
    assert st == ast.Stmt(
        ast.AtStmt(T(US), (ast.Stmt(ast.KillStmt("app"), ast.Cond("X", "==", I(1))),)),
        ast.Cond("Y", "!=", I(2)),
    )


# -- expectations ---------------------------------------------------------------------
RUN_CHECKS = ["deadlock", "potential deadlock", "stall", "leaks", "user fence on page tables", "stale pte"]


@pytest.mark.parametrize("check", RUN_CHECKS)
def test_no_run_check(check: str) -> None:
    e = pred(f"no {check}")
    assert e == ast.ExpectStmt(False, ast.Pred(f"no {check}"))
    assert not e.pred.short


@pytest.mark.parametrize("check", RUN_CHECKS)
def test_short_form_means_not_no(check: str) -> None:
    e = pred(check)
    assert e == ast.ExpectStmt(True, ast.Pred(f"no {check}", short=True))


@pytest.mark.parametrize(
    ("spaced", "kind", "short"),
    [
        ("potential \t deadlock", "no potential deadlock", True),
        ("user  fence\ton page   tables", "no user fence on page tables", True),
        ("stale\tpte", "no stale pte", True),
        ("no  potential  deadlock", "no potential deadlock", False),
    ],
)
def test_run_check_words_may_be_spaced_freely(spaced: str, kind: str, short: bool) -> None:
    assert pred(spaced) == ast.ExpectStmt(short, ast.Pred(kind, short=short))


@pytest.mark.parametrize("check", RUN_CHECKS)
def test_not_no_check_is_the_long_form_of_the_short_form(check: str) -> None:
    long, short = pred(f"not no {check}"), pred(check)
    assert (long.negate, long.pred.kind) == (short.negate, short.pred.kind) == (True, f"no {check}")
    assert not long.pred.short  # the form written is kept, for the formatter


def test_ring() -> None:
    assert pred("ring sdma0 intact") == ast.ExpectStmt(False, ast.Pred("ring", ("sdma0",)))
    assert pred("not ring sdma0 intact") == ast.ExpectStmt(True, ast.Pred("ring", ("sdma0",)))


@pytest.mark.parametrize("state", ["killed", "alive"])
def test_process_state(state: str) -> None:
    assert pred(f"app {state}") == ast.ExpectStmt(False, ast.Pred(state, ("app",)))
    assert pred(f"not app {state}") == ast.ExpectStmt(True, ast.Pred(state, ("app",)))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("0x4000_0000 of app in system", (I(0x4000_0000), None, "app", ast.Loc(None, "system"))),
        (
            "0x4000_0000 +64KiB of app in system",
            (I(0x4000_0000), S(64 * KiB), "app", ast.Loc(None, "system")),
        ),
        ("0x1000 +2MiB of app in gpu0.vram", (I(0x1000), S(2 * MiB), "app", ast.Loc("gpu0", "vram"))),
        ("A +Z of app in gpu0.gtt", (N("A"), N("Z"), "app", ast.Loc("gpu0", "gtt"))),
    ],
)
def test_placement(text: str, args: tuple[object, ...]) -> None:
    assert pred(text) == ast.ExpectStmt(False, ast.Pred("in", args))
    assert pred(f"not {text}") == ast.ExpectStmt(True, ast.Pred("in", args))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("0x1000 of app reads 5", (I(0x1000), None, "app", I(5))),
        ("0x1000 +8KiB of app reads 0xff", (I(0x1000), S(8 * KiB), "app", I(255))),
        ("0x1000 of app reads V", (I(0x1000), None, "app", N("V"))),
    ],
)
def test_reads(text: str, args: tuple[object, ...]) -> None:
    assert pred(text) == ast.ExpectStmt(False, ast.Pred("reads", args))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("fault at 0x1000 of app resolved", (I(0x1000), "app", None, None)),
        ("fault at 0x1000 of app on gpu0 resolved", (I(0x1000), "app", "gpu0", None)),
        ("fault at 0x1000 of app resolved within 5us", (I(0x1000), "app", None, T(5 * US))),
        ("fault at 0x1000 of app on gpu1 resolved within 1ms", (I(0x1000), "app", "gpu1", T(MS))),
    ],
)
def test_fault_resolved(text: str, args: tuple[object, ...]) -> None:
    assert pred(text) == ast.ExpectStmt(False, ast.Pred("resolved", args))
    assert pred(f"not {text}") == ast.ExpectStmt(True, ast.Pred("resolved", args))


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_metric_with_each_operator(op: str) -> None:
    assert pred(f"faults {op} 3") == ast.ExpectStmt(False, ast.Pred("metric", ("faults", op, I(3))))
    assert pred(f"not bytes_moved{op}2MiB") == ast.ExpectStmt(
        True, ast.Pred("metric", ("bytes_moved", op, S(2 * MiB)))
    )


def test_metric_compares_with_any_value() -> None:
    assert pred("fault_latency_p99 < 10us").pred.args == ("fault_latency_p99", "<", T(10 * US))
    assert pred("migrations == N").pred.args == ("migrations", "==", N("N"))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("ring_quiet sdma0", ("ring_quiet", N("sdma0"))),
        ('my_check a 1 4KiB 3us "s"', ("my_check", N("a"), I(1), S(4 * KiB), T(3 * US), Str("s"))),
        ("zero_args", ("zero_args",)),
    ],
)
def test_plugin_predicates(text: str, args: tuple[object, ...]) -> None:
    assert pred(text) == ast.ExpectStmt(False, ast.Pred("plugin", args))
    assert pred(f"not {text}") == ast.ExpectStmt(True, ast.Pred("plugin", args))


def test_a_misspelt_short_form_is_a_plugin_predicate_for_the_compiler_to_reject() -> None:
    # the grammar takes a one-word predicate so the compiler can say "did you mean"
    assert pred("deadlocks") == ast.ExpectStmt(False, ast.Pred("plugin", ("deadlocks",)))


# -- conditions -----------------------------------------------------------------------
@pytest.mark.parametrize("op", ["==", "!="])
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"cs-fences-on-pt"', Str("cs-fences-on-pt")),
        ("3", I(3)),
        ("4KiB", S(4 * KiB)),
        ("1us", T(US)),
        ("true", B(True)),
        ("false", B(False)),
        ("Y", N("Y")),
    ],
)
def test_conditions(op: str, text: str, value: ast.Val) -> None:
    (st,) = body(f"expect deadlock if F {op} {text}")
    assert st == ast.Stmt(ast.ExpectStmt(True, ast.Pred("no deadlock", short=True)), ast.Cond("F", op, value))


def test_every_statement_takes_a_condition() -> None:
    lines = [
        'policy alloc = "no-wait"',
        "explore 3",
        "process app on gpu0",
        "svm app 0x1000 +4KiB in system",
        "svm app 0x1000 +4KiB in system { readonly }",
        "bo b in system size 4KiB owner app",
        "map b into app at 0x1000",
        "unmap b from app",
        "job j on comp0 by app",
        "cpu app reads 0x1000 +4KiB",
        "migrate app 0x1000 +4KiB to system",
        "munmap app 0x1000 +4KiB",
        "evict page tables of app",
        "kill app",
        "run until idle",
        "run for 1us",
        "at 1us { kill app }",
        "expect no leaks",
    ]
    stmts = body("\n".join(f"{line} if X == 1" for line in lines))
    assert len(stmts) == len(lines)
    assert all(s.cond == ast.Cond("X", "==", I(1)) for s in stmts)


# -- literals -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7B", 7),
        ("3KiB", 3 * KiB),
        ("3MiB", 3 * MiB),
        ("3GiB", 3 * GiB),
        ("3TiB", 3 * TiB),
        ("0x10KiB", 16 * KiB),
        ("1_024B", 1024),
        ("0x1_0MiB", 16 * MiB),
        ("0B", 0),
        ("016MiB", 16 * MiB),  # decimal with a leading zero
    ],
)
def test_size_units(text: str, value: int) -> None:
    n = stmt(f"munmap app 0 +{text}")
    assert isinstance(n, ast.MunmapStmt)
    assert n.size == S(value)
    assert n.size.text == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7ns", 7),
        ("7us", 7 * US),
        ("7ms", 7 * MS),
        ("7s", 7_000_000_000),
        ("1_500ns", 1500),
        ("0x10us", 16 * US),
        ("007ns", 7),
    ],
)
def test_time_units(text: str, value: int) -> None:
    assert stmt(f"run for {text}") == ast.RunFor(T(value))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("1_000_000", 1_000_000),
        ("0x4000_0000", 0x4000_0000),
        ("0xAbC_d", 0xABCD),
        ("007", 7),  # decimal, not octal
        ("0_8", 8),
        ("0x0010", 16),
        ("0x80_0000_0000", 0x80_0000_0000),
        ("18446744073709551615", (1 << 64) - 1),
        ("0xffff_ffff_ffff_ffff", (1 << 64) - 1),
    ],
)
def test_ints(text: str, value: int) -> None:
    (st,) = body(f"kill app if X == {text}")
    assert st == ast.Stmt(ast.KillStmt("app"), ast.Cond("X", "==", I(value)))


def test_hex_followed_by_b_is_a_number_not_bytes() -> None:
    # `B` is a hex digit: 0x10B is the number 0x10b (docs/language.md "Choices made")
    n = stmt("munmap app 0 +0x10B")
    assert isinstance(n, ast.MunmapStmt)
    assert n.size == I(0x10B)


def test_values_keep_the_text_they_were_written_as() -> None:
    n = stmt("job j on comp0 by app touches 0x4000_0000 +64KiB takes 1_500ns")
    assert isinstance(n, ast.JobStmt)
    assert n.touches is not None and n.takes is not None
    assert (n.touches.addr.text, n.touches.size.text, n.takes.text) == ("0x4000_0000", "64KiB", "1_500ns")


# -- layout: separators, comments, line endings ---------------------------------------
def test_semicolon_separated_items_on_one_line() -> None:
    f = parse(
        'gpu g { vram 1MiB; engine e compute retry }; scenario "s" { process app on g; kill app; run until idle }'
    )
    assert len(f.items) == 2
    sc = f.items[1]
    assert isinstance(sc, ast.ScenarioDef)
    assert [s.node for s in sc.body] == [
        ast.ProcessStmt("app", ("g",), ()),
        ast.KillStmt("app"),
        ast.RunIdle(),
    ]
    assert [s.pos.col for s in sc.body] == [61, 79, 89]


def test_last_item_before_brace_needs_no_separator_and_extra_ones_are_fine() -> None:
    a = parse('scenario "s" { kill app; run until idle }')
    b = parse('scenario "s" {\n kill app\n run until idle\n}')
    c = parse('scenario "s" { ;; kill app ;\n\n; run until idle ; ;\n }')
    assert a == b == c


def test_comments_everywhere() -> None:
    text = """# leading comment
# another
use "gpus.vms" # after use
gpu g { # after brace
    # own line in gpu
    vram 1MiB # after vram
    engine e sdma # after engine
} # after gpu
# between items
link g h pcie # after link
scenario "s # not a comment" for X in [1, 2] { # after scenario brace
    # own line in scenario

    process app on g { # in process block
        retry_faults on # after flag
    } # after process
    svm app 0x1000 +4KiB in system { # svm
        readonly # after attr
    }
    at 1us { # after at brace
        kill app # in at
        # own line in at
    } # after at
    expect deadlock # after expect
    # before the closing brace
} # after scenario
# trailing comment, no newline at the end"""
    plain = """use "gpus.vms"
gpu g {
    vram 1MiB
    engine e sdma
}
link g h pcie
scenario "s # not a comment" for X in [1, 2] {
    process app on g {
        retry_faults on
    }
    svm app 0x1000 +4KiB in system {
        readonly
    }
    at 1us {
        kill app
    }
    expect deadlock
}
"""
    assert parse(text) == parse(plain)
    sc = parse(text).items[3]
    assert isinstance(sc, ast.ScenarioDef)
    assert sc.name == "s # not a comment"


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_line_endings(newline: str) -> None:
    text = newline.join(['scenario "s" {  # c', "    kill app", "    run until idle", "}", ""])
    (sc,) = parse(text).items
    assert isinstance(sc, ast.ScenarioDef)
    assert [s.node for s in sc.body] == [ast.KillStmt("app"), ast.RunIdle()]
    assert [s.pos.line for s in sc.body] == [2, 3]


def test_blanks_between_words_are_free() -> None:
    assert stmt("job\tj  on comp0\t by   app   touches 0x1000\t+4KiB") == stmt(
        "job j on comp0 by app touches 0x1000 +4KiB"
    )


def test_form_feed_is_a_blank() -> None:
    assert parse('scenario "s" {\f\n kill app\f\n}') == parse('scenario "s" {\n kill app\n}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("process size on value", ast.ProcessStmt("size", ("value",), ())),
        ("process run on gpu", ast.ProcessStmt("run", ("gpu",), ())),
        ("kill system", ast.KillStmt("system")),
        ("kill idle", ast.KillStmt("idle")),
        ("expect value killed", ast.ExpectStmt(False, ast.Pred("killed", ("value",)))),
    ],
)
def test_keywords_are_names_where_the_grammar_takes_a_name(text: str, expected: ast.Node) -> None:
    assert stmt(text) == expected


def test_positions_of_statements_and_values() -> None:
    (sc,) = parse('scenario "s" {\n    job j on comp0 by app touches 0x1000 +4KiB\n}').items
    assert isinstance(sc, ast.ScenarioDef)
    (st,) = sc.body
    assert st.pos == ast.Pos(2, 5)
    assert isinstance(st.node, ast.JobStmt)
    assert st.node.touches is not None
    assert st.node.touches.addr.pos == ast.Pos(2, 35)
    assert st.node.touches.size.pos == ast.Pos(2, 43)
    assert (sc.pos, sc.end) == (ast.Pos(1, 1), 3)


def test_positions_are_not_part_of_equality() -> None:
    assert parse('scenario "s" { kill app }') == parse('\n\n\nscenario   "s"   {\n\n   kill    app\n}')
