"""`vmcore fmt`: the canonical form parses to the same AST, is a fixed point, keeps every
comment, collapses blank lines and puts `;`-joined statements one per line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dsl.util import SCENARIO_FILES
from vmcore.dsl.errors import VmsError
from vmcore.dsl.formatter import format_text
from vmcore.dsl.parser import parse

_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


def comments(text: str) -> list[str]:
    """Every comment of ``text`` (strings skipped), without trailing blanks, in order."""
    out = []
    for line in text.split("\n"):
        for m in _COMMENT.finditer(line):
            if m.group(1):
                out.append(m.group(1).rstrip())
                break
    return out


def check_canonical(text: str) -> str:
    out = format_text(text)
    assert parse(out) == parse(text)
    assert format_text(out) == out
    assert sorted(comments(out)) == sorted(comments(text))
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert "\n\n\n" not in out
    assert all(line == line.rstrip() for line in out.split("\n"))
    assert "\t" not in out.replace("\\t", "")
    return out


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.name for p in SCENARIO_FILES])
def test_scenario_files_round_trip(path: Path) -> None:
    check_canonical(path.read_text(encoding="utf-8"))


def test_canonical_layout() -> None:
    text = """\
use   "gpus.vms"
gpu g1 { vram 1MiB; gtt 2MiB; engine e1 compute retry locked ; engine e2 sdma lockless }
link g1   gpu0 xgmi bandwidth 10GiB /s latency 2us
scenario   "a"   for X in [1,2KiB ,  "s"] { policy alloc = "emergency-pool"(size=256KiB) ; policy evict = "lru"()
  process app on gpu0,g1 {retry_faults on;prefill off}
  svm app 0x1000 +4KiB in system { preferred g1.vram; access gpu0; in_place g1; granularity 4KiB; readonly; exec } if X == 1
  bo b in g1.vram size 4KiB owner app contiguous pinned;map b into app at 0x10_0000 ; unmap b from app
  job j on comp0 by app   takes 1us after j0 uses b write, c touches 0x1000 +4KiB write value 3
  cpu app writes 0x1000 +4KiB value 2 ; migrate app 0x1000 +4KiB to g1.vram; munmap app 0x1000 +4KiB
  evict page tables of app on g1 at 0x1000 ;kill app
  at 1us { run for 1us ; expect app killed if X != 2 } if X == 1
  explore 3 strategy pct depth 2; run until idle
  expect not 0x1000 +4KiB of app in system;expect 0x1000 of app reads 2; expect fault at 0x1000 of app on g1 resolved within 5us
  expect deadlock; expect not no stall; expect faults>=1; expect not ring sdma0 intact; expect my_pred a 1 "x" }
"""
    assert (
        check_canonical(text)
        == """\
use "gpus.vms"
gpu g1 {
    vram 1MiB
    gtt 2MiB
    engine e1 compute retry locked
    engine e2 sdma lockless
}
link g1 gpu0 xgmi bandwidth 10GiB/s latency 2us
scenario "a" for X in [1, 2KiB, "s"] {
    policy alloc = "emergency-pool"(size = 256KiB)
    policy evict = "lru"()
    process app on gpu0, g1 { retry_faults on; prefill off }
    svm app 0x1000 +4KiB in system {
        preferred g1.vram
        access gpu0
        in_place g1
        granularity 4KiB
        readonly
        exec
    } if X == 1
    bo b in g1.vram size 4KiB owner app pinned contiguous
    map b into app at 0x10_0000
    unmap b from app
    job j on comp0 by app touches 0x1000 +4KiB write value 3 uses b write, c after j0 takes 1us
    cpu app writes 0x1000 +4KiB value 2
    migrate app 0x1000 +4KiB to g1.vram
    munmap app 0x1000 +4KiB
    evict page tables of app on g1 at 0x1000
    kill app
    at 1us {
        run for 1us
        expect app killed if X != 2
    } if X == 1
    explore 3 strategy pct depth 2
    run until idle
    expect not 0x1000 +4KiB of app in system
    expect 0x1000 of app reads 2
    expect fault at 0x1000 of app on g1 resolved within 5us
    expect deadlock
    expect not no stall
    expect faults >= 1
    expect not ring sdma0 intact
    expect my_pred a 1 "x"
}
"""
    )


def test_literals_keep_their_spelling() -> None:
    text = 'scenario "s" { run for 1_500ns; munmap app 0x4000_0000 +0x10KiB; expect faults == 0xff }\n'
    out = check_canonical(text)
    assert "1_500ns" in out and "0x4000_0000 +0x10KiB" in out and "0xff" in out


def test_scenario_name_escapes_survive() -> None:
    text = 'scenario "a \\"quoted\\" \\\\ name\\twith\\ttabs" {}\n'
    assert check_canonical(text) == 'scenario "a \\"quoted\\" \\\\ name\\twith\\ttabs" {\n}\n'


def test_own_line_and_trailing_comments_are_kept_in_place() -> None:
    text = """\
