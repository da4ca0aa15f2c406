"""Every error in a .vms file is a VmsError: `file:line:col: message`, the line, a caret
under the column, and what was expected in words -- never a Python traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dsl.util import (
    BODY_LINE,
    COMPILER,
    GPUS,
    PM,
    SCENARIO_FILES,
    compile_scenario,
    compile_text,
    error,
    scenario_error,
)
from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError, did_you_mean, words_for
from vmcore.dsl.parser import parse


def rendered(e: VmsError) -> list[str]:
    return str(e).split("\n")


def check_render(e: VmsError, path: str, line: int, col: int, source_line: str) -> list[str]:
    """The first three lines of ``e``: place and message, the source line, the caret."""
    out = rendered(e)
    assert out[0] == f"{path}:{line}:{col}: {e.message}"
    assert out[1] == "    " + source_line.expandtabs(1)
    assert out[2] == "    " + " " * (col - 1) + "^"
    return out


# -- syntax errors --------------------------------------------------------------------
# (source, line, col, message, expected line)
SYNTAX = [
    (
        "gpu g {\n    vram 16MiB\n    engine e gpu\n}\n",
        3, 14, "unexpected 'gpu'", "expected an engine kind (gfx, compute, mm, sdma)",
    ),
    ("gpu g {\n    vram 16MB\n}\n", 2, 12, "unexpected 'MB'", "expected '}' or the end of the line or ';'"),
    ("link a b nvlink\n", 1, 10, "unexpected 'nvlink'", "expected a link kind (xgmi, pcie)"),
    ("gpu g { vram 1MiB }\nlink g g xgmi bandwidth 1GiB\n", 2, 29, "unexpected end of line", "expected '/s'"),
    ("scenario fault {\n}\n", 1, 10, "unexpected 'fault'", 'expected a string in "double quotes"'),
    (
        'scenario "s" {\n    job j on comp0 by app touches 0x1000\n}\n',
        2, 41, "unexpected end of line", "expected '+'",
    ),
    ('scenario "s" {\n    run until\n}\n', 2, 14, "unexpected end of line", "expected 'idle'"),
    ('scenario "s" {\n    run until ;\n}\n', 2, 15, "unexpected ';'", "expected 'idle'"),
    ('scenario "s" {\n    run until  # why\n}\n', 2, 16, "unexpected end of line", "expected 'idle'"),
    (
        'scenario "s" {\n    run until idle\n',
        2, 19, "unexpected end of file",
        "expected 'at', 'bo', 'cpu', 'evict', 'expect', 'explore', 'job', 'kill', 'map', 'migrate', "
        "'munmap', 'policy', 'process', 'run', 'svm', 'unmap' or '}'",
    ),
    (
        'scenario "s" {\n  frobnicate app\n}\n',
        2, 3, "unexpected 'frobnicate'",
        "expected 'at', 'bo', 'cpu', 'evict', 'expect', 'explore', 'job', 'kill', 'map', 'migrate', "
        "'munmap', 'policy', 'process', 'run', 'svm', 'unmap' or '}'",
    ),
    (
        'scenario "s" {\n    kill app $\n}\n',
        2, 14, "unexpected character '$'", "expected 'if', '}' or the end of the line or ';'",
    ),
    (
        'scenario "s" {\n    explore 3 strategy bfs\n}\n',
        2, 24, "unexpected 'bfs'", "expected a strategy (random, pct, dfs)",
    ),
    (
        'scenario "s" {\n    explore 3 strat pct\n}\n',
        2, 15, "unexpected 'strat'", "expected 'depth', 'if', 'strategy', '}' or the end of the line or ';'",
    ),
    (
        'scenario "s" {\n    process app on g { retry_faults yes }\n}\n',
        2, 37, "unexpected 'yes'", "expected on or off",
    ),
    (
        'scenario "s" {\n    expect not\n}\n',
        2, 15, "unexpected end of line",
        "expected 'fault', 'no', 'ring', a number, a name or a check (deadlock, potential deadlock, "
        "stall, leaks, user fence on page tables, stale pte)",
    ),
    (
        'scenario "s" {\n    svm app 0x1000 +4KiB in system { color red }\n}\n',
        2, 38, "unexpected 'color'",
        "expected 'access', 'exec', 'granularity', 'in_place', 'no_access', 'preferred', 'readonly', "
        "'}' or the end of the line or ';'",
    ),
    (
        'scenario "s" {\n    bo b in gpu0.sram size 4KiB owner app\n}\n',
        2, 18, "unexpected 'sram'", "expected vram or gtt",
    ),
    ('scenario "s" {\n    bo b in system siz 1 owner p\n}\n', 2, 20, "unexpected 'siz'", "expected 'size'"),
    ('scenario "s" {\n    kill app if X = 1\n}\n', 2, 19, "unexpected '='", "expected == or !="),
    ('scenario "s" for X in [1 2] {\n}\n', 1, 26, "unexpected '2'", "expected ',' or ']'"),
    (
        'scenario "s" for X in [] {\n}\n',
        1, 24, "unexpected ']'",
        "expected 'false', 'true', a decimal such as 0.5, a number, a name, a size such as 4KiB, a string in \"double quotes\" "
        "or a time such as 10us",
    ),
    ('scenario "s" {\n    run for 10\n}\n', 2, 13, "unexpected '10'", "expected a name or a time such as 10us"),
    (
        'scenario "s" {\n    at 1us { kill app }  extra\n}\n',
        2, 26, "unexpected 'extra'", "expected 'if', '}' or the end of the line or ';'",
    ),
    ('scenario "s" {\n    kill app; kill\n}\n', 2, 19, "unexpected end of line", "expected a name"),
    ('scenario "s" {\n    policy alloc = "x"(size 1)\n}\n', 2, 29, "unexpected '1'", "expected '='"),
    ('scenario "s" {\n    cpu app copies 0x1000 +4KiB\n}\n', 2, 13, "unexpected 'copies'", "expected reads or writes"),
    (
        "gpu g { vram 1MiB }\ngpu h { vram 1MiB } gpu i { vram 1MiB }\n",
        2, 21, "unexpected 'gpu'", "expected the end of the file or the end of the line or ';'",
    ),
    ('scenario "s {\n}\n', 1, 10, "unexpected character '\"'", 'expected a string in "double quotes"'),
    (
        'scenario "s" {\n\tjob j on comp0 by app\ttakes 1us\tbad\n}\n',
        2, 34, "unexpected 'bad'",
        "expected 'accesses', 'after', 'copies', 'if', 'takes', 'touches', 'uses', '}' or the end of the line or ';'",
    ),
    # a newline ends a statement, so `{` must be on the line of its header
    ('scenario "s"\n{\n}\n', 1, 13, "unexpected end of line", "expected 'for' or '{'"),
    # lines are counted at \n only: a form feed is a blank, not a line break
    ('scenario "s" {\f\n  kill app\f\n  bad\n}\n', 3, 3, "unexpected 'bad'", None),
    ('scenario "s" {\r\n  kill app\r\n  kill\r\n}\r\n', 3, 7, "unexpected end of line", "expected a name"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "col", "message", "expected"), SYNTAX)
def test_syntax_error_place_message_and_expected(
    text: str, line: int, col: int, message: str, expected: str | None
) -> None:
    with pytest.raises(VmsError) as info:
        parse(text, "e.vms")
    e = info.value
    assert (e.path, e.line, e.col, e.message) == ("e.vms", line, col, message)
    source_line = text.split("\n")[line - 1].rstrip("\r")
    out = check_render(e, "e.vms", line, col, source_line)
    if expected is not None:
        assert out[3] == expected
        assert e.expected == expected.removeprefix("expected ")


def test_an_incomplete_statement_says_so() -> None:
    e = error('scenario "s" {\n    run until\n}\n')
    assert rendered(e)[-1] == "the statement is incomplete"
    e = error('scenario "s" {\n    kill app $\n}\n')
    assert "incomplete" not in str(e)


def test_unexpected_end_of_file_points_past_the_last_character() -> None:
    for text in ['scenario "s" {\n  kill app', 'scenario "s" {\n  kill app\n']:
        e = error(text)
        assert (e.line, e.col, e.message) == (2, 11, "unexpected end of file")
        check_render(e, "t.vms", 2, 11, "  kill app")
    e = error('scenario "s"')
    assert (e.line, e.col) == (1, 13)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.name for p in SCENARIO_FILES])
def test_every_truncation_is_a_vmserror_with_a_place(path: Path) -> None:
    """Cutting a valid file anywhere gives a VmsError at a place inside the text."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for cut in range(0, len(text), 11):
        try:
            parse(text[:cut], "cut.vms")
        except VmsError as e:
            assert 1 <= e.line <= len(lines)
            assert 1 <= e.col <= len(lines[e.line - 1]) + 1
            assert str(e).startswith(f"cut.vms:{e.line}:{e.col}: ")


