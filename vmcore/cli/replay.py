"""Reading a replay file (``vmcore test --replay FILE``, ``vmcore explain FILE``) as the
untrusted input it is.

A replay file names a .vms file, a scenario id, a schedule, a seed, policies and plugin
modules.  Every field is checked for its type and range before anything uses it (a
malformed field is an error naming the field, never a traceback); the .vms file must be
a regular ``.vms`` file inside the replay file's project tree or the current one (or an
``--allow-path`` directory); and a plugin module it names is imported only when the user
asks for it with ``-p`` (a replay file someone sent must not run code by being read).

Paths: a replay file written by this version stores the .vms path relative to the replay
file itself, so it replays from any directory; an older file's path, relative to the
directory it was written from, is found relative to the current directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vmcore.cli.argtypes import MAX_SEED
from vmcore.cli.options import UsageError, parse_policy
from vmcore.dsl.errors import VmsError
from vmcore.dsl.sources import inside, project_root, read_regular
from vmcore.engine.witness import REPLAY_VERSION, ReplayFile

MAX_REPLAY_BYTES = 64 << 20
MAX_CHOICE = (1 << 31) - 1
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
FIELDS = {"path", "id", "choices", "seed", "policies", "plugins", "line", "note", "version"}


def load_replay(file: str, allow: Sequence[str | Path] = ()) -> ReplayFile:
    """The replay file ``file``, every field checked, its ``path`` resolved to the .vms
    file it names (as a path the current directory can open)."""

    def bad(why: str) -> UsageError:
        return UsageError(f"{file}: {why}")

    def fail(why: str) -> VmsError:
        return VmsError(why, file, 0, 0)

    try:
        raw = read_regular(file, MAX_REPLAY_BYTES, fail)
    except VmsError as e:
        raise bad(f"not a vmcore replay file ({e.message})") from None
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad(f"not a vmcore replay file ({e})") from None
    if not isinstance(data, dict) or data.get("version") != REPLAY_VERSION:
        raise bad(f"not a vmcore replay file of version {REPLAY_VERSION}")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise bad(f"malformed replay file: unknown field {unknown[0]!r}")
    for key in ("path", "id", "choices"):
        if key not in data:
            raise bad(f"malformed replay file: no {key!r}")

    def string(key: str, value: Any) -> str:
        if not isinstance(value, str) or "\x00" in value:
            raise bad(f"malformed replay file: {key!r} must be a string, got {type(value).__name__}")
        return value

    def strings(key: str, valid: Callable[[str], bool], what: str) -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise bad(f"malformed replay file: {key!r} must be a list of strings")
        for v in value:
            if not isinstance(v, str) or not valid(v):
                raise bad(f"malformed replay file: {key!r} holds {v!r}, which is not {what}")
        return list(value)

    def integer(key: str, value: Any, lo: int, hi: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise bad(f"malformed replay file: {key!r} must be an integer in {lo}..{hi:,}, got {value!r}")
        return value

    path = string("path", data["path"])
    sid = string("id", data["id"])
    if "::" not in sid:
        raise bad(f"malformed replay file: 'id' {sid!r} is not FILE::NAME")
    choices = data["choices"]
    if not isinstance(choices, list):
        raise bad("malformed replay file: 'choices' must be a list of integers")
    for c in choices:
        integer("choices", c, 0, MAX_CHOICE)
    seed = integer("seed", data.get("seed", 0), 0, MAX_SEED)
    line = data.get("line")
    if line is not None:
        line = integer("line", line, 0, 1 << 31)
    note = string("note", data.get("note", ""))
    rf = ReplayFile(
        _vms_path(file, path, allow, bad),
        sid,
        list(choices),
        seed,
        strings("policies", _is_policy, "FAMILY=NAME or FAMILY=NAME(k=v, ...)"),
        strings("plugins", lambda v: _MODULE.match(v) is not None, "a module name"),
        line,
        note,
    )
    return rf


def _is_policy(spec: str) -> bool:
    """Whether ``spec`` is a policy as ``--policy`` takes it (its own parser decides)."""
    try:
        parse_policy(spec)
    except UsageError:
        return False
    return True


def _vms_path(file: str, path: str, allow: Sequence[str | Path], bad: Any) -> str:
    if not path.endswith(".vms"):
        raise bad(f"'path' {path!r} is not a .vms file")
    here = Path(os.path.realpath(os.path.dirname(file) or "."))
    cwd = Path.cwd()
    # the replay file's project (outside any: the directory above its witness directory),
    # the current one, and what --allow-path adds
    trees = [project_root(here) or here.parent, project_root(cwd) or cwd, *(Path(a) for a in allow)]
    # relative to the replay file (this version), else to the current directory (older files)
    candidates = [Path(path)] if Path(path).is_absolute() else [here / path, cwd / path]
    for c in candidates:
        real = os.path.realpath(c)
        if os.path.isfile(real):
            if not inside(real, trees):
                raise bad(
                    f"'path' {path!r} is outside the project tree ({', '.join(map(str, trees))}); "
                    "--allow-path DIR allows more"
                )
            rel = os.path.relpath(real)
            return rel if not rel.startswith("..") else real
    raise bad(f"'path' {path!r}: no such .vms file (looked in {', '.join(str(c.parent) for c in candidates)})")


def check_plugins(rf: ReplayFile, file: str, asked: Sequence[str]) -> None:
    """A plugin module the replay file names is loaded only when ``-p`` asks for it."""
    missing = [m for m in rf.plugins if m not in asked]
    if missing:
        flags = " ".join(f"-p {m}" for m in missing)
        raise UsageError(
            f"{file}: the schedule was recorded with plugin module(s) {', '.join(missing)}; "
            f"a replay file does not import code by itself: add {flags} to load them"
        )


def relative_to_replay(path: str, replay_file: str) -> str:
    """How a replay file stores the .vms path: relative to the replay file's directory,
    so the replay works from any directory and moves with its project."""
    return os.path.relpath(os.path.realpath(path), os.path.realpath(os.path.dirname(replay_file) or "."))


__all__ = ["check_plugins", "load_replay", "relative_to_replay"]
