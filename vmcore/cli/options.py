"""What the user asked ``vmcore test`` for: its options and exit codes, ``--policy
FAMILY=NAME(k=v, ...)`` and the values in it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vmcore.dsl.parser import number
from vmcore.errors import VmcoreError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SCENARIOS = 5
"""As pytest's "no tests collected": ``-k`` (or ``FILE::NAME``) selected nothing."""
EXIT_INTERRUPTED = 130


class UsageError(VmcoreError):
    """Bad command-line input."""


@dataclass
class Options:
    paths: list[str] = field(default_factory=lambda: ["scenarios"])
    keyword: str | None = None
    exitfirst: bool = False
    verbose: int = 0
    seed: int = 0
    policies: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    junitxml: str | None = None
    json: str | None = None
    """``--json FILE``: each id's verdicts and metrics."""
    durations: int | None = None
    explore: int | None = None
    strategy: str | None = None
    depth: int | None = None
    replay: str | None = None
    replay_file: Any = None
    """The :class:`~vmcore.engine.witness.ReplayFile` at ``replay``, when the caller read it already."""
    trace: str | None = None
    graph: str | None = None
    witness_dir: str = ".vmcore/witnesses"
    """Relative to ``rootdir``."""
    rootdir: str = "."
    """The root directory (the configuration file's, else the project root): ids are
    paths relative to it, as pytest's nodeids, and replay files store paths relative to it."""
    configfile: str = ""
    """The configuration file used, shown in the header ("" for none)."""
    allow_paths: list[str] = field(default_factory=list)
    """``--allow-path DIR``: directories beyond the project tree that ``use`` may read."""
    last_failed: bool = False
    """``--lf``: run only the ids that did not pass last time (``.vmcore/cache``)."""
    failed_first: bool = False
    """``--ff``: run those first, then the rest."""
    cache: bool = True
    """Record this session's failures for ``--lf``/``--ff``."""
    color: bool = False
    """Colour the verdicts (``--color``)."""
    autoload: bool = True
    """Entry-point plugins load (VMCORE_DISABLE_PLUGIN_AUTOLOAD unset); workers follow it."""
    processes: int = 1
    dask: str | None = None
    """"local" (a LocalCluster on loopback) or a scheduler address."""


_POLICY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*$")


def parse_value(text: str) -> Any:
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    if len(t) >= 2 and t[0] == t[-1] == '"':
        return t[1:-1]
    try:
        return number(t)[1]
    except ValueError:
        return t


def parse_policy(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``FAMILY=NAME`` or ``FAMILY=NAME(k=v, ...)``."""
    m = _POLICY.match(spec)
    if m is None:
        raise UsageError(f"--policy {spec!r}: expected FAMILY=NAME or FAMILY=NAME(k=v, ...)")
    family, name, args = m.groups()
    params: dict[str, Any] = {}
    if args:
        for part in args.split(","):
            if not part.strip():
                continue
            k, eq, v = part.partition("=")
            if not eq:
                raise UsageError(f"--policy {spec!r}: parameter {part.strip()!r} needs k=v")
            params[k.strip()] = parse_value(v)
    return family, name, params