def test_words_for() -> None:
    assert words_for([]) == "something else"
    assert words_for(["RBRACE"]) == "'}'"
    assert words_for(["_SEP", "IF", "RBRACE"]) == "'if', '}' or the end of the line or ';'"
    assert words_for(["__ANON_3"], {"__ANON_3": "/s"}) == "'/s'"
    assert words_for(["__ANON_3"]) == "something else"
    # a long list is cut among the keywords, never dropping the other kinds of token
    many = [f"K{i:02}" for i in range(30)]
    kept = ", ".join(f"'k{i:02}'" for i in range(18))
    assert words_for([*many, "RBRACE", "_SEP"]) == f"{kept}, ..., '}}' or the end of the line or ';'"
    assert words_for(["AT", "BO"]) == "'at' or 'bo'"


def test_did_you_mean() -> None:
    assert did_you_mean("comp", ["comp0", "sdma0"]) == "did you mean 'comp0'?"
    assert did_you_mean("zzz", ["comp0", "sdma0"]) is None


# -- values ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stmt", "literal", "what"),
    [
        ("expect faults == 18446744073709551616", "18446744073709551616", "number"),
        ("expect faults == 0x1_0000_0000_0000_0000", "0x1_0000_0000_0000_0000", "number"),
        ("cpu app writes 0x1000 +4KiB value 99999999999999999999", "99999999999999999999", "number"),
        ("munmap app 0 +16777216TiB", "16777216TiB", "size in bytes"),
        ("munmap app 0 +18446744073709551616B", "18446744073709551616B", "size in bytes"),
        ("run for 18446744074s", "18446744074s", "time in ns"),
        ("at 18446744073709552ms { kill app }", "18446744073709552ms", "time in ns"),
        (
            'policy alloc = "emergency-pool"(size = 0x1_0000_0000_0000TiB)',
            "0x1_0000_0000_0000TiB",
            "size in bytes",
        ),
    ],
)
def test_values_past_64_bits_are_errors_at_their_column(stmt: str, literal: str, what: str) -> None:
    e = error(f'scenario "s" {{\n    {stmt}\n}}\n')
    col = 5 + stmt.index(literal)
    assert (e.line, e.col) == (2, col)
    assert e.message == f"{literal} does not fit in 64 bits (as a {what})"
    check_render(e, "t.vms", 2, col, f"    {stmt}")


