"""The sample policies ``vmcore new-plugin NAME --family F`` writes, one per family.

Each has a policy class implementing its family's decision hook, a scenario whose
expectations show it changing an outcome against the family's default (the figures are
the sample's own, checked by the generated tests), a unit test of its decision, and a
README paragraph. The ``fault`` family's sample lives in :mod:`vmcore.cli.scaffold`.
Placeholders: ``__DIST__``, ``__MODULE__``, ``__POLICY__``, ``__CLASS__``, ``__FAMILY__``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyTemplate:
    family: str
    default: str
    """The family's built-in default, which the scenario compares with."""
    summary: str
    """What the sample policy does, one sentence (its ``doc``)."""
    about: str
    """The module docstring's paragraph: what the family decides and what upstream does."""
    imports: str
    params: str
    """The ``params`` class attribute, or ""."""
    method: str
    scenario: str
    decision_test: str


_GPU = """\
gpu gpu0 {
    vram 4MiB
    engine comp0 compute retry
    engine sdma0 sdma
}
"""

TEMPLATES: dict[str, FamilyTemplate] = {
    "evict": FamilyTemplate(
        "evict",
        "lru",
        "Evict what came into VRAM last first: on a cyclic sweep it keeps the older part resident.",
        "The ``evict`` family orders the victims when VRAM is needed; upstream TTM evicts the\n"
        "least recently used first (``lru``), which is exactly wrong for a sweep larger than\n"
        "VRAM: it evicts the page the sweep needs next.",
        "EvictCandidate, Policy, hookimpl",
        "",
        '''    @hookimpl
    def vmcore_evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        return sorted(candidates, key=lambda c: (-c.created, c.lru))
''',
        """\
# The __POLICY__ evict policy of the __DIST__ plugin: four passes over 96MiB of SVM data
# with 64MiB of VRAM (ranges kept as 2MiB pieces, each one granule).  Under lru every
# granule faults on every pass (48 x 4 = 192 faults); __POLICY__ keeps the older part of
# the sweep resident and faults less.
gpu gpu0 {
    vram 64MiB
    engine comp0 compute retry
    engine sdma0 sdma
}

scenario "a cyclic sweep over 1.5x VRAM" for P in ["lru", "__POLICY__"] {
    policy evict = P
    process app on gpu0
    svm app 0x4000_0000 +96MiB in system
    job c on comp0 by app touches 0x4000_0000 +96MiB passes 4
    run until idle
    expect app alive
    expect faults == 192 if P == "lru"
    expect faults < 192 if P == "__POLICY__"
}
""",
        '''def test_the_decision() -> None:
    old = EvictCandidate("old", "range", 65536, lru=5, uses=1, created=100, busy=False)
    new = EvictCandidate("new", "range", 65536, lru=1, uses=1, created=200, busy=False)
    assert [c.name for c in __CLASS__().vmcore_evict_order([old, new])] == ["new", "old"]
''',
    ),
    "prefetch": FamilyTemplate(
        "prefetch",
        "none",
        "Bring the next ``granules`` granules along with each faulting one.",
        "The ``prefetch`` family says what else a retry fault migrates with its granule;\n"
        "upstream migrates the faulting granule alone (``none``).",
        "Policy, PrefetchRequest, hookimpl",
        '    params: ClassVar[dict[str, Any]] = {"granules": 1}\n',
        '''    @hookimpl
    def vmcore_prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        after = request.granule_start + request.granule_size
        return [(after, request.granule_size * int(self.args["granules"]))]
''',
        f"""\
# The __POLICY__ prefetch policy of the __DIST__ plugin: a stream over 2MiB of 4KiB
# granules.  Without prefetch every page faults (512 faults); __POLICY__ brings the next
# granule with each fault, so every other page faults.
{_GPU}
scenario "a sequential stream" for P in ["none", "__POLICY__"] {{
    policy prefetch = P
    process app on gpu0
    svm app 0x4000_0000 +2MiB in system {{
        granularity 4KiB
    }}
    job c on comp0 by app touches 0x4000_0000 +2MiB
    run until idle
    expect app alive
    expect faults == 512 if P == "none"
    expect faults == 256 if P == "__POLICY__"
}}
""",
        '''def test_the_decision() -> None:
    req = PrefetchRequest("gpu0", "app", 0x4000_0000, 0x4000_0000, 4096, 0x4000_0000, 1 << 21, "gpu0.vram",
                          lambda a, n: 0)  # fmt: skip
    assert __CLASS__(granules=2).vmcore_prefetch(req) == [(0x4000_1000, 8192)]
''',
    ),
    "alloc": FamilyTemplate(
        "alloc",
        "ttm",
        "Never evict to migrate: a granule that does not fit stays in system memory and is mapped there.",
        "The ``alloc`` family says how the fault handler may get memory for a page table or\n"
        "for the pages a granule migrates into; upstream's SVM fault path allocates as TTM\n"
        "does, evicting and waiting (``ttm``).",
        "AllocMode, AllocRequest, Policy, hookimpl",
        "",
        '''    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        return AllocMode.FAIL if request.purpose == "migration" else AllocMode.NO_WAIT
''',
        f"""\
# The __POLICY__ alloc policy of the __DIST__ plugin: a job writes 8MiB of SVM data with
# 4MiB of VRAM.  Under ttm the fault handler evicts granules to migrate new ones;
# under __POLICY__ nothing is evicted and what does not fit is used from system memory.
# The data is right either way.
{_GPU}
scenario "a working set twice the VRAM" for P in ["ttm", "__POLICY__"] {{
    policy alloc = P
    process app on gpu0
    svm app 0x4000_0000 +8MiB in system {{
        granularity 64KiB
    }}
    job c on comp0 by app touches 0x4000_0000 +8MiB write value 7
    run until idle
    expect app alive
    expect 0x4000_0000 +8MiB of app reads 7
    expect evictions > 0 if P == "ttm"
    expect evictions == 0 if P == "__POLICY__"
}}
""",
        '''def test_the_decision() -> None:
    assert __CLASS__().vmcore_alloc_mode(AllocRequest("gpu0", "migration", 65536, "app")) is AllocMode.FAIL
    assert __CLASS__().vmcore_alloc_mode(AllocRequest("gpu0", "pt", 4096, "app")) is AllocMode.NO_WAIT
''',
    ),
    "migration": FamilyTemplate(
        "migration",
        "on-fault",
        "Never migrate on a fault: map the data where it is.",
        "The ``migration`` family says when data moves and where to; upstream migrates the\n"
        "faulting granule to its best location in the fault handler (``on-fault``).",
        "MigrationDecision, MigrationRequest, Policy, hookimpl",
        "",
        '''    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision:
        return MigrationDecision(request.location, in_fault_handler=True, silent_retry=False)
''',
        f"""\
# The __POLICY__ migration policy of the __DIST__ plugin: a job writes 1MiB of SVM data
# that starts in system memory.  Under on-fault the granule migrates to VRAM; under
# __POLICY__ it is mapped where it is and never moves.
{_GPU}
scenario "data in system memory" for P in ["on-fault", "__POLICY__"] {{
    policy migration = P
    process app on gpu0
    svm app 0x4000_0000 +1MiB in system
    job c on comp0 by app touches 0x4000_0000 +1MiB write value 3
    run until idle
    expect app alive
    expect 0x4000_0000 +1MiB of app reads 3
    expect migrations > 0 if P == "on-fault"
    expect migrations == 0 if P == "__POLICY__"
    expect 0x4000_0000 +1MiB of app in system if P == "__POLICY__"
}}
""",
        '''def test_the_decision() -> None:
    req = MigrationRequest("gpu0", "app", 0x4000_0000, 0x4000_0000, 1 << 21, "system", None, ("gpu0",), (),
                           (("gpu0", "gpu0"),), True)  # fmt: skip
    assert __CLASS__().vmcore_migration(req) == MigrationDecision("system", True, False)
''',
    ),
}


