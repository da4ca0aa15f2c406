"""TTM's LRUs hold exactly the evictable objects in each GPU's VRAM, in use order.

Every run of the reference corpus is checked when it ends (before the device closes),
and the oversubscribed workload after every step, against the set recomputed from
scratch as the eviction loop once did on every eviction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine import golden
from vmcore.core import Level
from vmcore.engine.gpu.svm_bo import SvmBo
from vmcore.engine.gpu.ttm import Lru
from vmcore.engine.model import Bo, Domain
from vmcore.engine.system import System
from vmcore.hooks.decisions import RootPdMode


def expected(system: System, known: list[Bo | SvmBo] | None = None) -> dict[str, list[Bo | SvmBo]]:
    """From scratch: ``known`` (every object TTM was told of), else what the system holds."""
    out: dict[str, list[Bo | SvmBo]] = {g: [] for g in system.gpus}
    objs: list[Bo | SvmBo] = list(system.bos.values())
    for proc in system.processes.values():
        for vm in proc.vms.values():
            objs += [vm.root, *vm.pt_bos.values()]
        objs += [r.svm_bo for r in proc.ranges if r.svm_bo is not None]
    seen: set[int] = set()
    for o in objs if known is None else known:
        if id(o) in seen:
            continue
        seen.add(id(o))
        p = o.place
        if p is None or p.domain is not Domain.VRAM or not p.blocks or p.gpu is None:
            continue
        if p.pool is p.gpu.pt_reserve:
            continue
        if isinstance(o, Bo):
            if o.pinned:
                continue
            if o.pt_of is not None:
                if o.pt_handle == 0 and o.pt_of.root_mode is not RootPdMode.MOVABLE:
                    continue
                if o.pt_handle and o.pt_level != int(Level.PTB):
                    continue
        out[p.gpu.name].append(o)
    for v in out.values():
        v.sort(key=lambda o: (o.lru, o.order))
    return out


def check(system: System, known: list[Bo | SvmBo] | None = None) -> None:
    want = expected(system, known)
    for name, gpu in system.gpus.items():
        assert isinstance(gpu.lru, Lru)
        got = list(gpu.lru)
        assert [id(o) for o in got] == [id(o) for o in want[name]], name
        assert all(o.lru_home is gpu.lru for o in got)


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Check every System's LRUs when its run ends."""
    runs: list[int] = []
    close = System.close

    def checking_close(self: System) -> None:
        check(self)
        runs.append(1)
        close(self)

    monkeypatch.setattr(System, "close", checking_close)
    yield runs


def test_the_lrus_match_the_evictable_objects_at_the_end_of_every_reference_run(checked: list[int]) -> None:
    golden.record()
    assert len(checked) >= 1000


def test_the_lrus_match_after_every_change_under_pressure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked after every use and placement change TTM hears of, and after every step."""
    from vmcore.dsl.compiler import Compiler
    from vmcore.engine.gpu.ttm import Ttm
    from vmcore.engine.sim import Sim
    from vmcore.hooks.manager import plugin_manager

    pm = plugin_manager(entry_points=False)
    text = golden.WORKLOADS["two processes and BOs under pressure"]
    item = Compiler(pm).compile_text(text, "<w>")[0]
    systems: list[System] = []
    known: list[Bo | SvmBo] = []
    checks = [0]
    init = System.__init__
    register = Ttm.register

    def keep(self: System, *a: object, **k: object) -> None:
        init(self, *a, **k)  # type: ignore[arg-type]
        systems.append(self)

    def remember(self: Ttm, obj: Bo | SvmBo) -> None:
        register(self, obj)
        known.append(obj)

    def checking(method: str) -> None:
        orig = getattr(Ttm, method)

        def wrapped(self: Ttm, obj: Bo | SvmBo) -> None:
            orig(self, obj)
            if systems and systems[-1].started:
                check(systems[-1], known)
                checks[0] += 1

        monkeypatch.setattr(Ttm, method, wrapped)

    monkeypatch.setattr(System, "__init__", keep)
    monkeypatch.setattr(Ttm, "register", remember)
    checking("placed")
    checking("touch")
    step = Sim._step

    def checked_step(self: Sim, actor: object, value: object) -> None:
        step(self, actor, value)  # type: ignore[arg-type]
        if systems and systems[-1].started:
            check(systems[-1], known)
            checks[0] += 1

    monkeypatch.setattr(Sim, "_step", checked_step)
    r = item.build(pm).run()
    assert r.passed, r.summary()
    assert r.metrics["evictions"] >= 20 and checks[0] > 250
