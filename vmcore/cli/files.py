"""The files a session reads and writes: the .vms files it collects, and reports,
replay files and traces written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vmcore.cli.options import UsageError


def collect(paths: Sequence[str]) -> list[Path]:
    """The .vms files under ``paths`` (files as given, directories recursively, sorted)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out += sorted(x for x in path.rglob("*.vms") if x.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"file or directory not found: {p}")
    seen: set[Path] = set()
    uniq = []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    return uniq


def rewrite_in_place(path: str, data: bytes) -> None:
    """Replace a file's contents as an editor would, keeping what the file is: a symlink
    stays a symlink (its target is rewritten), a file with hard links is rewritten in
    place so every link sees the new text, and the mode (and, where allowed, the owner)
    is kept.  A file with one link is replaced atomically."""
    target = Path(os.path.realpath(path))
    st = target.stat()
    if st.st_nlink > 1:
        with open(target, "r+b") as f:
            f.write(data)
            f.truncate()
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with contextlib.suppress(OSError):  # only root may give a file to someone else
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