def module_text(t: FamilyTemplate) -> str:
    params = t.params
    typing = "from typing import Any, ClassVar\n" if params else "from typing import Any\n"
    return f'''\
"""vmcore plugin __DIST__: the ``{t.family}`` policy ``__POLICY__``.

{t.about}
``__POLICY__`` is a starting point: {t.summary[0].lower() + t.summary[1:]}

Use it in a scenario with ``policy {t.family} = "__POLICY__"`` or on the command line with
``vmcore test --policy {t.family}=__POLICY__``; compare it with the default with
``vmcore compare PATHS --policy {t.family}={t.default},__POLICY__``.
"""

from __future__ import annotations

{typing}
from vmcore import {t.imports}

__version__ = "0.1.0"


class __CLASS__(Policy):
    """{t.summary}"""

    family = "{t.family}"
    name = "__POLICY__"
{params}    doc = "{t.summary}"

{t.method}

@hookimpl
def vmcore_policies() -> list[Any]:
    """The policies this plugin adds (the module itself is the plugin)."""
    return [__CLASS__]
'''


def tests_text(t: FamilyTemplate) -> str:
    names = sorted({n.strip() for n in t.imports.split(",")} - {"Policy", "hookimpl"} | {"plugin_manager"})
    return f'''\
"""Tests of the __DIST__ plugin.

Run them with `python -m pytest tests` after `pip install -e .` (or with PYTHONPATH=src).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pluggy
import pytest
from vmcore import {", ".join(names)}
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
    assert policy_classes(pm)["{t.family}"]["__POLICY__"] is __CLASS__


def test_the_entry_point_when_installed() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group="vmcore") if ep.name == "__MODULE__"]
    if not eps:
        pytest.skip("not installed: `pip install -e .` registers the entry point")
    assert eps[0].load() is __MODULE__


{t.decision_test}

def test_every_scenario_passes(pm: pluggy.PluginManager) -> None:
    """The scenarios compare the policy with the family's default ({t.default})."""
    compiled = [cs for f in sorted(SCENARIOS.glob("*.vms")) for cs in Compiler(pm).compile_path(f)]
    assert len(compiled) == 2
    for cs in compiled:
        r = cs.build(pm).run()
        assert r.passed, (cs.id, r.failures, [(str(o.expectation), o.why) for o in r.outcomes if not o.passed])
'''


def readme_text(t: FamilyTemplate) -> str:
    return f"""\
# __DIST__

A vmcore plugin: the `{t.family}` policy **`__POLICY__`**. {t.summary}

{" ".join(t.about.split())}

## Use

```sh
pip install -e .
vmcore plugins                       # lists __MODULE__ and {t.family}=__POLICY__
vmcore test scenarios/
vmcore compare scenarios/ --policy {t.family}={t.default},__POLICY__
```

Without installing: `PYTHONPATH=src vmcore test -p __MODULE__ scenarios/`.

## Layout

- `src/__MODULE__/__init__.py`: the policy class `__CLASS__` (family `{t.family}`) and the
  `vmcore_policies` hook that adds it. vmcore's docs/hooks.md documents the decision hook
  and its request and answer types.
- `scenarios/__POLICY__.vms`: the policy against the default, `{t.default}`, with what each
  one gives.
- `tests/`: `python -m pytest tests` (after `pip install -e .`, or with `PYTHONPATH=src`).
"""
