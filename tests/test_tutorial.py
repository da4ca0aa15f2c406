"""docs/tutorial.md is followed step by step: its files are written, its commands run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def test_the_tutorial_works_as_written(tmp_path: Path) -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    cwd = tmp_path
    env = dict(os.environ, VMCORE_DISABLE_PLUGIN_AUTOLOAD="1")
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    steps = 0
    for lang, body in BLOCK.findall(text):
        first, _, rest = body.partition("\n")
        if lang in ("python", "vms") and first.lstrip("# ").startswith("file:"):
            target = tmp_path / first.split("file:", 1)[1].strip()
            assert target.parent.exists(), f"the tutorial writes {target} before creating its directory"
            target.write_text(rest if lang == "python" else body, encoding="utf-8")
            steps += 1
        elif lang == "sh":
            lines = body.splitlines()
            for i, line in enumerate(lines):
                if not line.startswith("$ "):
                    continue
                cmd = line[2:]
                expected = []
                for nxt in lines[i + 1 :]:
                    if nxt.startswith("$ "):
                        break
                    expected.append(nxt.strip())
                if cmd.startswith("cd "):
                    cwd = (cwd / cmd[3:].strip()).resolve()
                    continue
                words = shlex.split(cmd)
                run_env = dict(env)
                while words and "=" in words[0] and not words[0].startswith("-"):
                    k, v = words.pop(0).split("=", 1)
                    run_env[k] = str((cwd / v).resolve()) if k == "PYTHONPATH" else v
                if words[0] == "vmcore":
                    words = [sys.executable, "-m", "vmcore.cli", *words[1:]]
                elif words[0] == "python":
                    words = [sys.executable, *words[1:]]
                r = subprocess.run(words, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=300)
                out = r.stdout + r.stderr
                assert r.returncode == 0, f"$ {cmd}\n{out}"
                for e in expected:
                    assert e in out, f"$ {cmd}: expected {e!r} in\n{out}"
                steps += 1
    assert steps >= 6  # new-plugin, three files, vmcore test, pytest
