"""cffi build script (API, out-of-line mode) for the extension ``vmcore._core``.

The declarations come from ``vmcore_core.h`` itself (the part between the
``cdef-begin`` and ``cdef-end`` markers), so the C layout is written down once.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SOURCES = ["pt.c", "fence.c", "wfg.c", "ring.c", "pool.c", "store.c"]


def _cdef_text() -> str:
    text = (HERE / "vmcore_core.h").read_text(encoding="utf-8")
    begin = text.index("/* cdef-begin */") + len("/* cdef-begin */")
    end = text.index("/* cdef-end */")
    return text[begin:end]


def _compile_args() -> list[str]:
    args = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"]
    extra = os.environ.get("VMCORE_CFLAGS", "")
    return args + extra.split()


def make_builder(absolute: bool = False) -> FFI:
    """The builder; setuptools wants source paths relative to the project, a build into a
    temporary directory (the sanitizer tests) wants them absolute."""
    path = (lambda p: str(p)) if absolute else os.path.relpath
    ffi = FFI()
    ffi.cdef(_cdef_text())
    ffi.set_source(
        "vmcore._core",
        '#include "vmcore_core.h"',
        sources=[path(HERE / s) for s in SOURCES],
        include_dirs=[path(HERE)],
        extra_compile_args=_compile_args(),
        extra_link_args=os.environ.get("VMCORE_LDFLAGS", "").split(),
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