def test_largest_64_bit_values_are_fine() -> None:
    parse(
        'scenario "s" { expect faults == 18446744073709551615; run for 18446744073s; munmap a 0 +16777215TiB }'
    )


def test_value_in_gpu_and_loop_list_past_64_bits() -> None:
    e = error("gpu g {\n  vram 16777216TiB\n}\n")
    assert (e.line, e.col) == (2, 8)
    e = error('scenario "s" for X in [1, 18446744073709551616] {}')
    assert (e.line, e.col) == (1, 27)


@pytest.mark.parametrize(
    "stmt",
    [
        "svm app 0xffff_ffff_f000 +8KiB in system",
        "svm app 0x1_0000_0000_0000 +4KiB in system",
        "cpu app reads 0xffff_ffff_f000 +8KiB",
        "migrate app 0xffff_ffff_0000 +1MiB to system",
        "munmap app 0xffff_0000_0000 +1TiB",
        "job j on comp0 by app touches 0xffff_ffff_f000 +8KiB",
        "job j on comp0 by app copies 0xffff_ffff_f000 +8KiB to 0x1000",
        "evict page tables of app at 0x1_0000_0000_0000",
        "expect 0xffff_ffff_f000 +8KiB of app in system",
        "expect 0xffff_ffff_f000 +8KiB of app reads 0",
        "expect 0x1_0000_0000_0000 of app in system",
        "expect fault at 0x1_0000_0000_0000 of app resolved",
    ],
)
def test_range_ending_past_48_bits_is_an_error_at_addr(stmt: str) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    addr = re.search(r"0x[0-9a-f_]+", stmt)
    assert addr is not None
    assert (e.line, e.col) == (BODY_LINE + 1, addr.start() + 1)
    assert "ends past the 48-bit address space (0x1_0000_0000_0000)" in e.message
    check_render(e, "t.vms", e.line, e.col, stmt)


def test_range_ending_exactly_at_48_bits_is_fine() -> None:
    compile_scenario(
        "process app on gpu0\nsvm app 0xffff_ffff_f000 +4KiB in system\ncpu app reads 0xffff_ffff_0000 +64KiB"
    )


def test_copy_destination_past_48_bits_is_an_error_at_the_destination() -> None:
    stmt = "job j on comp0 by app copies 0x1000 +8KiB to 0xffff_ffff_f000"
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert e.col == stmt.index("0xffff") + 1


def test_map_past_48_bits_counts_the_bo_size() -> None:
    e = scenario_error(
        "process app on gpu0\nbo b in system size 8KiB owner app\nmap b into app at 0xffff_ffff_f000"
    )
    assert (e.line, e.col) == (BODY_LINE + 2, 19)
    compile_scenario(
        "process app on gpu0\nbo b in system size 4KiB owner app\nmap b into app at 0xffff_ffff_f000"
    )