# head comment
gpu g { # on the gpu line
    # own line in gpu
    vram 1MiB   # after vram
}   # after the gpu
# between items
scenario "s # not a comment" { # on the scenario line
    # own line in the scenario
    kill app    # after kill
    at 1us {    # on the at line
        # own line in at
        kill app    # in at
    }   # after at
    svm app 0 +4KiB in system {  # on svm
        readonly  # after readonly
    }
    # before the closing brace
}   # after the scenario
# at the end"""
    assert (
        check_canonical(text)
        == """\
# head comment
gpu g {  # on the gpu line
    # own line in gpu
    vram 1MiB  # after vram
}  # after the gpu
# between items
scenario "s # not a comment" {  # on the scenario line
    # own line in the scenario
    kill app  # after kill
    at 1us {  # on the at line
        # own line in at
        kill app  # in at
    }  # after at
    svm app 0 +4KiB in system {  # on svm
        readonly  # after readonly
    }
    # before the closing brace
}  # after the scenario
# at the end
"""
    )


def test_comments_inside_a_block_printed_on_one_line_are_kept() -> None:
    # the process block prints on one line: its inner comments become own-line comments
    text = """\
scenario "s" {
    process app on g {   # a
        retry_faults on  # b
        # c
        prefill off      # d
    }                    # e
    kill app
    ;  # after a lone separator
}
"""
    assert (
        check_canonical(text)
        == """\
scenario "s" {
    process app on g { retry_faults on; prefill off }  # a
    # b
    # c
    # d
    # e
    kill app
    # after a lone separator
}
"""
    )


def test_blank_lines_collapse_to_one() -> None:
    text = '\n\n\ngpu g { vram 1MiB }\n\n\n\n# c\n\n\nscenario "s" {\n\n\n    kill app\n\n\n\n    kill app\n\n}\n\n\n'
    assert (
        check_canonical(text)
        == 'gpu g {\n    vram 1MiB\n}\n\n# c\n\nscenario "s" {\n    kill app\n\n    kill app\n}\n'
    )


def test_no_blank_line_after_an_opening_brace() -> None:
    assert check_canonical('scenario "s" {\n\n\n  kill app\n}\n') == 'scenario "s" {\n    kill app\n}\n'


def test_semicolon_joined_statements_end_up_one_per_line() -> None:
    text = 'scenario "s" { kill a; kill b ;kill c;; kill d }\n'
    assert check_canonical(text) == 'scenario "s" {\n    kill a\n    kill b\n    kill c\n    kill d\n}\n'


def test_short_and_long_forms_are_kept() -> None:
    text = 'scenario "s" { expect stale pte; expect not no stale pte; expect no stale pte }\n'
    out = check_canonical(text)
    assert out.split("\n")[1:4] == [
        "    expect stale pte",
        "    expect not no stale pte",
        "    expect no stale pte",
    ]


def test_crlf_and_form_feeds() -> None:
    text = 'scenario "s" {  # c\r\n\f    kill app\r\n}\r\n'
    assert check_canonical(text) == 'scenario "s" {  # c\n    kill app\n}\n'


def test_formatting_a_broken_file_is_a_vmserror() -> None:
    with pytest.raises(VmsError):
        format_text('scenario "s" {\n  kill\n}\n')


# -- hypothesis: a corpus of valid scenarios ------------------------------------------
NAMES = st.sampled_from(["app", "p1", "buf", "video", "c1", "j2", "gpu0", "g1", "comp0", "sdma0", "X"])
INTS = st.sampled_from(["0", "7", "4096", "0x1000", "0x4000_0000", "1_000", "0xdead_BEEF"])
SIZES = st.sampled_from(["4KiB", "64KiB", "2MiB", "1GiB", "1TiB", "512B", "0x10KiB", "1_024B"])
TIMES = st.sampled_from(["1us", "1500ns", "2ms", "1s", "0x10ns", "1_000us"])
STRINGS = st.sampled_from(['"no-wait"', '"evict-lru"', '"a b"', '"with \\"quotes\\""', '""', '"#hash"'])
VALUES = st.one_of(INTS, SIZES, TIMES, STRINGS, st.sampled_from(["true", "false", "X"]))
LOCS = st.sampled_from(["system", "gpu0.vram", "g1.vram", "gpu0.gtt"])
PLUGIN_ARGS = ["a", "1", "4KiB", "2us", '"s"']
COMMENT_TEXT = st.text(st.sampled_from("abc xyz;{}\"#'+=-"), max_size=12).map(lambda s: ("# " + s).rstrip())


