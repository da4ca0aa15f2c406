"""Several ``for`` loops (their cross product) and DECIMAL literals."""

from __future__ import annotations

from vmcore.dsl import ast
from vmcore.dsl.formatter import format_text
from vmcore.dsl.parser import parse
from vmcore.hooks.manager import plugin_manager

from .util import GPUS, compile_text, error, scenario_error

SWEEP = GPUS + (
    'scenario "sweep" for E in ["lru", "fifo"], G in [4KiB, 2MiB], R in [true] {\n'
    "    policy evict = E\n"
    "    process app on gpu0\n"
    "    svm app 0x1000_0000 +4MiB in system {\n"
    "        granularity G\n"
    "    }\n"
    "    job c on comp0 by app touches 0x1000_0000 +4MiB\n"
    "    run until idle\n"
    "    expect app alive if R == true\n"
    "}\n"
)


def test_two_loops_give_their_cross_product_first_loop_outermost() -> None:
    ids = [c.short_id for c in compile_text(SWEEP)]
    assert ids == ["sweep[lru-4KiB-true]", "sweep[lru-2MiB-true]", "sweep[fifo-4KiB-true]", "sweep[fifo-2MiB-true]"]


def test_each_combination_binds_every_variable() -> None:
    items = compile_text(SWEEP)
    assert [c.policies.get("evict") for c in items] == ["lru", "lru", "fifo", "fifo"]
    pm = plugin_manager(entry_points=False)
    for item in items:
        assert item.build(pm).run().passed, item.id


def test_loops_parse_to_one_loop_each_and_format_back() -> None:
    (sc,) = [i for i in parse(SWEEP).items if isinstance(i, ast.ScenarioDef)]
    assert [(lp.var, [v.text for v in lp.values]) for lp in sc.loops] == [
        ("E", ['"lru"', '"fifo"']),
        ("G", ["4KiB", "2MiB"]),
        ("R", ["true"]),
    ]
    assert format_text(SWEEP) == SWEEP


def test_a_loop_variable_defined_twice_is_an_error_at_the_second() -> None:
    e = error('scenario "s" for A in [1], A in [2] {\n}\n')
    assert (e.line, e.col) == (1, 28)
    assert "loop variable 'A' is defined twice" in e.message


def test_decimal_compares_with_a_ratio_metric() -> None:
    (item,) = compile_text(
        GPUS + 'scenario "s" {\n    process app on gpu0\n    run until idle\n'
        "    expect vram_fragmentation < 0.5\n    expect not vram_fragmentation > 1_0.0_1\n}\n"
    )
    res = item.build(plugin_manager(entry_points=False)).run()
    assert res.passed
    assert [str(o.expectation) for o in res.outcomes] == ["vram_fragmentation < 0.5", "not vram_fragmentation > 10.01"]


def test_a_decimal_from_a_loop_compares_too() -> None:
    items = compile_text(
        GPUS + 'scenario "s" for F in [0.25, 1.0] {\n    process app on gpu0\n    run until idle\n'
        "    expect vram_fragmentation <= F\n}\n"
    )
    assert [c.short_id for c in items] == ["s[0.25]", "s[1.0]"]


def test_a_decimal_is_no_size_address_or_count() -> None:
    e = scenario_error("process app on gpu0\nsvm app 0x1000_0000 +F in system")
    assert "unknown name 'F'" in e.message  # (a plain name, not a loop variable)
    e = error(GPUS + 'scenario "s" for F in [0.5] {\n    process app on gpu0\n    svm app 0x1000_0000 +F in system\n}\n')
    assert "expected a size such as 4KiB, got '0.5'" in e.message
    e = error(GPUS + 'scenario "s" for F in [1.5] {\n    explore F\n}\n')
    assert "expected a number of schedules, got '1.5'" in e.message


def test_a_decimal_needs_digits_on_both_sides_of_the_point() -> None:
    e = error(GPUS + 'scenario "s" {\n    expect faults < 1.\n}\n')
    assert e.line == GPUS.count("\n") + 2