@pytest.mark.parametrize(
    ("stmt", "col", "message"),
    [
        ("svm app 0x1001 +4KiB in system", 9, "address 0x1001 is not 4KiB aligned"),
        ("svm app 0x1000 +5KiB in system", 17, "size 0x1400 is not a positive multiple of 4KiB"),
        ("cpu app reads 0x1000 +0B", 23, "size 0x0 is not a positive multiple of 4KiB"),
        ("bo b in system size 0 owner app", 21, "a BO needs a size above 0"),
        ("svm app 0 +4KiB in system { granularity 3KiB }", 41, "granularity 0xc00 must be a power of two of at least 4KiB"),
        ("svm app 0 +4KiB in system { granularity 2KiB }", 41, "granularity 0x800 must be a power of two of at least 4KiB"),
        ("migrate app 0x1000 +4KiB to gpu0.gtt", 29, "migrate takes GPU.vram or system"),
        ("explore 0", 9, "explore 0: the number of schedules must be in 1..1000000"),
        ("explore 1000001", 9, "explore 1000001: the number of schedules must be in 1..1000000"),
        ("explore 2 depth 65", 17, "depth 65 must be in 0..64"),
        ('expect faults == "x"', 18, "a metric compares with a number, got '\"x\"'"),
        ("expect faults == true", 18, "a metric compares with a number, got 'true'"),
    ],
)  # fmt: skip
def test_wrong_values(stmt: str, col: int, message: str) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, col, message)


# Literals of the wrong kind are syntax errors (the grammar takes only INT for an
# address, TIME for a time...); values of the wrong kind come from loop variables.
@pytest.mark.parametrize(
    ("stmt", "value", "message"),
    [
        ("cpu app reads X +4KiB", '"x"', "expected an address, got '\"x\"'"),
        ("cpu app reads X +4KiB", "4KiB", "expected an address, got '4KiB'"),
        ("cpu app reads 0x1000 +X", "4us", "expected a size such as 4KiB, got '4us'"),
        ("cpu app reads 0x1000 +X", "true", "expected a size such as 4KiB, got 'true'"),
        ("cpu app writes 0x1000 +4KiB value X", "4KiB", "expected a value, got '4KiB'"),
        ("job j on comp0 by app takes X", "5", "expected a time such as 10us, got '5'"),
        ("job j on comp0 by app touches 0 +4KiB write value X", "1us", "expected a value, got '1us'"),
        ("explore X", "2us", "expected a number of schedules, got '2us'"),
        ("explore 2 depth X", "false", "expected a depth, got 'false'"),
        ("policy alloc = X", "3", "a policy name is a string such as \"no-wait\", got '3'"),
        ("expect fault at 0x1000 of app resolved within X", "5", "expected a time such as 10us, got '5'"),
        ("at X { kill app }", "4KiB", "expected a time such as 10us, got '4KiB'"),
        ("run for X", '"1us"', "expected a time such as 10us, got '\"1us\"'"),
        ("expect X of app in system", "1", "address 0x1 is not 4KiB aligned"),
        ("expect 0 +X of app reads 1", "0", "size 0x0 is not a positive multiple of 4KiB"),
    ],
)
def test_values_of_the_wrong_kind(stmt: str, value: str, message: str) -> None:
    e = error(f'{GPUS}scenario "s" for X in [{value}] {{\nprocess app on gpu0\n{stmt}\n}}\n')
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, stmt.index("X") + 1, message)


def test_wrong_value_from_a_loop_is_reported_where_the_variable_stands() -> None:
    e = error(GPUS + 'scenario "s" for X in [4KiB, 3us] {\n  process app on gpu0\n  run for X\n}\n')
    assert (e.line, e.col) == (BODY_LINE + 1, 11)
    assert e.message == "expected a time such as 10us, got '4KiB'"


@pytest.mark.parametrize(
    ("stmt", "col", "message"),
    [
        ("run for X", 9, "unknown name 'X' where a value is expected (loop variables: none)"),
        (
            "kill app if X == 1",
            10,
            "unknown loop variable 'X' (loop variables: none: the scenario has no 'for')",
        ),
    ],
)
def test_names_that_are_not_loop_variables(stmt: str, col: int, message: str) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, col, message)


def test_misspelt_loop_variable_gets_a_suggestion() -> None:
    e = error(GPUS + 'scenario "s" for ALLOC in ["no-wait"] {\n  policy alloc = ALOC\n}\n')
    assert e.message.startswith("unknown name 'ALOC'")
    assert rendered(e)[-1] == "did you mean 'ALLOC'?"
    e = error(GPUS + 'scenario "s" for ALLOC in ["no-wait"] {\n  process app on gpu0 if ALOC == 1\n}\n')
    assert rendered(e)[-1] == "did you mean 'ALLOC'?"


