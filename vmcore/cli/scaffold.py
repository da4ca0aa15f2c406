"""``vmcore new-plugin NAME``: a plugin package that works from the first minute.

The package has a ``pyproject.toml`` (setuptools, entry point group ``vmcore``), a module
with a sample ``fault`` policy registered through ``vmcore_policies``, a README, a
``.vms`` scenario that shows the policy changing an outcome, and tests that pass once
the package is installed (``pip install -e NAME && python -m pytest NAME/tests``) or
its ``src`` directory is on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vmcore.errors import VmcoreError

# PEP 508 / packaging: letters, digits, ".", "_" and "-", starting and ending alphanumeric.
_DIST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


class ScaffoldError(VmcoreError, ValueError):
    """A name that cannot become a plugin package, or a directory already there."""


@dataclass(frozen=True, slots=True)
class PluginNames:
    """Every name derived from the distribution name."""

    dist: str
    """The distribution name, as given (``vmcore-kill-writes``)."""
    module: str
    """The importable module (``vmcore_kill_writes``): also the entry point's name."""
    policy: str
    """The sample policy's name (``kill-writes``)."""
    cls: str
    """The sample policy's class (``KillWrites``)."""


def plugin_names(name: str, family: str = "fault") -> PluginNames:
    """The names for distribution ``name``; :class:`ScaffoldError` when it cannot be one."""
    if not _DIST.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid distribution name: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (for example 'vmcore-kill-writes')"
        )
    module = re.sub(r"[-_.]+", "_", name).lower()
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(
            f"{name!r} gives the module name {module!r}, which Python cannot import: "
            "start the name with a letter (for example 'vmcore-" + name.lower() + "')"
        )
    if module in sys.stdlib_module_names or importlib.util.find_spec(module) is not None:
        raise ScaffoldError(
            f"{name!r} gives the module name {module!r}, which already exists in this environment "
            "and would be shadowed; pick another name (for example 'vmcore-" + name.lower() + "')"
        )
    policy = re.sub(r"[-_.]+", "-", name).lower()
    policy = policy.removeprefix("vmcore-") or policy
    from vmcore.hooks.policies import FAMILIES

    builtin = {cls.name for cls in FAMILIES.get(family, [])}
    if policy in builtin:
        raise ScaffoldError(
            f"{name!r} gives the policy name {policy!r}, which is a built-in {family} policy "
            f"({', '.join(sorted(builtin))}); pick another name"
        )
    cls = "".join(part.capitalize() for part in policy.split("-"))
    if not cls.isidentifier():
        cls = "Policy" + cls
    return PluginNames(name, module, policy, cls)


