"""The read-only view of a run that plugin predicates and ``vmcore_metrics`` receive.

A plugin reads the run; it must not be able to change the verdict (clear the deadlocks,
drop a finding, kill a process).  :class:`RunView` offers what the hookspec promises:
``metric(name[, process])``, ``faults``, ``findings``, ``deadlocks``, ``stalls``,
``leaks``, and ``system`` and ``monitor`` for anything else, all behind read-only
proxies: attribute and item assignment fail, containers come back as read-only
sequences and mappings (wrapped lazily, so a million faults cost nothing until read),
and engine methods are not reachable (calling one could change the run).

Invariant: nothing reachable from a view's public attributes can mutate the run it
shows.  (Python has no sandbox: code that digs out ``_st`` on purpose, or imports the
engine, can do anything; the view stops the plugin that means well, or errs.)
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

_PLAIN = (int, float, str, bytes, bool, type(None), enum.Enum, frozenset)


class ReadOnlyError(AttributeError, TypeError):
    """An attempt to change the run through its view."""


def _refuse(what: str) -> NoReturn:
    raise ReadOnlyError(f"the run view is read-only: {what}")


def wrap(value: Any) -> Any:
    """``value`` as a plugin may see it: plain values as they are, containers and engine
    objects behind read-only proxies, callables refused."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping | dict):
        return ReadOnlyMapping(value)
    if isinstance(value, list | tuple | Sequence):
        return ReadOnlySequence(value)
    if isinstance(value, set):
        return frozenset(value)
    return ReadOnlyObject(value)


class ReadOnlySequence(Sequence[Any]):
    __slots__ = ("_items",)
    _items: Sequence[Any]

    def __init__(self, items: Sequence[Any]) -> None:
        object.__setattr__(self, "_items", items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(wrap(x) for x in self._items[i])
        return wrap(self._items[i])

    def __iter__(self) -> Iterator[Any]:
        return (wrap(x) for x in self._items)

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse(f"cannot set {name!r}")

    def __repr__(self) -> str:
        return f"ReadOnlySequence(len={len(self._items)})"


class ReadOnlyMapping(Mapping[Any, Any]):
    __slots__ = ("_map",)
    _map: Mapping[Any, Any]

    def __init__(self, mapping: Mapping[Any, Any]) -> None:
        object.__setattr__(self, "_map", mapping)

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._map[key])

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._map))

    def __len__(self) -> int:
        return len(self._map)

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse(f"cannot set {name!r}")

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({list(self._map)!r})"


class ReadOnlyObject:
    """An engine object's data attributes, read-only; its methods are not reachable."""

    __slots__ = ("_obj",)
    _obj: Any

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._obj, name)
        if callable(value) and not isinstance(value, type | enum.Enum):
            _refuse(f"{type(self._obj).__name__}.{name} is a method, and a method could change the run")
        return wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse(f"cannot set {type(self._obj).__name__}.{name}")

    def __delattr__(self, name: str) -> None:
        _refuse(f"cannot delete {type(self._obj).__name__}.{name}")

    def __eq__(self, other: object) -> bool:
        inner = other._obj if isinstance(other, ReadOnlyObject) else other
        return bool(self._obj == inner)

    def __hash__(self) -> int:
        return hash(self._obj)

    def __repr__(self) -> str:
        return f"<read-only {type(self._obj).__name__}>"


class RunView:
    """What a plugin predicate or ``vmcore_metrics`` receives (``st`` is the run's
    :class:`vmcore.engine.checks.RunState`, never handed out itself)."""

    __slots__ = ("_st",)
    _st: Any

    def __init__(self, st: Any) -> None:
        object.__setattr__(self, "_st", st)

    def metric(self, name: str, process: str | None = None) -> float:
        """The metric ``name`` now, for the run or (``process``) for one process."""
        return float(self._st.metric(name, process))

    @property
    def faults(self) -> ReadOnlySequence:
        return ReadOnlySequence(self._st.monitor.faults)

    @property
    def findings(self) -> ReadOnlyMapping:
        return ReadOnlyMapping(self._st.monitor.findings)

    @property
    def deadlocks(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(c) for c in self._st.deadlocks)

    @property
    def stalls(self) -> tuple[str, ...]:
        return tuple(self._st.stalls)

    @property
    def leaks(self) -> tuple[str, ...]:
        return tuple(self._st.leaks)

    @property
    def system(self) -> ReadOnlyObject:
        return ReadOnlyObject(self._st.system)

    @property
    def monitor(self) -> ReadOnlyObject:
        return ReadOnlyObject(self._st.monitor)

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse(f"cannot set {name!r}")

    def __repr__(self) -> str:
        return "<read-only run view>"


__all__ = ["ReadOnlyError", "ReadOnlyMapping", "ReadOnlyObject", "ReadOnlySequence", "RunView", "wrap"]