# -- unknown names: did you mean ------------------------------------------------------
@pytest.mark.parametrize(
    ("stmt", "col", "message", "hint"),
    [
        (
            "job j on cmp0 by app",
            10,
            "unknown engine 'cmp0' (known: comp0, comp1, sdma0, vcn0)",
            "did you mean 'comp0'?",
        ),
        (
            "svm app 0 +4KiB in gpu9.vram",
            20,
            "unknown GPU 'gpu9' (known: gpu0, gpu1)",
            "did you mean 'gpu1'?",
        ),
        ("kill ap", 1, "unknown process 'ap' (known: app)", "did you mean 'app'?"),
        (
            "bo b in system size 4KiB owner app\njob j on comp0 by app uses bb",
            28,
            "unknown BO 'bb' (known: b)",
            "did you mean 'b'?",
        ),
        (
            "bo buf in system size 4KiB owner app\nmap bufx into app at 0",
            1,
            "unknown BO 'bufx' (known: buf)",
            "did you mean 'buf'?",
        ),
        (
            "job copy1 on comp0 by app\njob j on comp0 by app after copy2",
            29,
            "unknown job 'copy2' (known: copy1)",
            "did you mean 'copy1'?",
        ),
        (
            'policy aloc = "no-wait"',
            1,
            "unknown policy family 'aloc' (known: alloc, evict, fault, migration, prefetch, pt_fences, pt_move, queues, root_pd, update)",
            "did you mean 'alloc'?",
        ),
        (
            'policy alloc = "evict-lr"',
            16,
            "unknown alloc policy 'evict-lr' (known: emergency-pool, evict-lru, fail-retry, no-wait, ttm)",
            "did you mean 'evict-lru'?",
        ),
        ("expect faultz == 1", 8, "unknown metric 'faultz'", "did you mean 'faults'?"),
        (
            "expect ring sdma intact",
            8,
            "unknown ring (an sdma engine) 'sdma' (known: sdma0)",
            "did you mean 'sdma0'?",
        ),
        ("expect dedlock", 8, "unknown expectation 'dedlock'", "did you mean 'deadlock'?"),
        ("expect deadlocks", 8, "unknown expectation 'deadlocks'", "did you mean 'deadlock'?"),
        ("expect staleness", 8, "unknown expectation 'staleness'", "did you mean 'stale pte'?"),
        ("expect noo deadlock", 8, "unknown expectation 'noo deadlock'", "did you mean 'no deadlock'?"),
        ("expect ap killed", 8, "unknown process 'ap' (known: app)", "did you mean 'app'?"),
        (
            "expect app",
            8,
            "unknown expectation 'app'",
            "a process takes 'killed' or 'alive': 'expect app killed'",
        ),
    ],
)
def test_unknown_names_get_did_you_mean(stmt: str, col: int, message: str, hint: str) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert (e.line, e.col) == (BODY_LINE + stmt.count("\n") + 1, col)
    assert e.message == message
    assert rendered(e)[-1] == hint
    check_render(e, "t.vms", e.line, col, stmt.split("\n")[-1])


def test_unknown_expectation_says_what_is_expected() -> None:
    e = scenario_error("expect dedlock")
    assert e.expected is not None
    assert e.expected.startswith("no deadlock, no potential deadlock, no stall, no leaks")
    assert rendered(e)[3] == f"expected {e.expected}"


def test_unknown_gpu_in_process_and_link() -> None:
    e = scenario_error("process app on gpu2")
    assert (e.message, e.hint) == ("unknown GPU 'gpu2' (known: gpu0, gpu1)", "did you mean 'gpu1'?")
    e = error(GPUS + "link gpu0 gpx1 xgmi\n")
    assert (e.line, e.col, e.message, e.hint) == (12, 1, "unknown GPU 'gpx1'", "did you mean 'gpu1'?")


def test_no_suggestion_when_nothing_is_close() -> None:
    e = scenario_error("process app on gpu0\nkill zzzzzz")
    assert e.hint is None
    assert rendered(e)[-1] == "    ^"


# -- semantic errors ------------------------------------------------------------------
def test_job_on_an_engine_of_another_gpu() -> None:
    e = scenario_error("process app on gpu0\njob j on comp1 by app")
    assert (e.line, e.col) == (BODY_LINE + 1, 10)
    assert e.message == "job j runs on comp1 of gpu1, but process app has no VM on gpu1 (it is on gpu0)"
    compile_scenario("process app on gpu0, gpu1\njob j on comp1 by app")


@pytest.mark.parametrize(
    ("stmt", "message"),
    [
        (
            "bo b in gpu1.vram size 9MiB owner app",
            "BO b (9437184 bytes) is larger than gpu1.vram (8388608 bytes)",
        ),
        (
            "bo b in gpu0.gtt size 65MiB owner app",
            "BO b (68157440 bytes) is larger than gpu0.gtt (67108864 bytes)",
        ),
        # gtt defaults to 1GiB
        (
            "bo b in gpu1.gtt size 2GiB owner app",
            "BO b (2147483648 bytes) is larger than gpu1.gtt (1073741824 bytes)",
        ),
    ],
)
def test_bo_larger_than_its_pool(stmt: str, message: str) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, stmt.index("size") + 6, message)


def test_bo_that_fills_its_pool_exactly_is_fine() -> None:
    compile_scenario(
        "process app on gpu0\nbo a in gpu1.vram size 8MiB owner app\nbo b in gpu1.gtt size 1GiB owner app"
    )


