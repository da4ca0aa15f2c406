"""README.md tells the truth (issue 15): its example scenario is the bundled file, and its
example output is what the example command prints, run as a user runs it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def example() -> tuple[str, str]:
    """The ``vms`` block and the output block (``$ command`` and what it prints) of the
    README's "An example" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## An example\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    vms = [body for lang, body in blocks if lang == "vms"]
    out = [body for lang, body in blocks if not lang and body.startswith("$ ")]
    assert len(vms) == 1 and len(out) == 1, blocks
    return vms[0], out[0]


def normalise(text: str) -> list[str]:
    """The lines that do not depend on the machine: the session's duration and the
    directory the repository was cloned into are left out; so is the plugins line, which
    names what is installed (:func:`test_the_example_names_the_bundled_plugins` checks
    the README's)."""
    text = re.sub(r" in \d+\.\d\ds$", " in N.NNs", text, flags=re.MULTILINE)
    text = re.sub(r"^rootdir: .*$", "rootdir: ROOT", text, flags=re.MULTILINE)
    return [line for line in text.splitlines() if not line.startswith("plugins: ")]


def test_the_example_scenario_is_the_bundled_file() -> None:
    vms, out = example()
    argv = shlex.split(out.splitlines()[0][2:])
    path = ROOT / argv[2]
    assert vms in path.read_text(encoding="utf-8"), f"README's example is not an excerpt of {path.name}"
    assert vms.startswith('use "gpus.vms"\n')


def test_the_example_output_is_what_the_command_prints() -> None:
    _, out = example()
    command, *printed = out.rstrip("\n").split("\n")
    argv = shlex.split(command[2:])
    assert argv[:2] == ["vmcore", "test"], argv
    p = subprocess.run(
        [sys.executable, "-m", "vmcore.cli", *argv[1:]],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert normalise(p.stdout) == normalise("\n".join(printed) + "\n")


def test_the_example_names_the_bundled_plugins() -> None:
    """What the quick start installs: the three plugin packages under plugins/."""
    _, out = example()
    line = next(x for x in out.splitlines() if x.startswith("plugins: "))
    bundled = sorted(p.parent.name for p in ROOT.glob("plugins/*/src/*/__init__.py"))
    assert line == f"plugins: {', '.join(bundled)}"


def test_the_quick_start_comes_first_and_the_install_needs_are_said() -> None:
    text = README.read_text(encoding="utf-8")
    first = re.search(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    assert first is not None
    assert first.group(1).splitlines() == [
        "pip install -e '.[dev,plot]' -e plugins/vmcore-emergency-pool -e plugins/vmcore-hint-migration "
        "-e plugins/vmcore-fault-stats && python -m compileall -q vmcore dsl && vmcore test scenarios/",
        "./check.sh",
    ]
    assert "a C compiler" in text and "Python 3.11 or newer with its C headers" in text
    assert "\npip install . plugins/vmcore-emergency-pool" in text
