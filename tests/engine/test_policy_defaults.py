"""Policies are asked through typed questions; ``None`` lets the family's default answer.

A policy implements only what it changes: a hook it leaves out, or answers with ``None``,
is answered by its family's built-in default policy, whose answer is written once.
"""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

from vmcore.engine import Scenario
from vmcore.hooks.decisions import (
    UPDATE_KINDS,
    HintRequest,
    MigrationDecision,
    MigrationRequest,
    PtMove,
    UpdatePath,
    UpdateRequest,
)
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.manager import ActivePolicies, PluginError, PolicyChoice, plugin_manager
from vmcore.hooks.policies import FAMILIES, Policy

MiB = 1 << 20


class Undecided(Policy):
    """A migration policy with no opinion on anything."""

    family = "migration"
    name = "undecided"

    @hookimpl
    def vmcore_migration(self, request: MigrationRequest) -> MigrationDecision | None:
        return None


class SilentHints(Policy):
    """Silent retry for prefetch hints, nothing else: no ``silent_retry`` parameter at all."""

    family = "migration"
    name = "silent-hints"

    @hookimpl
    def vmcore_hint_silent_retry(self, request: HintRequest) -> bool:
        return True


class TerseReallocate(Policy):
    """A hookimpl may declare fewer arguments than its spec, as pluggy allows."""

    family = "pt_move"
    name = "terse-reallocate"

    @hookimpl
    def vmcore_pt_move(self, gpu: str) -> PtMove:
        assert gpu == "gpu0"
        return PtMove.REALLOCATE


class WrongType(Policy):
    family = "pt_move"
    name = "wrong-type"

    @hookimpl
    def vmcore_pt_move(self, gpu: str, process: str) -> Any:
        return "reallocate"


class Extra:
    @hookimpl
    def vmcore_policies(self) -> list[type[Policy]]:
        return [Undecided, SilentHints, TerseReallocate, WrongType]


def pm() -> pluggy.PluginManager:
    m = plugin_manager(entry_points=False)
    m.register(Extra(), name="extra")
    return m


def one_gpu(name: str, **policies: str) -> Scenario:
    s = Scenario(name, plugins=pm())
    s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False), ("sdma0", "sdma", False, False)])
    for fam, pol in policies.items():
        s.policy(fam, pol)
    return s


def test_a_none_migration_answer_is_the_upstream_choice_preferred_location_included() -> None:
    """The default (`on-fault`, svm_range_best_restore_location) honours `preferred`; the
    fallback once spelled at the call site ignored it and pulled the data to the GPU."""
    s = one_gpu("none means on-fault", migration="undecided")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system", preferred="system")
    s.svm("app", 0x8000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8192))
    s.job("c2", "comp0", "app", touches=(0x8000_0000, 8192))
    s.run_until_idle()
    s.expect("in", 0x4000_0000, 4096, "app", "system")
    s.expect("in", 0x8000_0000, 4096, "app", "gpu0.vram")
    r = s.run()
    assert r.passed, r.summary()
    assert r.metrics["migrations"] == 1


def test_a_policy_answers_only_the_hook_it_implements() -> None:
    """`silent-hints` says nothing about faults (the default migrates on fault) and puts a
    hint's invalidation into silent retry, with no parameter to read."""
    s = one_gpu("silent hints", migration="silent-hints")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8192))
    s.run_until_idle()
    s.migrate("app", 0x4000_0000, 2 * MiB, "system")
    s.run_until_idle()
    r = s.run()
    assert r.passed, r.summary()
    updates = [d for _, _, a, d in r.log if a == "pte update"]
    assert any(d.endswith("-> silent retry") for d in updates)
    assert r.metrics["migrations"] == 2  # in on the fault, out on the hint

    plain = one_gpu("plain hints")
    plain.process("app", ["gpu0"])
    plain.svm("app", 0x4000_0000, 2 * MiB, "system")
    plain.job("c1", "comp0", "app", touches=(0x4000_0000, 8192))
    plain.run_until_idle()
    plain.migrate("app", 0x4000_0000, 2 * MiB, "system")
    r2 = plain.run()
    assert not any(d.endswith("-> silent retry") for _, _, a, d in r2.log if a == "pte update")


def test_a_hookimpl_with_fewer_arguments_is_called_with_those_it_declares() -> None:
    s = one_gpu("terse", pt_move="terse-reallocate")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 64 << 10, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4096))
    s.run_until_idle()
    s.evict_page_tables("app")
    s.run_until_idle()
    r = s.run()
    assert r.passed, r.summary()
    assert any(a == "pt freed" for _, _, a, _ in r.log)


def test_a_wrong_answer_names_the_policy_and_the_hook() -> None:
    active = ActivePolicies(pm(), {"pt_move": PolicyChoice("pt_move", "wrong-type")})
    with pytest.raises(PluginError, match=r"pt_move = 'wrong-type'.*vmcore_pt_move returned str"):
        active.pt_move("gpu0", "app")


def test_defaults_answer_every_question_without_a_plugin() -> None:
    active = ActivePolicies(plugin_manager(entry_points=False), {})
    assert active.pt_reserve("gpu0", 1 << 30) == 0  # no-wait keeps no reserve: it has no such hook
    assert active.pt_move("gpu0", "app") is PtMove.MIGRATE
    assert active.hint_silent_retry(HintRequest("app", 0, 4096, "system")) is False
    assert not active.custom_evict_order
    assert ActivePolicies(
        plugin_manager(entry_points=False), {"evict": PolicyChoice("evict", "fifo")}
    ).custom_evict_order


@pytest.mark.parametrize("name", [cls.name for cls in FAMILIES["update"]])
def test_a_built_in_update_policys_table_answers_as_its_hook(name: str) -> None:
    """The engine asks ``update_path_of`` per update; a built-in's answer comes from a
    table made once.  It must be the hook's answer for any GPU and process, every kind
    and both fault paths: a built-in that read another field would fail here."""
    pm = plugin_manager(entry_points=False)
    active = ActivePolicies(pm, {"update": PolicyChoice("update", name)})
    assert active._update_paths is not None  # the table is what this test is about
    policy = active.policies["update"]
    for gpu, process in [("gpu0", "app"), ("gpu3", "other"), ("", "")]:
        for fault_path in (False, True):
            for kind in UPDATE_KINDS:
                for svm in (False, True):
                    want = policy.vmcore_update_path(UpdateRequest(gpu, process, fault_path, kind, svm))  # type: ignore[attr-defined]
                    assert active.update_path_of(gpu, process, fault_path, kind, svm) is want


def test_a_plugin_update_policy_is_asked_for_every_update() -> None:
    """No table for a policy from a plugin: it sees each request with its GPU and process."""
    seen: list[UpdateRequest] = []

    class ByProcess(Policy):
        family = "update"
        name = "by-process"

        @hookimpl
        def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath | None:
            seen.append(request)
            return UpdatePath.IMMEDIATE if request.process == "fast" else None

    class Plugin:
        @hookimpl
        def vmcore_policies(self) -> list[type[Policy]]:
            return [ByProcess]

    pm = plugin_manager(entry_points=False)
    pm.register(Plugin(), name="by-process")
    active = ActivePolicies(pm, {"update": PolicyChoice("update", "by-process")})
    assert active._update_paths is None
    assert active.update_path_of("gpu0", "fast", False, "map", False) is UpdatePath.IMMEDIATE
    assert active.update_path_of("gpu0", "slow", False, "map", False) is UpdatePath.DELAYED  # the default's
    assert [(q.gpu, q.process) for q in seen] == [("gpu0", "fast"), ("gpu0", "slow")]