@pytest.mark.parametrize(
    ("stmt", "col"),
    [
        ("svm app 0 +4KiB in system { access gpu1 }", 29),
        ("svm app 0 +4KiB in system { in_place gpu1 }", 29),
        ("svm app 0 +4KiB in system { no_access gpu1 }", 29),
        ("evict page tables of app on gpu1", 1),
        ("expect fault at 0x1000 of app on gpu1 resolved", 8),
    ],
)
def test_process_without_a_vm_on_the_gpu_it_uses(stmt: str, col: int) -> None:
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, col, "process app has no VM on gpu1")
    compile_scenario(f"process app on gpu0, gpu1\n{stmt}")


def test_access_in_place_and_no_access_are_exclusive_per_gpu() -> None:
    stmt = "svm app 0 +4KiB in system { access gpu0; no_access gpu0 }"
    e = scenario_error(f"process app on gpu0\n{stmt}")
    assert e.message == "gpu0 is both in access and in no_access (they are exclusive)"
    assert e.col == stmt.index("no_access") + 1


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        (GPUS + "gpu gpu0 { vram 1MiB }\n", 12, 1, "GPU 'gpu0' is defined twice"),
        (GPUS + "gpu gpu2 {\n  vram 1MiB\n  engine comp0 mm\n}\n", 14, 3, "engine 'comp0' is defined twice"),
        (
            GPUS + 'scenario "s" {\n  process app on gpu0\n  process app on gpu1\n}\n',
            14, 3, "process 'app' is defined twice",
        ),
        (
            GPUS + 'scenario "s" {\n  process app on gpu0\n  bo b in system size 4KiB owner app\n'
            "  bo b in system size 4KiB owner app\n}\n",
            15, 3, "BO 'b' is defined twice",
        ),
        (
            GPUS + 'scenario "s" {\n  process app on gpu0\n  job j on comp0 by app\n  job j on comp0 by app\n}\n',
            15, 3, "job 'j' is defined twice",
        ),
        (
            GPUS + 'scenario "s" {\n}\n\nscenario "s" {\n}\n',
            15, 1, "scenario 's' is defined twice (first on line 12)",
        ),
    ],
)  # fmt: skip
def test_duplicate_names(text: str, line: int, col: int, message: str) -> None:
    e = error(text)
    assert (e.line, e.col, e.message) == (line, col, message)


def test_names_are_per_scenario() -> None:
    body = "  process app on gpu0\n  bo b in system size 4KiB owner app\n  job j on comp0 by app\n"
    out = COMPILER.compile_text(f'{GPUS}scenario "a" {{\n{body}}}\nscenario "b" {{\n{body}}}\n', "t.vms")
    assert [c.id for c in out] == ["t.vms::a", "t.vms::b"]


@pytest.mark.parametrize(
    ("stmts", "line", "col", "message"),
    [
        ("explore 3\nexplore 4", 1, 1, "explore appears twice (first on line {first})"),
        ("run until idle\nexplore 4", 1, 1, "explore must come before the first 'run'"),
        ("run for 1us\nexplore 4", 1, 1, "explore must come before the first 'run'"),
        ("at 1us {\n  explore 4\n}", 1, 3, "explore cannot stand inside an 'at' block"),
    ],
)
def test_explore_placement(stmts: str, line: int, col: int, message: str) -> None:
    e = scenario_error(stmts)
    assert (e.line, e.col) == (BODY_LINE + line, col)
    assert e.message == message.format(first=BODY_LINE)


def test_explore_after_an_inactive_run_or_a_skipped_first_explore_is_fine() -> None:
    compile_text(GPUS + 'scenario "s" for X in [1] {\n  run until idle if X == 2\n  explore 4\n}\n')
    compile_text(GPUS + 'scenario "s" for X in [1] {\n  explore 2 if X == 2\n  explore 4\n}\n')


@pytest.mark.parametrize(
    "check", ["deadlock", "potential deadlock", "stall", "leaks", "user fence on page tables", "stale pte"]
)
def test_not_does_not_combine_with_a_short_form(check: str) -> None:
    e = scenario_error(f"expect not {check}")
    assert (e.line, e.col) == (BODY_LINE, 8)
    assert e.message == f"'not' does not combine with the short form '{check}'"
    assert rendered(e)[-1] == f"write 'expect no {check}' for the fix, 'expect {check}' for the bug"


def test_at_blocks_do_not_nest() -> None:
    e = scenario_error("at 1us {\n  at 2us { kill app }\n}")
    assert (e.line, e.col, e.message) == (BODY_LINE + 1, 3, "at blocks do not nest")


@pytest.mark.parametrize(
    ("clauses", "col", "clause"),
    [
        ("takes 1us takes 2us", 33, "takes"),
        ("after a after b", 31, "after"),
        ("uses x uses y", 30, "uses"),
        ("touches 0 +4KiB touches 0 +4KiB", 39, "touches"),
        ("copies 0 +4KiB to 0 copies 0 +4KiB to 0", 43, "copies"),
    ],
)
def test_a_job_clause_twice(clauses: str, col: int, clause: str) -> None:
    e = error(f'scenario "s" {{\njob j on comp0 by app {clauses}\n}}')
    assert (e.line, e.col, e.message) == (2, col, f"job j has two '{clause}' clauses")


