"""Reading the files a scenario names: the .vms file itself, its ``use``s and its
``accesses`` lists.

A scenario is input from anyone: a file it names is read only if it is a regular file
(never a FIFO, a device such as ``/dev/zero`` or a directory, which would read forever
or hang), no larger than a bound, and inside the scenario's project tree (the nearest
directory above the top-level file that holds ``vmcore.yaml``, ``pyproject.toml``,
``.git`` or ``.hg``; the file's own directory when there is none), unless the caller
allows more directories.  A path that escapes that tree is refused before it is opened,
so the content of a file that is not the user's scenario is never read, let alone echoed
in an error.

Invariant: every error here is a :class:`VmsError` at the place that named the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from vmcore.dsl.errors import VmsError

MAX_VMS_BYTES = 4 << 20
"""The largest .vms file read (scenario files are a few KiB; the bound keeps a wrong path
or a generated monster from taking gigabytes in the parser)."""
MAX_LINE_CHARS = 10_000
"""The longest line of a .vms file, and so the longest token (the lexer keeps ~180 bytes
per character of a token in flight)."""
MAX_USE_DEPTH = 32
"""How deep ``use`` may nest."""
PROJECT_MARKERS = ("vmcore.yaml", "pyproject.toml", ".git", ".hg")
"""What makes a directory a project root (config discovery stops there too)."""

OUTSIDE_HINT = (
    "a scenario reads files only inside its project tree: the nearest directory above it with "
    + ", ".join(PROJECT_MARKERS)
    + " (allow more with --allow-path DIR)"
)


def is_project_root(d: Path) -> bool:
    """Whether ``d`` holds a project marker."""
    return any((d / m).exists() for m in PROJECT_MARKERS)


def project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a project marker, or None."""
    here = Path(os.path.realpath(start))
    return next((d for d in (here, *here.parents) if is_project_root(d)), None)


def scenario_tree(top: str) -> Path:
    """The tree a scenario at ``top`` (a path, or ``<string>`` for text) may read files from."""
    base = Path.cwd() if top == "<string>" else Path(os.path.realpath(top)).parent
    return project_root(base) or base


def inside(target: str, trees: Sequence[Path]) -> bool:
    """Whether the resolved path ``target`` lies in one of ``trees``."""
    t = Path(target)
    return any(t == d or t.is_relative_to(d) for d in (Path(os.path.realpath(x)) for x in trees))


def check_inside(target: str, trees: Sequence[Path], fail: Callable[..., VmsError]) -> None:
    """``fail(why, hint=...)`` unless the resolved path ``target`` lies in one of ``trees``."""
    if not inside(target, trees):
        shown = ", ".join(str(t) for t in trees)
        raise fail(f"{target} is outside the scenario's project tree ({shown})", hint=OUTSIDE_HINT)


def resolve(base: Path, name: str) -> str:
    """``name`` relative to ``base``, symlinks resolved where they resolve (a loop is left
    as it is and fails when opened, with the OS's own words)."""
    return os.path.realpath(base / name)


def read_regular(path: str, limit: int, fail: Callable[[str], VmsError]) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; anything else is
    ``fail(why)``.  Opened without blocking, so a FIFO cannot hang the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise fail(f"cannot read the file: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise fail(f"not a regular file: {_kind(st.st_mode)}")
        if st.st_size > limit:
            raise fail(f"{st.st_size:,} bytes is more than the {limit:,} such a file may hold")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            raw = f.read(limit + 1)
    except OSError as e:
        raise fail(f"cannot read the file: {e.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:  # it grew while being read
        raise fail(f"more than the {limit:,} bytes such a file may hold")
    return raw


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return "a special file"


def check_lines(text: str, path: str) -> None:
    """A line longer than :data:`MAX_LINE_CHARS` is an error at its first character past
    the bound (checked before the lexer sees the text)."""
    if len(text) <= MAX_LINE_CHARS:
        return
    lengths = [len(ln) for ln in text.split("\n")]
    if max(lengths) <= MAX_LINE_CHARS:
        return
    line = next(i for i, n in enumerate(lengths, 1) if n > MAX_LINE_CHARS)
    raise VmsError(
        f"line {line} is {lengths[line - 1]:,} characters long; a line may hold at most {MAX_LINE_CHARS:,}",
        path,
        line,
        MAX_LINE_CHARS + 1,
    )
