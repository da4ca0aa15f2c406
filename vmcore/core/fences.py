"""Fences and the wait-for graph, kept in the C core (``fence.c``, ``wfg.c``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from vmcore._core import ffi, lib
from vmcore.core._status import U64_MAX, CoreObject, check, fail, sint, uint
from vmcore.errors import StateError

_MAX_DEPS = 4096  # FENCE_MAX_DEPS in fence.c


class FenceKind(enum.IntEnum):
    """Who produces a fence: kernel memory management, or user work (``amdgpu_cs``)."""

    KERNEL = lib.VMC_FENCE_KERNEL
    USER = lib.VMC_FENCE_USER


class FenceState(enum.IntEnum):
    UNARMED = lib.VMC_FENCE_UNARMED
    """Created; dependencies may still be added."""
    ARMED = lib.VMC_FENCE_ARMED
    """Dependencies fixed; the fence may signal."""
    SIGNALED = lib.VMC_FENCE_SIGNALED


class FenceTable(CoreObject):
    """A table of fences.  ``max_fences`` bounds how many may be alive at once."""

    __slots__ = ("_ints", "_out", "_t", "_words")

    def __init__(self, max_fences: int = 1 << 20) -> None:
        uint("FenceTable", "max_fences", max_fences, 32)
        out = ffi.new("vmc_fences **")
        st = lib.vmc_fences_create(max_fences, out)
        if st:
            check(st, "FenceTable", max_fences=max_fences)
        self._t: Any = out[0]
        self._out: Any = ffi.new("uint64_t[2]")
        self._ints: Any = ffi.new("int32_t[3]")
        """Scratch outputs of the fence queries (state, error, kind, flags)."""
        self._words: Any = ffi.new("uint64_t[1]")

    def close(self) -> None:
        # getattr: __del__ runs close() even when __init__ raised before _t was set.
        if getattr(self, "_t", None) is not None:
            lib.vmc_fences_destroy(self._t)
            self._t = None

    def _h(self, op: str) -> Any:
        if self._t is None:
            raise StateError(f"{op}: the fence table was closed", lib.VMC_E_STATE)
        return self._t

    def create(
        self,
        kind: FenceKind = FenceKind.KERNEL,
        producer: int = 0,
        deps: tuple[Fence, ...] | list[Fence] = (),
        arm: bool = False,
    ) -> Fence:
        """A new fence of ``kind`` from engine ``producer``; optionally add deps and arm it.

        All or nothing: the table has no call to drop an unsignaled fence, so ``deps`` and
        ``arm`` are checked before the fence is created; a refused call leaves no
        half-made fence behind (counted as live and pending forever).
        """
        op = "FenceTable.create"
        uint(op, "producer", producer, 32)
        sint(op, "kind", kind)  # int() of a str or an over-wide int is no VmcoreError
        t = self._h(op)
        if kind not in (lib.VMC_FENCE_KERNEL, lib.VMC_FENCE_USER):
            raise fail(lib.VMC_E_INVAL, op, f"kind={kind!r} is not a FenceKind", kind=kind)
        handles = [self._dep_handle(op, d, arm) for d in deps]
        if len(handles) > _MAX_DEPS:
            raise fail(
                lib.VMC_E_LIMIT, op, f"{len(handles)} dependencies, at most {_MAX_DEPS}", ndeps=len(handles)
            )
        st = lib.vmc_fence_create(t, int(kind), producer, self._out)
        if st:
            check(st, op, kind=kind, producer=producer)
        f = Fence(self, int(self._out[0]))
        for d in handles:
            st = lib.vmc_fence_add_dep(t, f.handle, d)
            if st:
                check(st, op, fence=f.handle, dep=d)
        if arm:
            st = lib.vmc_fence_arm(t, f.handle)
            if st:
                check(st, op, fence=f.handle)
        return f

    def _dep_handle(self, op: str, dep: Fence, arm: bool) -> int:
        """The handle of a dependency for :meth:`create`, refused as add_dep/arm would."""
        _own_dep(self, op, dep)
        s = ffi.cast("int *", self._ints)
        e = self._ints + 1
        st = lib.vmc_fence_state(self._t, dep.handle, s, e)
        if st == lib.VMC_E_HANDLE:
            raise fail(st, op, "unknown or released dependency", dep=dep.handle)
        if st:
            check(st, op, dep=dep.handle)
        if arm and s[0] == lib.VMC_FENCE_UNARMED:
            raise fail(lib.VMC_E_STATE, op, "cannot arm: a dependency is not armed yet", dep=dep.handle)
        return dep.handle

    @property
    def counters(self) -> tuple[int, int]:
        """(live fences, fences not yet signaled)."""
        out = ffi.new("uint64_t[2]")
        st = lib.vmc_fences_counters(self._h("FenceTable.counters"), out, out + 1)
        if st:
            check(st, "FenceTable.counters")
        return int(out[0]), int(out[1])


def _own_dep(table: FenceTable, op: str, dep: object) -> int:
    """The handle of ``dep``, refused unless it is a fence of ``table``."""
    if not isinstance(dep, Fence) or dep.table is not table:
        raise fail(lib.VMC_E_HANDLE, op, "the dependency belongs to another fence table", dep=dep)
    return dep.handle


class Fence:
    """One fence of a :class:`FenceTable`, named by its handle."""

    __slots__ = ("handle", "table")

    def __init__(self, table: FenceTable, handle: int) -> None:
        self.table = table
        self.handle = handle

    def __repr__(self) -> str:
        return f"Fence({self.handle:#x})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fence) and other.table is self.table and other.handle == self.handle

    def __hash__(self) -> int:
        return hash((id(self.table), self.handle))

    def _dep(self, op: str, dep: Fence) -> int:
        return _own_dep(self.table, op, dep)

    def add_dep(self, dep: Fence) -> None:
        """Make this fence depend on ``dep``; only before :meth:`arm`."""
        op = "Fence.add_dep"
        d = self._dep(op, dep)
        st = lib.vmc_fence_add_dep(self.table._h(op), self.handle, d)
        if st == lib.VMC_E_STATE:
            raise fail(
                st, op, "dependencies can only be added before the fence is armed", fence=self.handle, dep=d
            )
        if st == lib.VMC_E_HANDLE:
            raise fail(
                st, op, "unknown or released fence, or a fence depending on itself", fence=self.handle, dep=d
            )
        if st:
            check(st, op, fence=self.handle, dep=d)

    def arm(self) -> None:
        """Freeze the dependencies (each must be armed) and compute the user-work flag."""
        op = "Fence.arm"
        st = lib.vmc_fence_arm(self.table._h(op), self.handle)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "already armed, or a dependency is not armed yet", fence=self.handle)
        if st:
            check(st, op, fence=self.handle)

    def signal(self) -> None:
        op = "Fence.signal"
        st = lib.vmc_fence_signal(self.table._h(op), self.handle)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "only an armed, unsignaled fence can signal", fence=self.handle)
        if st:
            check(st, op, fence=self.handle)

    def set_error(self, error: int) -> None:
        """Record a negative errno (e.g. -125, ECANCELED) before signaling."""
        op = "Fence.set_error"
        sint(op, "error", error)
        st = lib.vmc_fence_set_error(self.table._h(op), self.handle, error)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"error={error} is not a negative errno (-4095..-1)", error=error)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "only an armed, unsignaled fence takes an error", fence=self.handle)
        if st:
            check(st, op, fence=self.handle, error=error)

    def _state(self) -> tuple[FenceState, int]:
        op = "Fence.state"
        t = self.table
        s = ffi.cast("int *", t._ints)
        e = t._ints + 1
        st = lib.vmc_fence_state(t._h(op), self.handle, s, e)
        if st:
            check(st, op, fence=self.handle)
        return FenceState(s[0]), int(e[0])

    @property
    def state(self) -> FenceState:
        return self._state()[0]

    @property
    def error(self) -> int:
        return self._state()[1]

    @property
    def signaled(self) -> bool:
        return self._state()[0] is FenceState.SIGNALED

    def _info(self) -> tuple[FenceKind, int, int]:
        op = "Fence.info"
        k = ffi.new("int *")
        p = ffi.new("uint32_t *")
        n = ffi.new("uint32_t *")
        st = lib.vmc_fence_info(self.table._h(op), self.handle, k, p, n)
        if st:
            check(st, op, fence=self.handle)
        return FenceKind(k[0]), int(p[0]), int(n[0])

    @property
    def kind(self) -> FenceKind:
        return self._info()[0]

    @property
    def producer(self) -> int:
        return self._info()[1]

    def _user(self) -> tuple[bool, int]:
        op = "Fence.depends_on_user"
        t = self.table
        out = ffi.cast("int *", t._ints)
        anc = t._words
        st = lib.vmc_fence_depends_on_user(t._h(op), self.handle, out, anc)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "the answer is known only once the fence is armed", fence=self.handle)
        if st:
            check(st, op, fence=self.handle)
        return bool(out[0]), int(anc[0])

    @property
    def depends_on_user(self) -> bool:
        """Does this fence, or anything it transitively depends on, come from user work?"""
        return self._user()[0]

    @property
    def user_ancestor(self) -> Fence | None:
        """One user fence in this fence's ancestry (itself if it is one), or ``None``."""
        user, anc = self._user()
        return Fence(self.table, anc) if user else None

    @property
    def deps_signaled(self) -> bool:
        op = "Fence.deps_signaled"
        out = ffi.new("int *")
        st = lib.vmc_fence_deps_signaled(self.table._h(op), self.handle, out)
        if st:
            check(st, op, fence=self.handle)
        return bool(out[0])

    @property
    def deps(self) -> list[Fence]:
        op = "Fence.deps"
        t = self.table._h(op)
        n = ffi.new("size_t *")
        st = lib.vmc_fence_deps(t, self.handle, ffi.NULL, 0, n)
        if st:
            check(st, op, fence=self.handle)
        count = int(n[0])
        out = ffi.new("uint64_t[]", max(count, 1))
        st = lib.vmc_fence_deps(t, self.handle, out, count, n)
        if st:
            check(st, op, fence=self.handle)
        return [Fence(self.table, int(out[i])) for i in range(count)]

    def release(self) -> None:
        """Forget a signaled fence; its handle becomes invalid."""
        op = "Fence.release"
        st = lib.vmc_fence_release(self.table._h(op), self.handle)
        if st == lib.VMC_E_STATE:
            raise fail(st, op, "only a signaled fence can be released", fence=self.handle)
        if st:
            check(st, op, fence=self.handle)