def test_gpu_needs_vram_and_takes_each_size_once() -> None:
    e = error("gpu g {\n  gtt 1MiB\n}\n")
    assert (e.line, e.col, e.message) == (1, 1, "gpu g needs a 'vram SIZE'")
    e = error("gpu g {\n  vram 1MiB\n  vram 2MiB\n}\n")
    assert (e.line, e.col, e.message) == (3, 8, "gpu g sets vram twice")
    e = error("gpu g {\n  vram 1MiB; gtt 1MiB; gtt 2MiB\n}\n")
    assert (e.line, e.col, e.message) == (2, 28, "gpu g sets gtt twice")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("vram 0", "vram 0 must be a nonzero multiple of 4KiB"),
        ("vram 6KiB", "vram 6KiB must be a nonzero multiple of 4KiB"),
        ("vram 16MiB; gtt 4097B", "gtt 4097B must be a nonzero multiple of 4KiB"),
        ("vram 1TiB", "vram 1TiB is larger than a memory pool can be (256GiB)"),
    ],
)
def test_memory_sizes_the_core_cannot_model(item: str, message: str) -> None:
    e = error(f"gpu g {{ {item} }}\n")
    assert (e.line, e.col, e.message) == (1, 9 + item.rindex(" ") + 1, message)


def test_memory_sizes_at_the_limits() -> None:
    compile_text('gpu g { vram 4KiB; gtt 256GiB }\nscenario "s" {}\n')


def test_process_sets_a_flag_twice() -> None:
    e = scenario_error("process app on gpu0 { retry_faults on; retry_faults off }")
    assert e.message == "process app sets retry_faults twice"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("(sise = 1KiB)", "policy alloc = 'emergency-pool' takes no parameter 'sise' (parameters: size)"),
        (
            "(size = 4KiB, colour = 1)",
            "policy alloc = 'emergency-pool' takes no parameter 'colour' (parameters: size)",
        ),
    ],
)
def test_unknown_policy_parameter(params: str, message: str) -> None:
    e = scenario_error(f'policy alloc = "emergency-pool"{params}')
    assert (e.line, e.col, e.message) == (BODY_LINE, 1, message)


def test_policy_without_parameters_takes_none() -> None:
    e = scenario_error('policy alloc = "no-wait"(size = 1KiB)')
    assert e.message == "policy alloc = 'no-wait' takes no parameter 'size' (parameters: none)"


def test_errors_are_checked_for_every_loop_value() -> None:
    e = error(GPUS + 'scenario "s" for P in ["no-wait", "evict-lr"] {\n  policy alloc = P\n}\n')
    assert e.message.startswith("unknown alloc policy 'evict-lr'")
    assert (e.line, e.col) == (BODY_LINE, 18)


