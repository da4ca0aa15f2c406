"""Plugin loading, the policy registry, and the per-scenario set of active policies."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import signal
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, cast

import pluggy

from vmcore.errors import BudgetExceeded, VmcoreError
from vmcore.hooks import hookspecs
from vmcore.hooks.decisions import (
    UPDATE_KINDS,
    AllocMode,
    AllocRequest,
    EvictCandidate,
    FaultAction,
    FaultInfo,
    HintRequest,
    MigrationDecision,
    MigrationRequest,
    PrefetchRequest,
    PtMove,
    QueueModel,
    RootPdMode,
    UpdatePath,
    UpdateRequest,
)
from vmcore.hooks.policies import FAMILIES, BuiltinPolicies, Policy, PolicyError

ENTRY_POINT_GROUP = "vmcore"


class PluginError(VmcoreError):
    """A plugin failed to load, or a hook raised or answered with the wrong type."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _own_version() -> str:
    from vmcore import __version__

    return __version__


def distribution_of(pm: pluggy.PluginManager, name: str) -> tuple[str, str] | None:
    """(distribution, version) a plugin was loaded from by entry point, if it was."""
    got: tuple[str, str] | None = getattr(pm, "vmcore_dists", {}).get(name)
    return got


def load_errors(pm: pluggy.PluginManager) -> list[str]:
    """Plugins that failed to load into ``pm`` (the CLI reports each once)."""
    return list(getattr(pm, "vmcore_load_errors", []))


def autoload() -> bool:
    """Whether entry-point plugins load: not when VMCORE_DISABLE_PLUGIN_AUTOLOAD is set."""
    return os.environ.get("VMCORE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")


def split_plugin_args(specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """``-p`` values as (modules to load, names blocked by ``-p no:NAME``)."""
    mods: list[str] = []
    blocked: list[str] = []
    for spec in specs:
        if spec.startswith("no:"):
            blocked.append(spec[3:])
        elif spec not in mods:
            mods.append(spec)
    return mods, blocked


def plugin_manager(
    modules: Iterable[str] = (),
    entry_points: bool | None = None,
    strict: bool | None = None,
    blocked: Iterable[str] = (),
) -> pluggy.PluginManager:
    """A manager with vmcore's hookspecs, the built-in policies and the given plugins.

    ``entry_points`` None means "unless VMCORE_DISABLE_PLUGIN_AUTOLOAD is set".  A name in
    ``blocked`` (``-p no:NAME``: an entry point's name or a module's) is blocked before
    anything loads, so such a plugin is never imported and none of its hooks (its
    ``vmcore_addoption`` included) runs.  An entry-point plugin that fails to import or
    register is recorded (see :func:`load_errors`) and the others still load; ``strict``
    (or VMCORE_STRICT_PLUGINS=1) raises instead.  A module named with ``-p`` that cannot
    be imported is always an error.
    """
    if strict is None:
        strict = os.environ.get("VMCORE_STRICT_PLUGINS", "") not in ("", "0")
    if entry_points is None:
        entry_points = autoload()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(BuiltinPolicies(), name="vmcore.policies")
    for name in blocked:
        if name != "vmcore.policies":
            pm.set_blocked(name)
    errors: list[str] = []
    dists: dict[str, tuple[str, str]] = {"vmcore.policies": ("vmcore", _own_version())}
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
            try:
                pm.register(ep.load(), name=ep.name)
                if ep.dist is not None:
                    dists[ep.name] = (ep.dist.name, ep.dist.version)
            except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
                msg = (
                    f"plugin {ep.name!r} ({dist}) failed to load: {type(e).__name__}: {e} "
                    f"(disable it with -p no:{ep.name} or VMCORE_DISABLE_PLUGIN_AUTOLOAD=1)"
                )
                if strict:
                    raise PluginError(msg) from e
                errors.append(msg)
    pm.vmcore_load_errors = errors  # type: ignore[attr-defined]
    pm.vmcore_dists = dists  # type: ignore[attr-defined]
    for mod in modules:
        if pm.is_blocked(mod):
            continue
        try:
            module = importlib.import_module(mod)
        except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
            raise PluginError(f"plugin module {mod!r} could not be imported: {e}") from e
        if pm.get_plugin(mod) is None and not pm.is_registered(module):
            pm.register(module, name=mod)  # already loaded by its entry point: nothing to do
    return pm


def hook_warnings(pm: pluggy.PluginManager) -> list[str]:
    """What a plugin author most likely got wrong, found without running anything: a hook
    implementation whose name is no vmcore hook (``vmcore_falut_action``), on a plugin or
    on a policy class, and a policy that implements none of its family's hooks (so the
    family's default decides everything)."""
    known = {n for n in dir(hookspecs) if n.startswith("vmcore_")}
    marker = f"{hookspecs.PROJECT}_impl"
    out: list[str] = []

    def unknown(where: str, name: str) -> None:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"{where}: {name} is no vmcore hook, so it is never called{hint}")

    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        if name.startswith("vmcore_") and name not in known and hasattr(caller, "get_hookimpls"):
            for impl in caller.get_hookimpls():
                unknown(f"plugin {impl.plugin_name!r}", name)
    try:
        table = policy_classes(pm)
    except PluginError:
        return out  # reported when the policies are used
    for fam, classes in table.items():
        family_hooks = sorted(h for h, f in hookspecs.FAMILY_OF_HOOK.items() if f == fam)
        for pname, cls in classes.items():
            if cls.__module__.startswith("vmcore.hooks.policies"):
                continue
            impls = [n for n in dir(cls) if n.startswith("vmcore_") and hasattr(getattr(cls, n), marker)]
            where = f"policy {fam} = {pname!r} ({cls.__module__}.{cls.__qualname__})"
            for n in impls:
                if n not in known:
                    unknown(where, n)
            if not any(n in family_hooks for n in impls):
                out.append(
                    f"{where} implements none of its family's hooks ({', '.join(family_hooks)}): "
                    "the family's default decides everything"
                )
    return out


