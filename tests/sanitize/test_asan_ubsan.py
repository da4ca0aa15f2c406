"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer.

The core is rebuilt with -fsanitize=address,undefined into a temporary directory, loaded
in place of vmcore._core in a fresh interpreter (with the ASan runtime preloaded, as a
Python that was not built with ASan needs), and the core tests run against it.  Any
sanitizer report fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"


def _runtime(name: str) -> str | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    out = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return out if os.path.isabs(out) and os.path.exists(out) else None


@pytest.fixture(scope="module")
def sanitized_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _runtime("libasan.so") is None:
        pytest.skip("no ASan runtime (libasan.so) on this machine")
    out = tmp_path_factory.mktemp("asan")
    build = textwrap.dedent(
        f"""
        import os, sys
        os.environ["VMCORE_CFLAGS"] = {SANITIZE!r}
        os.environ["VMCORE_LDFLAGS"] = "-fsanitize=address,undefined"
        sys.path.insert(0, {str(ROOT / "vmcore" / "core")!r})
        os.chdir({str(ROOT)!r})
        from _build import make_builder
        print(make_builder(absolute=True).compile(tmpdir={str(out)!r}, verbose=False))
        """
    )
    r = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lib = Path(r.stdout.strip().splitlines()[-1])
    assert lib.exists()
    return lib


def test_core_tests_pass_under_asan_and_ubsan(sanitized_core: Path) -> None:
    runner = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("vmcore._core", {str(sanitized_core)!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["vmcore._core"] = mod
        import vmcore.core
        assert vmcore.core.pagetable.lib is mod.lib
        import pytest
        sys.exit(pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-p", "no:vmcore",
                              "--hypothesis-profile=sanitize", {str(ROOT / "tests" / "core")!r}]))
        """
    )
    preload = " ".join(p for p in (_runtime("libasan.so"), _runtime("libubsan.so")) if p)
    env = dict(
        os.environ,
        LD_PRELOAD=preload,
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=99",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=98",
        VMCORE_HYPOTHESIS_PROFILE="sanitize",
    )
    r = subprocess.run(
        [sys.executable, "-c", runner], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    report = r.stdout[-4000:] + r.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in r.stderr, report
    assert "runtime error:" not in r.stderr, report
    assert r.returncode == 0, report