def _opt(draw: st.DrawFn, text: str) -> str:
    return text if draw(st.booleans()) else ""


@st.composite
def statement(draw: st.DrawFn, in_at: bool = False) -> tuple[str, list[str]]:
    """A statement, perhaps a block over several lines, and the comments written in it."""
    n, i, s, t = draw(NAMES), draw(INTS), draw(SIZES), draw(TIMES)
    kept: list[str] = []
    kinds = [
        "policy", "explore", "process", "svm", "bo", "map", "unmap", "job", "cpu", "migrate",
        "munmap", "evict", "kill", "run", "expect", "expect", "expect",
    ] + ([] if in_at else ["at"])  # fmt: skip
    kind = draw(st.sampled_from(kinds))
    if kind == "policy":
        out = f"policy alloc = {draw(STRINGS)}"
        if draw(st.booleans()):
            params = draw(st.lists(st.tuples(NAMES, VALUES), max_size=3))
            out += "(" + ", ".join(f"{k} = {v}" for k, v in params) + ")"
    elif kind == "explore":
        out = f"explore {i}" + _opt(draw, " strategy " + draw(st.sampled_from(["random", "pct", "dfs"])))
        out += _opt(draw, f" depth {draw(INTS)}")
    elif kind == "process":
        out = f"process {n} on " + ", ".join(draw(st.lists(NAMES, min_size=1, max_size=3)))
        if draw(st.booleans()):
            flags = draw(st.lists(st.sampled_from(["retry_faults", "prefill"]), max_size=2))
            out += " { " + "; ".join(f"{f} {draw(st.sampled_from(['on', 'off']))}" for f in flags) + " }"
    elif kind == "svm":
        out = f"svm {n} {i} +{s} in {draw(LOCS)}"
        attrs = draw(
            st.lists(
                st.sampled_from(
                    [
                        "preferred system",
                        "preferred gpu0.vram",
                        "access gpu0",
                        "access gpu0, g1",
                        "in_place g1",
                        "no_access g1",
                        "granularity 2MiB",
                        "readonly",
                        "exec",
                    ]
                ),
                max_size=4,
            )
        )
        if draw(st.booleans()):
            block, kept = draw(layout(attrs, "    "))
            out += " {\n" + block + "\n}"
        elif draw(st.booleans()) or attrs:
            out += " { " + "; ".join(attrs) + " }"
    elif kind == "bo":
        out = f"bo {n} in {draw(LOCS)} size {s} owner {draw(NAMES)}"
        out += _opt(draw, " pinned") + _opt(draw, " contiguous")
    elif kind == "map":
        out = f"map {n} into {draw(NAMES)} at {i}"
    elif kind == "unmap":
        out = f"unmap {n} from {draw(NAMES)}"
    elif kind == "job":
        clauses = [
            f"touches {i} +{s}" + _opt(draw, " write" + _opt(draw, f" value {draw(INTS)}")),
            f"copies {i} +{s} to {draw(INTS)}",
            "uses "
            + ", ".join(f"{b}{_opt(draw, ' write')}" for b in draw(st.lists(NAMES, min_size=1, max_size=3))),
            "after " + ", ".join(draw(st.lists(NAMES, min_size=1, max_size=3))),
            f"takes {t}",
        ]
        chosen = draw(st.permutations(clauses))[: draw(st.integers(0, len(clauses)))]
        out = " ".join([f"job {n} on {draw(NAMES)} by {draw(NAMES)}", *chosen])
    elif kind == "cpu":
        out = f"cpu {n} {draw(st.sampled_from(['reads', 'writes']))} {i} +{s}" + _opt(
            draw, f" value {draw(INTS)}"
        )
    elif kind == "migrate":
        out = f"migrate {n} {i} +{s} to {draw(st.sampled_from(['system', 'gpu0.vram']))}"
    elif kind == "munmap":
        out = f"munmap {n} {i} +{s}"
    elif kind == "evict":
        out = f"evict page tables of {n}" + _opt(draw, f" on {draw(NAMES)}") + _opt(draw, f" at {i}")
    elif kind == "kill":
        out = f"kill {n}"
    elif kind == "run":
        out = draw(st.sampled_from(["run until idle", f"run for {t}"]))
    elif kind == "at":
        inner = draw(st.lists(statement(in_at=True), max_size=3))
        if draw(st.booleans()) and all("\n" not in x for x, _ in inner):
            out = f"at {t} {{ " + "; ".join(x for x, _ in inner) + " }"
        else:
            block, kept = draw(layout([x for x, _ in inner], "    "))
            out = f"at {t} {{\n{block}\n}}"
        for _, c in inner:
            kept += c
    else:
        out = "expect " + draw(expectation())
    if draw(st.integers(0, 3)) == 0:
        out += f" if X {draw(st.sampled_from(['==', '!=']))} {draw(VALUES)}"
    return out, kept