def policy_classes(pm: pluggy.PluginManager) -> dict[str, dict[str, type[Policy]]]:
    """family -> name -> class, from every plugin's ``vmcore_policies``; a name claimed twice is an error."""
    table: dict[str, dict[str, type[Policy]]] = {f: {} for f in FAMILIES}
    owner: dict[tuple[str, str], str] = {}
    for impl in pm.hook.vmcore_policies.get_hookimpls():
        classes = cast("list[type[Policy]] | None", impl.function())
        for cls in classes or ():
            fam, name = cls.family, cls.name
            if fam not in table:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} adds policy {name!r} to unknown family {fam!r}"
                )
            key = (fam, name)
            if key in owner and table[fam][name] is not cls:
                raise PluginError(
                    f"policy {fam} = {name!r} is claimed twice: by {owner[key]!r} and by {impl.plugin_name!r}"
                )
            owner[key] = impl.plugin_name
            table[fam][name] = cls
    return table


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    """``policy FAMILY = "NAME"(k = v, ...)``."""

    family: str
    name: str
    params: tuple[tuple[str, Any], ...] = ()


def default_choices() -> dict[str, PolicyChoice]:
    return {fam: PolicyChoice(fam, classes[0].name) for fam, classes in FAMILIES.items()}


RUN_TIMEOUT_S = float(os.environ.get("VMCORE_RUN_TIMEOUT", "60"))
"""Wall-clock seconds one scenario run may take; past it, a hook still running is blamed."""