# -- files: use, encodings ------------------------------------------------------------
def test_use_cycle_of_a_file_with_itself(tmp_path: Path) -> None:
    top = tmp_path / "top.vms"
    top.write_text('use "top.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(top)
    e = info.value
    assert (e.path, e.line, e.col) == (str(top), 1, 1)
    assert e.message == "use cycle: top.vms -> top.vms"


def test_use_cycle_through_other_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.vms").write_text('use "sub/b.vms"\nscenario "s" {}\n', encoding="utf-8")
    (tmp_path / "sub" / "b.vms").write_text('gpu g { vram 1MiB }\nuse "c.vms"\n', encoding="utf-8")
    (tmp_path / "sub" / "c.vms").write_text('\n\n  use "../a.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "a.vms")
    e = info.value
    assert (Path(e.path).name, e.line, e.col) == ("c.vms", 3, 3)
    assert e.message == "use cycle: a.vms -> b.vms -> c.vms -> a.vms"
    check_render(e, e.path, 3, 3, '  use "../a.vms"')


def test_a_used_file_may_not_define_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "gpus.vms").write_text('gpu g { vram 1MiB }\n\nscenario "hidden" {}\n', encoding="utf-8")
    (tmp_path / "top.vms").write_text('use "gpus.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "top.vms")
    e = info.value
    assert (Path(e.path).name, e.line, e.col) == ("gpus.vms", 3, 1)
    assert e.message == "a file brought in by 'use' may define only gpu and link"


def test_a_used_file_that_is_missing(tmp_path: Path) -> None:
    (tmp_path / "top.vms").write_text('\nuse "nope.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "top.vms")
    e = info.value
    assert (e.line, e.col) == (2, 1)
    assert e.message.startswith("cannot use 'nope.vms': ")


def test_a_use_path_with_a_nul_character() -> None:
    e = error('\nuse "a\x00b.vms"\n')
    assert (e.line, e.col) == (2, 1)
    assert e.message == "cannot use 'a\\x00b.vms': a path may not contain a NUL character"


def test_a_syntax_error_in_a_used_file_is_reported_in_that_file(tmp_path: Path) -> None:
    (tmp_path / "gpus.vms").write_text("gpu g {\n  vram 1MiB\n  engine e gpu\n}\n", encoding="utf-8")
    (tmp_path / "top.vms").write_text('use "gpus.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "top.vms")
    e = info.value
    assert (e.path, e.line, e.col) == (str(tmp_path / "gpus.vms"), 3, 12)
    check_render(e, e.path, 3, 12, "  engine e gpu")


def test_duplicate_gpu_across_a_use(tmp_path: Path) -> None:
    (tmp_path / "gpus.vms").write_text("gpu g { vram 1MiB }\n", encoding="utf-8")
    (tmp_path / "top.vms").write_text('use "gpus.vms"\ngpu g { vram 2MiB }\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "top.vms")
    assert (info.value.line, info.value.message) == (2, "GPU 'g' is defined twice")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "latin1.vms"
    p.write_bytes('# fine\nscenario "caf\u00e9" {}\n'.encode("latin-1"))
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(p)
    e = info.value
    assert (e.path, e.line, e.col) == (str(p), 2, 14)
    assert e.message == "the file is not UTF-8 (invalid continuation byte at byte 20)"
    assert rendered(e)[2] == "    " + " " * 13 + "^"


def test_a_used_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "gpus.vms").write_bytes(b"gpu g { vram 1MiB } # \xff\n")
    (tmp_path / "top.vms").write_text('use "gpus.vms"\n', encoding="utf-8")
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "top.vms")
    e = info.value
    assert (Path(e.path).name, e.line, e.col) == ("gpus.vms", 1, 23)
    assert e.message.startswith("the file is not UTF-8")
    assert rendered(e)[-1] == f"brought in by 'use' at {tmp_path / 'top.vms'}:1"


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(VmsError) as info:
        COMPILER.compile_path(tmp_path / "missing.vms")
    assert info.value.message.startswith("cannot read the file")


def test_utf8_text_is_fine_and_columns_count_characters() -> None:
    e = error('scenario "caf\u00e9 \u2603" { kill app $ }')
    assert e.col == 30
    assert rendered(e)[2].index("^") == rendered(e)[1].index("$")


# -- fuzz: nothing but VmsError -------------------------------------------------------
CORPUS = [(str(p), p.read_text(encoding="utf-8")) for p in SCENARIO_FILES]
WORDS = sorted(
    {
        w
        for _, t in CORPUS
        for w in re.findall(r'"[^"\n]*"|[A-Za-z_0-9.+]+|[{};=(),\[\]<>!]+', re.sub(r"#[^\n]*", "", t))
    }
)
NOISE = ' \n\t;{}[]()#"+=<>!,.0123456789abcdefxKiBMnsu_/\\\r\f\x00\u00e9\u2028'


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A scenario file with slices deleted, duplicated, swapped, words replaced, noise inserted."""
    path, text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 5))):
        n = len(text)
        a = draw(st.integers(0, n))
        b = min(n, a + draw(st.integers(0, 40)))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "word"]))
        if op == "delete":
            text = text[:a] + text[b:]
        elif op == "duplicate":
            text = text[:b] + text[a:b] + text[b:]
        elif op == "swap":
            c = draw(st.integers(b, n))
            d = min(n, c + draw(st.integers(0, 40)))
            text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif op == "insert":
            text = text[:a] + draw(st.text(NOISE, min_size=1, max_size=6)) + text[a:]
        else:
            words = re.split(r"(\s+)", text)
            i = draw(st.integers(0, len(words) - 1))
            words[i] = draw(st.sampled_from(WORDS))
            text = "".join(words)
    return path, text


def compile_only_vms_errors(compiler: Compiler, text: str, path: str) -> None:
    try:
        compiled = compiler.compile_text(text, path)
    except VmsError as e:
        assert str(e).startswith(f"{e.path}:{e.line}:{e.col}: ")
        return
    for cs in compiled:
        cs.build(PM)  # a scenario that compiles also builds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_raise_only_vmserror(case: tuple[str, str]) -> None:
    path, text = case
    compile_only_vms_errors(COMPILER, text, path)


@settings(max_examples=100, deadline=None)
@given(st.text(NOISE + "gpuscenarioexpectjobkillrunidlevramengine", max_size=200))
def test_random_text_raises_only_vmserror(text: str) -> None:
    compile_only_vms_errors(COMPILER, text, "random.vms")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([*WORDS, "\n", ";", "{", "}"]), max_size=40))
def test_random_words_raise_only_vmserror(words: list[str]) -> None:
    compile_only_vms_errors(COMPILER, " ".join(words), str(SCENARIO_FILES[0]))