def new_plugin(name: str, directory: str | os.PathLike[str] = ".", family: str = "fault") -> Path:
    """Write the package for distribution ``name`` into ``directory/name``; returns its path.

    ``family`` is the policy family of its sample policy (one of :data:`SCAFFOLD_FAMILIES`).
    Raises :class:`ScaffoldError` for a bad name or family or when ``directory/name``
    exists.  The files are written into a temporary directory first, so a failure leaves
    nothing.
    """
    if family not in SCAFFOLD_FAMILIES:
        from vmcore.hooks.policies import FAMILIES

        other = f"; {family!r} is a family, but new-plugin has no sample for it yet" if family in FAMILIES else ""
        raise ScaffoldError(
            f"--family {family!r}: choose one of {', '.join(SCAFFOLD_FAMILIES)}{other}"
        )
    names = plugin_names(name, family)
    parent = Path(directory)
    target = parent / name
    if target.exists() or target.is_symlink():
        raise ScaffoldError(f"{target} already exists; pick another name or --dir")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    except OSError as e:
        raise ScaffoldError(f"cannot create {target}: {e.strerror or e}") from None
    try:
        for rel, text in files(names, family).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp made it private
        os.rename(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ScaffoldError(f"cannot create {target}: {e.strerror or e}") from None
    return target


def files(n: PluginNames, family: str = "fault") -> dict[str, str]:
    """Relative path -> contents of every file of the package."""
    if family == "fault":
        module, scenario, tests, readme = MODULE, SCENARIO, TESTS, README
    else:
        from vmcore.cli.scaffold_families import TEMPLATES, module_text, readme_text, tests_text

        t = TEMPLATES[family]
        module, scenario, tests, readme = module_text(t), t.scenario, tests_text(t), readme_text(t)

    def fill(template: str) -> str:
        return (
            template.replace("__DIST__", n.dist)
            .replace("__MODULE__", n.module)
            .replace("__POLICY__", n.policy)
            .replace("__CLASS__", n.cls)
            .replace("__FAMILY__", family)
        )

    return {
        "pyproject.toml": fill(PYPROJECT),
        "README.md": fill(readme),
        f"src/{n.module}/__init__.py": fill(module),
        f"src/{n.module}/py.typed": "",
        f"scenarios/{n.policy}.vms": fill(scenario),
        f"tests/test_{n.module}.py": fill(tests),
    }


SCAFFOLD_FAMILIES = ("fault", "evict", "prefetch", "alloc", "migration")
"""The families ``vmcore new-plugin --family`` writes a sample policy of."""


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "A vmcore plugin: the __FAMILY__ policy __POLICY__"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["vmcore"]

[project.optional-dependencies]
test = ["pytest>=8"]

# vmcore loads every plugin of the entry-point group "vmcore".  The entry point's name is
# the module's name, so `vmcore test -p __MODULE__` finds it already registered.
[project.entry-points.vmcore]
__MODULE__ = "__MODULE__"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
__MODULE__ = ["py.typed"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 110
src = ["src"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF"]
ignore = ["E501"]  # ruff format keeps code lines short; long names and messages stay whole

[tool.mypy]
strict = true
"""

MODULE = '''\
"""vmcore plugin __DIST__: the ``fault`` policy ``__POLICY__``.

A fault the handler cannot map (an address no range or mapping backs, a write to a
read-only page, a fault with retry faults off) goes to the active ``fault`` policy.
Upstream kills the process (``map-or-kill``).  ``__POLICY__`` is a starting point: a
stray *read* maps the dummy page (the job completes, reading garbage) and a stray
*write* still kills, unless ``kill_on_write = false``.

Use it in a scenario with ``policy fault = "__POLICY__"`` or on the command line with
``vmcore test --policy fault=__POLICY__``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore import FaultAction, FaultInfo, Policy, hookimpl

__version__ = "0.1.0"


class __CLASS__(Policy):
    """Reads of unbacked memory get the dummy page; writes kill the process."""

    family = "fault"
    name = "__POLICY__"
    params: ClassVar[dict[str, Any]] = {"kill_on_write": True}
    doc = "A stray read maps the dummy page; a stray write kills (unless kill_on_write = false)."

    @hookimpl
    def vmcore_fault_action(self, fault: FaultInfo) -> FaultAction:
        if fault.write and self.args["kill_on_write"]:
            return FaultAction.KILL
        return FaultAction.DUMMY


@hookimpl
def vmcore_policies() -> list[Any]:
    """The policies this plugin adds (the module itself is the plugin)."""
    return [__CLASS__]
'''

SCENARIO = """\
# The __POLICY__ fault policy of the __DIST__ plugin.  Run it with
#   vmcore test scenarios/
# once the package is installed (or with -p __MODULE__ and src/ on PYTHONPATH).
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
    engine sdma0 sdma
}

# A job reads an address that no svm range or BO backs.  Upstream (map-or-kill) kills
# the process; __POLICY__ maps the dummy page and the job completes.
scenario "a stray read" for P in ["map-or-kill", "__POLICY__"] {
    policy fault = P
    process app on gpu0 { retry_faults on }
    job c1 on comp0 by app touches 0x1000_0000 +4KiB
    run until idle
    expect app killed if P == "map-or-kill"
    expect app alive if P == "__POLICY__"
}

# A stray write still kills, unless the policy is told otherwise.
scenario "a stray write" for K in [true, false] {
    policy fault = "__POLICY__"(kill_on_write = K)
    process app on gpu0 { retry_faults on }
    job c1 on comp0 by app touches 0x1000_0000 +4KiB write
    run until idle
    expect app killed if K == true
    expect app alive if K == false
}
"""

TESTS = '''\
"""Tests of the __DIST__ plugin.

Run them with `python -m pytest tests` after `pip install -e .` (or with PYTHONPATH=src).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pluggy
import pytest
from vmcore import FaultAction, FaultInfo, Scenario, plugin_manager
from vmcore.dsl.compiler import Compiler
from vmcore.hooks.manager import policy_classes

import __MODULE__
from __MODULE__ import __CLASS__

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A plugin manager with vmcore's built-in policies and this plugin only."""
    pm = plugin_manager(entry_points=False)
    pm.register(__MODULE__, name="__MODULE__")
    return pm


def test_the_policy_is_registered(pm: pluggy.PluginManager) -> None:
    assert policy_classes(pm)["fault"]["__POLICY__"] is __CLASS__


def test_the_entry_point_when_installed() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group="vmcore") if ep.name == "__MODULE__"]
    if not eps:
        pytest.skip("not installed: `pip install -e .` registers the entry point")
    assert eps[0].load() is __MODULE__


@pytest.mark.parametrize(
    ("write", "kill_on_write", "action"),
    [
        (False, True, FaultAction.DUMMY),
        (True, True, FaultAction.KILL),
        (True, False, FaultAction.DUMMY),
    ],
)
def test_the_decision(write: bool, kill_on_write: bool, action: FaultAction) -> None:
    fault = FaultInfo("gpu0", "app", 0x1000_0000, write, "no range")
    assert __CLASS__(kill_on_write=kill_on_write).vmcore_fault_action(fault) is action


def test_every_scenario_passes(pm: pluggy.PluginManager) -> None:
    compiled = [cs for f in sorted(SCENARIOS.glob("*.vms")) for cs in Compiler(pm).compile_path(f)]
    assert compiled
    for cs in compiled:
        r = cs.build(pm).run()
        assert r.passed, f"{cs.id}\\n{r.summary()}"


def test_the_policy_changes_the_outcome(pm: pluggy.PluginManager) -> None:
    def stray_read(policy: str) -> bool:
        s = Scenario("a stray read", plugins=pm)
        s.gpu(
            "gpu0",
            vram=16 << 20,
            engines=[("comp0", "compute", True, False), ("sdma0", "sdma", False, False)],
        )
        s.policy("fault", policy)
        s.process("app", ["gpu0"])
        s.job("c1", "comp0", "app", touches=(0x1000_0000, 4096))
        s.run_until_idle()
        s.expect("alive", "app")
        return s.run().passed

    assert not stray_read("map-or-kill")
    assert stray_read("__POLICY__")
'''

README = """\
# __DIST__

A vmcore plugin: the `fault` policy **`__POLICY__`**.

A fault the handler cannot map (an address no range or mapping backs, a write to a
read-only page, a fault with retry faults off) goes to the active `fault` policy.
Upstream amdgpu kills the process (`map-or-kill`). `__POLICY__` maps the dummy page for
a stray read (the job completes, reading garbage) and still kills on a stray write,
unless `kill_on_write = false`.

## Use

```sh
pip install -e .
vmcore plugins                       # lists __MODULE__ and fault=__POLICY__
vmcore test scenarios/
vmcore test path/to/scenarios --policy fault=__POLICY__
```

Installing makes the name known; a scenario chooses it:

```
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
    engine sdma0 sdma
}

scenario "a stray read" {
    policy fault = "__POLICY__"(kill_on_write = true)
    process app on gpu0 { retry_faults on }
    job c1 on comp0 by app touches 0x1000_0000 +4KiB
    run until idle
    expect app alive
}
```

Without installing: `PYTHONPATH=src vmcore test -p __MODULE__ scenarios/`.

## Layout

- `src/__MODULE__/__init__.py`: the policy class `__CLASS__` (family `fault`, its
  decision hook `vmcore_fault_action`) and the `vmcore_policies` hook that adds it.
  Change the family and hooks to write another kind of policy (`vmcore plugins` and
  vmcore's docs/hooks.md list them).
- `scenarios/__POLICY__.vms`: scenarios that show the policy changing an outcome.
- `tests/`: `python -m pytest tests` (after `pip install -e .`, or with `PYTHONPATH=src`).
"""


__all__ = ["SCAFFOLD_FAMILIES", "PluginNames", "ScaffoldError", "files", "new_plugin", "plugin_names"]
