"""Recorded access lists: the file ``job ... accesses "FILE"`` replays.

One access per line, ``ADDR [r|w]`` (a read unless ``w``), ``#`` starts a comment, blank
lines are free; ADDR is a number as the language writes it (``0x1000_0000``, ``4096``)
and may be any address in the 48-bit space: the access is to its page. The list is
packed once, at compile time, into native 64-bit entries (the page address, bit 0 set for
a write), the form :class:`vmcore.engine.model.Access` walks; no Python object per
access outlives the read.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from pathlib import Path

from vmcore.dsl.errors import VmsError
from vmcore.dsl.parser import number
from vmcore.dsl.sources import check_inside, read_regular, resolve

MAX_FILE_BYTES = 256 << 20
"""The largest access list read (about 10 million accesses)."""
VA_LIMIT = 1 << 48
PAGE = 4096


def read_accesses(name: str, base: Path, at: tuple[str, int, int, str], trees: Sequence[Path]) -> bytes:
    """The packed access list of the file ``name`` (relative to ``base``, inside one of
    ``trees``); ``at`` is (path, line, column, text) of the clause naming it, where
    errors about the file itself are reported. Errors inside the file are reported at
    their own line, without echoing it: an access list is not a .vms file."""
    path, line, col, text = at

    def fail(why: str, hint: str | None = None) -> VmsError:
        return VmsError(f"accesses {name!r}: {why}", path, line, col, text, hint=hint)

    if "\x00" in name:
        raise fail("a path may not contain a NUL character")
    target = resolve(base, name)
    check_inside(target, trees, fail)
    raw = read_regular(target, MAX_FILE_BYTES, fail)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        ln = raw[: e.start].count(b"\n") + 1
        raise VmsError(f"the file is not UTF-8 ({e.reason} at byte {e.start})", target, ln, 1) from None
    return parse_accesses(body, target)


def parse_accesses(body: str, where: str) -> bytes:
    """Pack the access list ``body`` (read from ``where``); a malformed line is a
    :class:`VmsError` at its line and column."""
    out = array("Q")
    for ln, raw_line in enumerate(body.split("\n"), 1):
        content = raw_line.split("#", 1)[0].rstrip("\r")
        words = content.split()
        if not words:
            continue
        col = content.index(words[0]) + 1

        def err(msg: str, c: int, ln: int = ln, raw_line: str = raw_line) -> VmsError:
            return VmsError(msg, where, ln, c, expected="ADDR, or ADDR r, or ADDR w")

        try:
            kind, addr = number(words[0])
        except ValueError:
            kind, addr = "", -1
        if kind != "int":
            raise err(f"not an address ({len(words[0])} characters)", col)
        if addr >= VA_LIMIT:
            raise err(f"address {addr:#x} is past the 48-bit address space (0x1_0000_0000_0000)", col)
        write = False
        if len(words) > 1:
            wcol = content.index(words[1], col - 1 + len(words[0])) + 1
            if words[1] not in ("r", "w"):
                raise err("an access is 'r' or 'w'", wcol)
            write = words[1] == "w"
            if len(words) > 2:
                raise err("one access per line", content.index(words[2], wcol) + 1)
        out.append((addr & ~(PAGE - 1)) | write)
    if not out:
        raise VmsError("the access list holds no access", where, 1, 1)
    return out.tobytes()
