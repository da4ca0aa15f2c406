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

from vmcore import hookspecs
from vmcore.errors import BudgetExceeded, VmcoreError
from vmcore.policies import FAMILIES, BuiltinPolicies, Policy, PolicyError

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


def plugin_manager(
    modules: Iterable[str] = (), entry_points: bool = True, strict: bool | None = None
) -> pluggy.PluginManager:
    """A manager with vmcore's hookspecs, the built-in policies and the given plugins.

    An entry-point plugin that fails to import or register is recorded (see
    :func:`load_errors`) and the others still load; ``strict`` (or VMCORE_STRICT_PLUGINS=1)
    raises instead.  A module named with ``-p`` that cannot be imported is always an error.
    """
    if strict is None:
        strict = os.environ.get("VMCORE_STRICT_PLUGINS", "") not in ("", "0")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(BuiltinPolicies(), name="vmcore.policies")
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
            except Exception as e:
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
        try:
            module = importlib.import_module(mod)
        except Exception as e:
            raise PluginError(f"plugin module {mod!r} could not be imported: {e}") from e
        if pm.get_plugin(mod) is None and not pm.is_registered(module):
            pm.register(module, name=mod)  # already loaded by its entry point: nothing to do
    return pm


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
    """The one active policy per family for a run, and the hooks that consult it.

    Each family's decision hook is called on the active policy only; a hook that raises
    or answers with the wrong type becomes a :class:`PluginError` naming the plugin, the
    hook and the traceback.
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
        self._dm = pluggy.PluginManager(hookspecs.PROJECT)
        self._dm.add_hookspecs(hookspecs)
        for fam, pol in self.policies.items():
            self._dm.register(pol, name=f"{fam}:{pol.name}")
        # each decision hook reaches its own family's policy only: a policy of another
        # family that happens to implement the hook must not answer (or override) it
        self._callers: dict[str, Any] = {}
        # "policy NAME(ARGS): hook HOOK", built once: decide() runs per decision
        self._labels: dict[str, str] = {}
        for hook, fam in hookspecs.FAMILY_OF_HOOK.items():
            others = [p for f, p in self.policies.items() if f != fam]
            self._callers[hook] = self._dm.subset_hook_caller(hook, remove_plugins=others)
            self._labels[hook] = f"policy {self.policies[fam]!r}: hook {hook}"
        self._observers = list(pm.hook.vmcore_event.get_hookimpls())
        self.current: str | None = None
        """The hook being called right now (for a run stuck inside it)."""

    def describe(self) -> dict[str, str]:
        return {fam: repr(p) for fam, p in self.policies.items()}

    def decide(self, hook: str, expect: type | tuple[type, ...], **kwargs: Any) -> Any:
        """Call decision ``hook`` on its family's active policy; ``None`` means default."""
        label = self._labels[hook]
        caller = self._callers[hook]
        self.current = label
        try:
            result = caller(**kwargs)
        except PluginError:
            raise
        except Exception as e:
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

    def run_started(self, scenario: str) -> None:
        """Tell every plugin and the active policies that a run starts."""
        self.current = "vmcore_run_started"
        try:
            self.pm.hook.vmcore_run_started(scenario=scenario)
            self._dm.hook.vmcore_run_started(scenario=scenario)
        except PluginError:
            raise
        except Exception as e:
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
        except Exception as e:
            tb = "".join(traceback.format_exception(e))
            raise PluginError(f"an observer of vmcore_event raised {type(e).__name__}: {e}\n{tb}") from e
        finally:
            self.current = None
