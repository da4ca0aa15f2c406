"""Configuration: ``[tool.vmcore]`` in pyproject.toml or a ``vmcore.yaml``.

Keys: ``paths`` (default test paths), ``seed``, ``policies`` (family -> name, or
``NAME(k = v, ...)``), ``plugins`` (modules to load).  An unknown key is an error that
names it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vmcore.errors import VmcoreError

KEYS = {"paths", "seed", "policies", "plugins"}


class ConfigError(VmcoreError, ValueError):
    """A configuration file that vmcore cannot use."""


@dataclass
class Config:
    paths: list[str] = field(default_factory=lambda: ["scenarios"])
    seed: int = 0
    policies: dict[str, str] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    source: str = ""
    """The file the configuration came from ("" for none)."""
    root: str = ""
    """The root directory: ids, the witness directory and replay paths are relative to it."""


def _check(data: Any, source: str) -> Config:
    if data is None:
        return Config(source=source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the vmcore configuration must be a table of keys, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    cfg = Config(source=source)
    if "paths" in data:
        p = data["paths"]
        if isinstance(p, str):
            p = [p]
        if not isinstance(p, list) or not all(isinstance(x, str) for x in p):
            raise ConfigError(f"{source}: 'paths' must be a list of strings")
        cfg.paths = p
    if "seed" in data:
        if not isinstance(data["seed"], int) or isinstance(data["seed"], bool) or data["seed"] < 0:
            raise ConfigError(f"{source}: 'seed' must be a non-negative integer, got {data['seed']!r}")
        cfg.seed = data["seed"]
    if "policies" in data:
        pol = data["policies"]
        if not isinstance(pol, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pol.items()
        ):
            raise ConfigError(f"{source}: 'policies' must map a family to a policy name")
        cfg.policies = dict(pol)
    if "plugins" in data:
        pl = data["plugins"]
        if not isinstance(pl, list) or not all(isinstance(x, str) for x in pl):
            raise ConfigError(f"{source}: 'plugins' must be a list of module names")
        cfg.plugins = pl
    return cfg


def load(start: Path | None = None) -> Config:
    """The configuration of the nearest ``vmcore.yaml`` or pyproject.toml with
    ``[tool.vmcore]``, looked for from ``start`` (the current directory) up to the project
    root and no further: the first directory holding ``vmcore.yaml``, ``pyproject.toml``,
    ``.git`` or ``.hg`` (:func:`vmcore.dsl.sources.project_root`).  A configuration in a
    directory above the project (a forgotten ``~/vmcore.yaml``) is never read.  The
    result's ``root`` is the configuration file's directory, else the project root, else
    ``start``; ``source`` names the file used ("" for none)."""
    from vmcore.dsl.sources import is_project_root

    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        y = d / "vmcore.yaml"
        if y.is_file():
            try:
                data = yaml.safe_load(y.read_text(encoding="utf-8"))
            except yaml.YAMLError as e:
                raise ConfigError(f"{y}: not valid YAML: {e}") from None
            return _rebase(_check(data, str(y)), d, here)
        t = d / "pyproject.toml"
        if t.is_file():
            try:
                doc = tomllib.loads(t.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"{t}: not valid TOML: {e}") from None
            tool = doc.get("tool", {})
            if isinstance(tool, dict) and "vmcore" in tool:
                return _rebase(_check(tool["vmcore"], f"{t} [tool.vmcore]"), d, here)
        if is_project_root(d):
            return Config(root=str(d))
    return Config(root=str(here))


def _rebase(cfg: Config, config_dir: Path, cwd: Path) -> Config:
    """Make configured relative ``paths`` relative to the configuration file's directory.

    Why: they were taken relative to the current directory, so ``vmcore test`` run from a
    subdirectory of the project failed with "file or directory not found".  They are shown
    relative to the current directory, so ids, failures and replay lines stay short.
    """
    cfg.paths = [p if Path(p).is_absolute() else os.path.relpath(config_dir / p, cwd) for p in cfg.paths]
    cfg.root = str(config_dir)
    return cfg