@contextlib.contextmanager
def run_deadline(policies: ActivePolicies, seconds: float | None = None) -> Iterator[None]:
    """Stop a run that exceeds its wall-clock budget, naming the hook it is stuck in.

    One real-time interval timer per run (not per hook call: decisions are frequent).  It
    works only in the main thread; elsewhere the run is not timed.  A timer already set
    by someone else is left alone.
    """
    limit = RUN_TIMEOUT_S if seconds is None else seconds
    if (
        limit <= 0
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0]
    ):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        if policies.current is not None:
            raise PluginError(
                f"{policies.current} did not return within the run's {limit:g} s budget\n{stack}"
            )
        raise BudgetExceeded(f"wall-clock budget of {limit:g} s exceeded")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class ActivePolicies:
    """The one active policy per family for a run, and the typed questions the engine asks.

    Each decision is a method (``alloc_mode``, ``migration``, ...) that asks the active
    policy of its family only; when that policy answers ``None`` (or implements no hook
    for it), the family's built-in default policy answers, so a default is written once,
    in that policy.  A hook that raises or answers with the wrong type becomes a
    :class:`PluginError` naming the policy, the hook and the traceback.
    """

    def __init__(self, pm: pluggy.PluginManager, choices: Mapping[str, PolicyChoice]) -> None:
        table = policy_classes(pm)
        self.pm = pm
        self.policies: dict[str, Policy] = {}
        defaults = default_choices()
        for fam in FAMILIES:
            choice = choices.get(fam) or defaults[fam]
            known = table[fam]
            cls = known.get(choice.name)
            if cls is None:
                raise PolicyError(
                    f"unknown {fam} policy {choice.name!r}{did_you_mean(choice.name, known)} "
                    f"(known: {', '.join(known)})"
                )
            self.policies[fam] = cls(**dict(choice.params))
        self.defaults: dict[str, Policy] = {fam: classes[0]() for fam, classes in FAMILIES.items()}
        """Each family's built-in default policy, with its default parameters."""
        self._dm = pluggy.PluginManager(hookspecs.PROJECT)
        self._dm.add_hookspecs(hookspecs)
        for fam, pol in self.policies.items():
            self._dm.register(pol, name=f"{fam}:{pol.name}")
        # Each decision hook reaches its own family's policy only: a policy of another
        # family that happens to implement the hook must not answer (or override) it.
        # With one plain implementation (the usual case) it is called directly, with the
        # arguments it declares, as pluggy would: decisions are frequent.
        self._callers: dict[str, Any] = {}
        self._direct: dict[str, tuple[Any, tuple[str, ...]] | None] = {}
        self._labels: dict[str, str] = {}
        for hook, fam in hookspecs.FAMILY_OF_HOOK.items():
            active = self.policies[fam]
            others = [p for f, p in self.policies.items() if f != fam]
            caller = self._dm.subset_hook_caller(hook, remove_plugins=others)
            impls = caller.get_hookimpls()
            self._callers[hook] = caller if impls else None
            plain = len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper)
            self._direct[hook] = (impls[0].function, tuple(impls[0].argnames)) if plain else None
            self._labels[hook] = f"policy {active!r}: hook {hook}"
        self.custom_evict_order = type(self.policies["evict"]) is not FAMILIES["evict"][0] and bool(
            self._callers["vmcore_evict_order"]
        )
        """Whether the active evict policy orders candidates itself; else TTM walks its LRU."""
        self.prefetching = type(self.policies["prefetch"]) is not FAMILIES["prefetch"][0] and bool(
            self._callers["vmcore_prefetch"]
        )
        """Whether a fault may migrate more than its granule (the default, none, never does)."""
        never_direct = {
            c
            for c in FAMILIES["update"]
            if c.name in ("split-entities", "immediate-entity", "delayed-entity", "cpu")
        }
        self.may_update_direct = type(self.policies["update"]) not in never_direct and bool(
            self._callers["vmcore_update_path"]
        )
        """Whether the active update policy may answer DIRECT (the built-ins but ``direct`` never do)."""
        self._update_paths: dict[tuple[bool, str, bool], UpdatePath] | None = None
        """With a built-in update policy active: its answer by (fault_path, kind, svm), asked
        once here.  The built-ins answer from those fields alone (tests/hooks checks it for
        other GPU and process names), so the engine's updates skip the request and the call."""
        if type(self.policies["update"]) in FAMILIES["update"]:
            self._update_paths = {
                (fp, kind, svm): self.update_path(UpdateRequest("", "", fp, kind, svm))
                for fp in (False, True)
                for kind in UPDATE_KINDS
                for svm in (False, True)
            }
        self._observers = list(pm.hook.vmcore_event.get_hookimpls())
        self._described: dict[str, str] | None = None
        self.current: str | None = None
        """The hook being called right now (for a run stuck inside it)."""

    def describe(self) -> dict[str, str]:
        """family -> the active policy with its parameters, as a run reports it."""
        if self._described is None:
            self._described = {fam: repr(p) for fam, p in self.policies.items()}
        return dict(self._described)

    def decide(self, hook: str, expect: type | tuple[type, ...], **kwargs: Any) -> Any:
        """Ask decision ``hook`` of its family's active policy; ``None`` when it has no answer."""
        caller = self._callers[hook]
        if caller is None:
            return None
        label = self._labels[hook]
        self.current = label
        try:
            direct = self._direct[hook]
            if direct is not None:
                fn, argnames = direct
                result = fn(*[kwargs[a] for a in argnames])
            else:
                result = caller(**kwargs)
        except PluginError:
            raise
        except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
            tb = "".join(traceback.format_exception(e))
            raise PluginError(f"{label} raised {type(e).__name__}: {e}\n{tb}") from e
        finally:
            self.current = None
        if result is not None and not isinstance(result, expect):
            names = expect.__name__ if isinstance(expect, type) else " or ".join(t.__name__ for t in expect)
            raise PluginError(
                f"{label} returned {type(result).__name__} {result!r}, expected {names} or None"
            )
        return result

    def _ask(self, hook: str, expect: type, **kwargs: Any) -> Any:
        """The active policy's answer, or the family default's when it has none."""
        got = self.decide(hook, expect, **kwargs)
        if got is None:
            fn = getattr(self.defaults[hookspecs.FAMILY_OF_HOOK[hook]], hook, None)
            got = fn(**kwargs) if fn is not None else None
        return got

    # -- the decisions, one method each (see the hookspecs for their contracts) --------
    def queue_model(self, process: str) -> QueueModel:
        model: QueueModel = self._ask("vmcore_queue_model", QueueModel, process=process)
        return model

    def alloc_mode(self, request: AllocRequest) -> AllocMode:
        mode: AllocMode = self._ask("vmcore_alloc_mode", AllocMode, request=request)
        return mode

    def pt_reserve(self, gpu: str, vram_size: int) -> int:
        size: int | None = self._ask("vmcore_pt_reserve", int, gpu=gpu, vram_size=vram_size)
        return size or 0

    def evict_order(self, candidates: list[EvictCandidate]) -> list[EvictCandidate]:
        order: list[EvictCandidate] = self._ask("vmcore_evict_order", list, candidates=candidates)
        return order

    def root_pd(self, gpu: str, process: str) -> RootPdMode:
        mode: RootPdMode = self._ask("vmcore_root_pd", RootPdMode, gpu=gpu, process=process)
        return mode

    def cs_fence_on_page_tables(self, gpu: str, process: str, job: str) -> bool:
        on: bool = self._ask("vmcore_cs_fence_on_page_tables", bool, gpu=gpu, process=process, job=job)
        return on

    def update_path(self, request: UpdateRequest) -> UpdatePath:
        path: UpdatePath = self._ask("vmcore_update_path", UpdatePath, request=request)
        return path

    def update_path_of(self, gpu: str, process: str, fault_path: bool, kind: str, svm: bool) -> UpdatePath:
        """:meth:`update_path` for the request these fields make, answered from the table
        of a built-in update policy when one is active (an update asks this per update)."""
        table = self._update_paths
        if table is not None:
            got = table.get((fault_path, kind, svm))
            if got is not None:
                return got
        return self.update_path(UpdateRequest(gpu, process, fault_path, kind, svm))

    def fault_action(self, fault: FaultInfo) -> FaultAction:
        action: FaultAction = self._ask("vmcore_fault_action", FaultAction, fault=fault)
        return action

    def migration(self, request: MigrationRequest) -> MigrationDecision:
        dec: MigrationDecision = self._ask("vmcore_migration", MigrationDecision, request=request)
        return dec

    def hint_silent_retry(self, request: HintRequest) -> bool:
        silent: bool = self._ask("vmcore_hint_silent_retry", bool, request=request)
        return silent

    def prefetch(self, request: PrefetchRequest) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] | None = self._ask("vmcore_prefetch", list, request=request)
        return ranges or []

    def pt_move(self, gpu: str, process: str) -> PtMove:
        move: PtMove = self._ask("vmcore_pt_move", PtMove, gpu=gpu, process=process)
        return move

    def run_started(self, scenario: str, seed: int = 0) -> None:
        """Tell every plugin and the active policies that a run starts."""
        self.current = "vmcore_run_started"
        try:
            self.pm.hook.vmcore_run_started(scenario=scenario, seed=seed)
            self._dm.hook.vmcore_run_started(scenario=scenario, seed=seed)
        except PluginError:
            raise
        except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
            tb = "".join(traceback.format_exception(e))
            raise PluginError(f"a vmcore_run_started hook raised {type(e).__name__}: {e}\n{tb}") from e
        finally:
            self.current = None

    @property
    def has_observers(self) -> bool:
        return bool(self._observers)

    def event(self, time: int, actor: str, action: str, detail: str) -> None:
        self.current = "an observer of vmcore_event"
        try:
            self.pm.hook.vmcore_event(time=time, actor=actor, action=action, detail=detail)
        except PluginError:
            raise
        except (Exception, SystemExit) as e:  # a plugin calling sys.exit() is its error
            tb = "".join(traceback.format_exception(e))
            raise PluginError(f"an observer of vmcore_event raised {type(e).__name__}: {e}\n{tb}") from e
        finally:
            self.current = None