class NodeKind(enum.IntEnum):
    """What a wait-for graph node stands for."""

    ACTOR = lib.VMC_NODE_ACTOR
    FENCE = lib.VMC_NODE_FENCE
    JOB = lib.VMC_NODE_JOB
    FAULT = lib.VMC_NODE_FAULT


@dataclass(frozen=True, slots=True)
class Node:
    kind: NodeKind
    label: int


class WaitForGraph(CoreObject):
    """Who waits for whom: an edge a -> b means "a cannot progress until b does".

    :meth:`add_edge` reports the cycle the new edge closes, if any, as a node list
    ``[a, b, ..., node before a]``: a deadlock.
    """

    __slots__ = ("_counts", "_cycle", "_flag", "_g", "_len", "_live", "_out")

    def __init__(self, max_nodes: int = 1 << 20) -> None:
        uint("WaitForGraph", "max_nodes", max_nodes, 32)
        out = ffi.new("vmc_wfg **")
        st = lib.vmc_wfg_create(max_nodes, out)
        if st:
            check(st, "WaitForGraph", max_nodes=max_nodes)
        self._g: Any = out[0]
        self._out: Any = ffi.new("uint64_t *")
        self._len: Any = ffi.new("size_t *")
        self._cycle: Any = ffi.new("uint64_t[]", 64)
        self._counts: Any = ffi.new("uint64_t[2]")  # (nodes, edges)
        self._flag: Any = ffi.new("int *")
        self._live = 0
        """Nodes alive (a cycle holds at most all of them: the buffer's bound)."""

    def close(self) -> None:
        # getattr: __del__ runs close() even when __init__ raised before _g was set.
        if getattr(self, "_g", None) is not None:
            lib.vmc_wfg_destroy(self._g)
            self._g = None

    def _h(self, op: str) -> Any:
        if self._g is None:
            raise StateError(f"{op}: the wait-for graph was closed", lib.VMC_E_STATE)
        return self._g

    def add_node(self, kind: NodeKind, label: int = 0) -> int:
        op = "WaitForGraph.add_node"
        if not (type(kind) is NodeKind and type(label) is int and 0 <= label <= U64_MAX):  # the common case in one test
            uint(op, "label", label)
            sint(op, "kind", kind)  # int() of a str or an over-wide int is no VmcoreError
        st = lib.vmc_wfg_add_node(self._h(op), int(kind), label, self._out)
        if st == lib.VMC_E_INVAL:
            raise fail(st, op, f"kind={kind!r} is not a NodeKind", kind=kind)
        if st:
            check(st, op, kind=kind, label=label)
        self._live += 1
        return int(self._out[0])

    def remove_node(self, node: int) -> None:
        """Remove a node and every edge touching it."""
        op = "WaitForGraph.remove_node"
        if type(node) is not int or not 0 <= node <= U64_MAX:
            uint(op, "node", node)
        st = lib.vmc_wfg_remove_node(self._h(op), node)
        if st:
            check(st, op, node=node)
        self._live -= 1

    def node(self, node: int) -> Node:
        op = "WaitForGraph.node"
        uint(op, "node", node)
        k = ffi.new("int *")
        st = lib.vmc_wfg_node_info(self._h(op), node, k, self._out)
        if st:
            check(st, op, node=node)
        return Node(NodeKind(k[0]), int(self._out[0]))

    def _cycle_list(self) -> list[int] | None:
        n = int(self._len[0])
        return [int(self._cycle[i]) for i in range(n)] if n else None

    def _ensure_cycle_room(self, op: str) -> None:
        """A cycle can hold every node: grow the buffer before the C call needs it."""
        counts = self._counts
        st = lib.vmc_wfg_counters(self._h(op), counts, counts + 1)
        if st:
            check(st, op)
        if counts[0] > len(self._cycle):
            self._cycle = ffi.new("uint64_t[]", counts[0] * 2)

    def add_edge(self, a: int, b: int, exists_ok: bool = False) -> list[int] | None:
        """Insert "a waits for b"; return the cycle it closes, or ``None`` (also when
        the edge exists already and ``exists_ok``)."""
        op = "WaitForGraph.add_edge"
        if not (type(a) is type(b) is int and 0 <= a <= U64_MAX and 0 <= b <= U64_MAX):  # the common case in one test
            uint(op, "a", a)
            uint(op, "b", b)
        if self._live > len(self._cycle):
            self._ensure_cycle_room(op)
        st = lib.vmc_wfg_add_edge(self._h(op), a, b, self._cycle, len(self._cycle), self._len)
        if st == lib.VMC_E_STATE:
            if exists_ok:
                return None
            raise fail(st, op, "the edge already exists", a=a, b=b)
        if st:
            check(st, op, a=a, b=b)
        return self._cycle_list()

    def remove_edge(self, a: int, b: int, missing_ok: bool = False) -> None:
        op = "WaitForGraph.remove_edge"
        if not (type(a) is type(b) is int and 0 <= a <= U64_MAX and 0 <= b <= U64_MAX):  # the common case in one test
            uint(op, "a", a)
            uint(op, "b", b)
        st = lib.vmc_wfg_remove_edge(self._h(op), a, b)
        if st == lib.VMC_E_STATE:
            if missing_ok:
                return
            raise fail(st, op, "no such edge", a=a, b=b)
        if st:
            check(st, op, a=a, b=b)

    def has_edge(self, a: int, b: int) -> bool:
        op = "WaitForGraph.has_edge"
        uint(op, "a", a)
        uint(op, "b", b)
        out = self._flag
        st = lib.vmc_wfg_has_edge(self._h(op), a, b, out)
        if st:
            check(st, op, a=a, b=b)
        return bool(out[0])

    def find_cycle(self) -> list[int] | None:
        """Any cycle in the whole graph, or ``None``."""
        op = "WaitForGraph.find_cycle"
        self._ensure_cycle_room(op)
        st = lib.vmc_wfg_find_cycle(self._h(op), self._cycle, len(self._cycle), self._len)
        if st:
            check(st, op)
        return self._cycle_list()

    @property
    def counters(self) -> tuple[int, int]:
        """(nodes, edges)."""
        out = self._counts
        st = lib.vmc_wfg_counters(self._h("WaitForGraph.counters"), out, out + 1)
        if st:
            check(st, "WaitForGraph.counters")
        return int(out[0]), int(out[1])
