"""Claims docs/cli.md and docs/language.md make about behaviour, checked against the code
(issue 15): the selector syntax, plugin metrics in ``expect``, the last steps of a
witness, and a preferred VRAM the faulting GPU cannot use."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_cli import output, run, write
from tests.dsl.test_compiler import MetricsPlugin
from vmcore.dsl.compiler import Compiler
from vmcore.engine.witness import steps, trace
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent
CLI = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
LANGUAGE = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
PM = plugin_manager(entry_points=False)


def test_a_selector_writes_each_value_as_the_file_does(tmp_path: Path) -> None:
    assert "(`PATH::s[4KiB-true]`)" in CLI
    write(
        tmp_path / "sel.vms",
        "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n"
        'scenario "s" for SIZE in [4KiB, 8KiB], FLAG in [true, false] {\n    process app on gpu0\n    expect app alive\n}\n',
    )
    p = run("test", "sel.vms::s[4KiB-true]", "-v", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert re.findall(r"^(\S+) PASSED", p.stdout, re.M) == ["sel.vms::s[4KiB-true]"]
    p = run("test", "sel.vms::s[4096-True]", cwd=tmp_path)
    assert p.returncode == 2 and "no scenario 's[4096-True]'" in p.stdout
    # the example docs/cli.md gives selects one id of the bundled scenarios
    example = re.search(r"`vmcore test '(scenarios/[^']+)'`", CLI)
    assert example is not None
    p = run("test", example.group(1), cwd=ROOT)
    assert p.returncode == 0 and "1 passed" in p.stdout, output(p)


def test_a_plugin_metric_is_compared_in_expect_as_the_language_says() -> None:
    assert "`expect my_count == 3`" in LANGUAGE
    pm = plugin_manager(entry_points=False)
    pm.register(MetricsPlugin(), name="metrics")
    text = (
        "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n"
        'scenario "s" {\n  process app on gpu0\n  expect my_count == 3\n  expect not my_count > 3\n}\n'
    )
    (cs,) = Compiler(pm).compile_text(text)
    assert cs.build(pm).run().passed


def test_a_witness_shows_its_last_steps() -> None:
    assert "the last 40 steps" in CLI and "its last 60 steps" in CLI
    text = "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n" 'scenario "s" {\n  process app on gpu0\n'
    text += "".join(f"  bo b{i} in gpu0.vram size 4KiB owner app\n" for i in range(60))
    text += "  expect app killed\n}\n"
    (cs,) = Compiler(PM).compile_text(text)
    r = cs.build(PM).run()
    shown = trace(r, limit=40)
    numbered = re.findall(r"^\s*(\d+)\.", shown, re.M)
    total = len(steps(r))
    assert total > 40 and numbered[-1] == str(total) and len(numbered) == 40, shown


def test_a_preferred_vram_the_faulting_gpu_cannot_use_is_ignored() -> None:
    assert "A preferred VRAM the faulting GPU cannot use" in LANGUAGE
    gpus = (
        "gpu gpu0 { vram 16MiB; engine comp0 compute retry }\n"
        "gpu gpu1 { vram 16MiB; engine comp1 compute retry }\n"
    )
    body = (
        'scenario "s" {\n  process app on gpu0, gpu1\n'
        "  svm app 0x4000_0000 +2MiB in system { preferred gpu1.vram }\n"
        "  job c on comp0 by app touches 0x4000_0000 +4KiB\n  run until idle\n"
        "  expect 0x4000_0000 of app in WHERE\n}\n"
    )
    (alone,) = Compiler(PM).compile_text(gpus + body.replace("WHERE", "gpu0.vram"))
    r = alone.build(PM).run()
    assert r.passed, r.summary()  # gpu1's VRAM is not gpu0's to use: its own VRAM instead
    hive = gpus + "link gpu0 gpu1 xgmi bandwidth 8GiB/s latency 2us\n"
    (linked,) = Compiler(PM).compile_text(hive + body.replace("WHERE", "gpu1.vram"))
    r = linked.build(PM).run()
    assert r.passed, r.summary()  # in one XGMI hive the preference holds
