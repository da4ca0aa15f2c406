"""The session cache under ``ROOT/.vmcore/cache/``: which ids failed last (``--lf``,
``--ff``), as pytest's ``.pytest_cache/v/cache/lastfailed``.

``lastfailed.json`` maps each id that did not pass to true.  After a run, an id that ran
is added when it failed or errored and removed when it passed; ids that did not run keep
their entry (a ``-k`` run does not forget the others' failures).  A missing, unreadable
or malformed cache is an empty one, and a cache that cannot be written is skipped: the
cache never changes a verdict or an exit code.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

from vmcore.cli.files import atomic_write

CACHE_DIR = Path(".vmcore") / "cache"
LASTFAILED = "lastfailed.json"
MAX_CACHE_BYTES = 16 << 20


def _file(root: str) -> Path:
    return Path(root) / CACHE_DIR / LASTFAILED


def last_failed(root: str) -> set[str]:
    """The ids that did not pass in the runs so far (empty when there is no cache)."""
    f = _file(root)
    try:
        if not f.is_file() or f.stat().st_size > MAX_CACHE_BYTES:
            return set()
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {k for k, v in data.items() if isinstance(k, str) and v is True}


def record(root: str, ran: Iterable[tuple[str, bool]]) -> None:
    """Update the cache with this session's ids and whether each passed."""
    failed = last_failed(root)
    for sid, passed in ran:
        if passed:
            failed.discard(sid)
        else:
            failed.add(sid)
    f = _file(root)
    with contextlib.suppress(OSError):  # a read-only tree: no cache, nothing else changes
        atomic_write(str(f), json.dumps(dict.fromkeys(sorted(failed), True), indent=1).encode("utf-8"))


__all__ = ["CACHE_DIR", "last_failed", "record"]