@st.composite
def expectation(draw: st.DrawFn) -> str:
    n, i, s = draw(NAMES), draw(INTS), draw(SIZES)
    checks = ["deadlock", "potential deadlock", "stall", "leaks", "user fence on page tables", "stale pte"]
    check = draw(st.sampled_from(checks))
    short = draw(st.sampled_from([check, f"no {check}", f"not no {check}"]))
    neg = draw(st.sampled_from(["", "not "]))
    extent = _opt(draw, f" +{s}")
    long = [
        f"ring {n} intact",
        f"{n} {draw(st.sampled_from(['killed', 'alive']))}",
        f"{i}{extent} of {n} in {draw(LOCS)}",
        f"{i}{extent} of {n} reads {draw(INTS)}",
        f"fault at {i} of {n}{_opt(draw, ' on gpu0')} resolved{_opt(draw, ' within 5us')}",
        f"faults {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {draw(VALUES)}",
        " ".join(["my_pred", *draw(st.lists(st.sampled_from(PLUGIN_ARGS), max_size=3))]),
    ]
    return draw(st.sampled_from([short, neg + draw(st.sampled_from(long))]))


@st.composite
def layout(draw: st.DrawFn, lines: list[str], indent: str) -> tuple[str, list[str]]:
    """Join ``lines`` with newlines or `;`, sprinkling comments and blank lines."""
    out: list[str] = []
    kept: list[str] = []
    joinable = False  # the last line ends in a statement (no comment, no multi-line block)
    for line in lines:
        if draw(st.integers(0, 4)) == 0:
            c = draw(COMMENT_TEXT)
            out.append(f"{indent}{c}")
            kept.append(c)
            joinable = False
        if draw(st.integers(0, 5)) == 0:
            out.append("")
            joinable = False
        if joinable and draw(st.integers(0, 3)) == 0:
            out[-1] += draw(st.sampled_from(["; ", ";", " ; "])) + line.replace("\n", "\n" + indent)
        else:
            out.append(indent + line.replace("\n", "\n" + indent))
        joinable = True
        if draw(st.integers(0, 4)) == 0:
            c = draw(COMMENT_TEXT)
            out[-1] += draw(st.sampled_from([" ", "  ", "\t"])) + c
            kept.append(c)
            joinable = False
    return "\n".join(out), kept


@st.composite
def vms_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A syntactically valid .vms file and the comments written in it."""
    items: list[str] = []
    kept: list[str] = []
    if draw(st.booleans()):
        items.append('use "gpus.vms"')
    for g in draw(st.lists(st.sampled_from(["gpu0", "g1", "g2"]), max_size=2, unique=True)):
        parts = [
            f"vram {draw(SIZES)}",
            *draw(
                st.lists(
                    st.sampled_from(["gtt 1GiB", "engine comp0 compute retry", "engine s0 sdma locked"]),
                    max_size=3,
                    unique=True,
                )
            ),
        ]
        if draw(st.booleans()):
            items.append(f"gpu {g} {{ " + "; ".join(parts) + " }")
        else:
            block, c = draw(layout(parts, "    "))
            items.append(f"gpu {g} {{\n{block}\n}}")
            kept += c
    if draw(st.booleans()):
        items.append("link gpu0 g1 " + draw(st.sampled_from(["xgmi", "pcie bandwidth 16GiB/s latency 1us"])))
    for k in range(draw(st.integers(1, 2))):
        head = f'scenario "s{k}"'
        if draw(st.booleans()):
            head += " for X in [" + ", ".join(draw(st.lists(VALUES, min_size=1, max_size=3))) + "]"
        stmts = draw(st.lists(statement(), max_size=8))
        text, c = draw(layout([x for x, _ in stmts], "    "))
        kept += c
        for _, c in stmts:
            kept += c
        items.append(f"{head} {{\n{text}\n}}")
    text, c = draw(layout(items, ""))
    return text + draw(st.sampled_from(["", "\n", "\n\n"])), kept + c


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(vms_file())
def test_generated_files_round_trip(case: tuple[str, list[str]]) -> None:
    text, written = case
    out = check_canonical(text)
    assert sorted(comments(out)) == sorted(written)
    # each statement on a line of its own: outside strings and comments, a `;` is left
    # only inside a one-line process block
    for line in out.split("\n"):
        code = _COMMENT.sub(lambda m: "" if m.group(1) else '""', line).rstrip()
        if ";" in code:
            assert re.fullmatch(r"\s*process .*\{ [^{}]* \}( if .*)?", code), line
