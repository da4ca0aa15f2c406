"""Pure-Python reference models of the fence table and the wait-for graph.

``RefFenceTable``/``RefFence`` mirror :class:`vmcore.core.FenceTable`/:class:`vmcore.core.Fence`
and ``RefWaitForGraph`` mirrors :class:`vmcore.core.WaitForGraph`: the same public methods,
the same argument checks in the same order, and the same exception classes with the same
``status`` codes.  They keep no C state; the tests drive both sides with the same calls and
compare everything they can observe.

What the models promise (the contract of ``vmcore_core.h``):

* a fence is created UNARMED; dependencies are added only while it is UNARMED; arming
  needs every dependency armed (or signaled) and freezes the transitive "depends on user
  work" flag, which a later release of an ancestor does not change;
* the user ancestor is the fence itself when it is a user fence, else the user ancestor
  of its first dependency (in the order they were added) that depends on user work;
* a fence signals once, takes an error (-4095..-1) only while armed and unsignaled, and
  is released only once signaled; a released fence's handle is dead;
* ``FenceTable.create(deps=..., arm=...)`` is all or nothing: when it raises, no fence
  was created;
* a wait-for-graph edge a -> b means "a waits for b"; an edge exists at most once;
  ``add_edge`` inserts the edge and reports the cycle it closes as
  ``[a, b, ..., node before a]``: the path a depth-first search from b finds, trying
  each node's out-edges in list order (appended on insertion; a removal moves the last
  edge into the hole, as ``wfg.c``'s list_remove does);
* handles are opaque integers, never 0, never reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from vmcore.core import FenceKind, FenceState, Node, NodeKind
from vmcore.errors import (
    BadHandle,
    CoreError,
    InvalidArgument,
    LimitExceeded,
    OutOfRange,
    StateError,
)

# VMC_E_* status codes (vmcore_core.h).
E_INVAL: Final = 1
E_RANGE: Final = 2
E_ALIGN: Final = 3
E_HANDLE: Final = 4
E_STATE: Final = 5
E_NOSPACE: Final = 7
E_LOCK: Final = 8
E_LIMIT: Final = 11
E_CORRUPT: Final = 12

FENCE_MAX: Final = 1 << 24  # FENCE_MAX in fence.c
FENCE_MAX_DEPS: Final = 4096  # FENCE_MAX_DEPS in fence.c
WFG_MAX: Final = 1 << 24  # WFG_MAX in wfg.c
WFG_MAX_DEGREE: Final = 65536  # WFG_MAX_DEGREE in wfg.c


def check_uint(op: str, name: str, value: object, bits: int = 64) -> int:
    """What ``vmcore.core._status.uint`` raises for a value that is no unsigned C int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{op}: {name} must be an integer, got {value!r}", E_INVAL)
    if not 0 <= value < 1 << bits:
        raise OutOfRange(f"{op}: {name}={value} is outside 0..{(1 << bits) - 1}", E_RANGE)
    return value


def check_sint(op: str, name: str, value: object, bits: int = 32) -> int:
    """What ``vmcore.core._status.sint`` raises for a value that is no signed C int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{op}: {name} must be an integer, got {value!r}", E_INVAL)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise OutOfRange(f"{op}: {name}={value} does not fit a {bits}-bit int", E_RANGE)
    return value


# ---------------------------------------------------------------------------------------
# fences


class RefFenceTable:
    """Reference of :class:`vmcore.core.FenceTable`."""

    def __init__(self, max_fences: int = 1 << 20) -> None:
        check_uint("FenceTable", "max_fences", max_fences, 32)
        if not 1 <= max_fences <= FENCE_MAX:
            raise LimitExceeded(f"FenceTable: max_fences={max_fences} is outside 1..{FENCE_MAX}", E_LIMIT)
        self.max_fences = max_fences
        self._live = 0
        self._pending = 0
        self._next_handle = 1
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> RefFenceTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, op: str) -> None:
        if self._closed:
            raise StateError(f"{op}: the fence table was closed", E_STATE)

    def create(
        self,
        kind: FenceKind | int = FenceKind.KERNEL,
        producer: int = 0,
        deps: Sequence[RefFence] = (),
        arm: bool = False,
    ) -> RefFence:
        """A new fence; with ``deps``/``arm`` it is created whole or not at all."""
        op = "FenceTable.create"
        check_uint(op, "producer", producer, 32)
        check_sint(op, "kind", kind)
        self._open(op)
        if kind not in (FenceKind.KERNEL, FenceKind.USER):
            raise InvalidArgument(f"{op}: kind={kind!r} is not a FenceKind", E_INVAL)
        deps = list(deps)
        for d in deps:
            if not isinstance(d, RefFence) or d.table is not self or not d.live:
                raise BadHandle(f"{op}: unknown, released or foreign dependency {d!r}", E_HANDLE)
            if arm and d.state_ is FenceState.UNARMED:
                raise StateError(f"{op}: cannot arm, dependency {d!r} is not armed", E_STATE)
        if len(deps) > FENCE_MAX_DEPS:
            raise LimitExceeded(f"{op}: {len(deps)} dependencies, at most {FENCE_MAX_DEPS}", E_LIMIT)
        if self._live >= self.max_fences:
            raise LimitExceeded(f"{op}: {self.max_fences} fences alive already", E_LIMIT)
        f = RefFence(self, self._next_handle, FenceKind(kind), producer)
        self._next_handle += 1
        self._live += 1
        self._pending += 1
        f.deps_ = deps
        if arm:
            f.arm()
        return f

    @property
    def counters(self) -> tuple[int, int]:
        """(live fences, fences not yet signaled)."""
        self._open("FenceTable.counters")
        return self._live, self._pending


class RefFence:
    """Reference of :class:`vmcore.core.Fence`."""

    def __init__(self, table: RefFenceTable, handle: int, kind: FenceKind, producer: int) -> None:
        self.table = table
        self.handle = handle
        self.kind_ = kind
        self.producer_ = producer
        self.state_ = FenceState.UNARMED
        self.error_ = 0
        self.deps_: list[RefFence] = []
        self.live = True
        self.user = False
        self.ancestor: RefFence | None = None

    def __repr__(self) -> str:
        return f"RefFence({self.handle:#x})"

    def _check(self, op: str) -> None:
        self.table._open(op)
        if not self.live:
            raise BadHandle(f"{op}(fence={self.handle:#x}): unknown or released fence", E_HANDLE)

    def add_dep(self, dep: RefFence) -> None:
        op = "Fence.add_dep"
        if not isinstance(dep, RefFence) or dep.table is not self.table:
            raise BadHandle(f"{op}: the dependency belongs to another fence table", E_HANDLE)
        self._check(op)
        if not dep.live or dep is self:
            raise BadHandle(f"{op}: unknown or released fence, or a fence depending on itself", E_HANDLE)
        if self.state_ is not FenceState.UNARMED:
            raise StateError(f"{op}: dependencies can only be added before the fence is armed", E_STATE)
        if len(self.deps_) >= FENCE_MAX_DEPS:
            raise LimitExceeded(f"{op}: at most {FENCE_MAX_DEPS} dependencies", E_LIMIT)
        self.deps_.append(dep)

    def arm(self) -> None:
        op = "Fence.arm"
        self._check(op)
        if self.state_ is not FenceState.UNARMED:
            raise StateError(f"{op}: already armed", E_STATE)
        if any(d.state_ is FenceState.UNARMED for d in self.deps_):
            raise StateError(f"{op}: a dependency is not armed yet", E_STATE)
        if self.kind_ is FenceKind.USER:
            self.user, self.ancestor = True, self
        else:
            first = next((d for d in self.deps_ if d.user), None)
            self.user = first is not None
            self.ancestor = first.ancestor if first is not None else None
        self.state_ = FenceState.ARMED

    def signal(self) -> None:
        op = "Fence.signal"
        self._check(op)
        if self.state_ is not FenceState.ARMED:
            raise StateError(f"{op}: only an armed, unsignaled fence can signal", E_STATE)
        self.state_ = FenceState.SIGNALED
        self.table._pending -= 1

    def set_error(self, error: int) -> None:
        op = "Fence.set_error"
        check_sint(op, "error", error)
        self._check(op)
        if not -4095 <= error <= -1:
            raise InvalidArgument(f"{op}: error={error} is not a negative errno (-4095..-1)", E_INVAL)
        if self.state_ is not FenceState.ARMED:
            raise StateError(f"{op}: only an armed, unsignaled fence takes an error", E_STATE)
        self.error_ = error

    @property
    def state(self) -> FenceState:
        self._check("Fence.state")
        return self.state_

    @property
    def error(self) -> int:
        self._check("Fence.state")
        return self.error_

    @property
    def signaled(self) -> bool:
        return self.state is FenceState.SIGNALED

    @property
    def kind(self) -> FenceKind:
        self._check("Fence.info")
        return self.kind_

    @property
    def producer(self) -> int:
        self._check("Fence.info")
        return self.producer_

    def _user(self) -> tuple[bool, RefFence | None]:
        op = "Fence.depends_on_user"
        self._check(op)
        if self.state_ is FenceState.UNARMED:
            raise StateError(f"{op}: the answer is known only once the fence is armed", E_STATE)
        return self.user, self.ancestor

    @property
    def depends_on_user(self) -> bool:
        return self._user()[0]

    @property
    def user_ancestor(self) -> RefFence | None:
        return self._user()[1]

    @property
    def deps_signaled(self) -> bool:
        self._check("Fence.deps_signaled")
        # A released dependency had signaled.
        return all(not d.live or d.state_ is FenceState.SIGNALED for d in self.deps_)

    @property
    def deps(self) -> list[RefFence]:
        self._check("Fence.deps")
        return list(self.deps_)

    def release(self) -> None:
        op = "Fence.release"
        self._check(op)
        if self.state_ is not FenceState.SIGNALED:
            raise StateError(f"{op}: only a signaled fence can be released", E_STATE)
        self.live = False
        self.table._live -= 1


# ---------------------------------------------------------------------------------------
# wait-for graph


class _RefNode:
    __slots__ = ("inn", "kind", "label", "out")

    def __init__(self, kind: NodeKind, label: int) -> None:
        self.kind = kind
        self.label = label
        self.out: list[int] = []  # targets, in wfg.c's list order
        self.inn: list[int] = []  # sources


def _swap_remove(items: list[int], value: int) -> None:
    """wfg.c's list_remove: the last element moves into the hole."""
    i = items.index(value)
    last = items.pop()
    if i < len(items):
        items[i] = last


class RefWaitForGraph:
    """Reference of :class:`vmcore.core.WaitForGraph`."""

    def __init__(self, max_nodes: int = 1 << 20) -> None:
        check_uint("WaitForGraph", "max_nodes", max_nodes, 32)
        if not 1 <= max_nodes <= WFG_MAX:
            raise LimitExceeded(f"WaitForGraph: max_nodes={max_nodes} is outside 1..{WFG_MAX}", E_LIMIT)
        self.max_nodes = max_nodes
        self._nodes: dict[int, _RefNode] = {}
        self._edges = 0
        self._next_handle = 1
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> RefWaitForGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, op: str) -> None:
        if self._closed:
            raise StateError(f"{op}: the wait-for graph was closed", E_STATE)

    def _get(self, op: str, **handles: int) -> list[_RefNode]:
        self._open(op)
        found = []
        for name, h in handles.items():
            n = self._nodes.get(h)
            if n is None:
                raise BadHandle(f"{op}({name}={h:#x}): unknown or freed handle", E_HANDLE)
            found.append(n)
        return found

    def add_node(self, kind: NodeKind | int, label: int = 0) -> int:
        op = "WaitForGraph.add_node"
        check_uint(op, "label", label)
        check_sint(op, "kind", kind)
        self._open(op)
        if kind not in tuple(NodeKind):
            raise InvalidArgument(f"{op}: kind={kind!r} is not a NodeKind", E_INVAL)
        if len(self._nodes) >= self.max_nodes:
            raise LimitExceeded(f"{op}: {self.max_nodes} nodes already", E_LIMIT)
        h = self._next_handle
        self._next_handle += 1
        self._nodes[h] = _RefNode(NodeKind(kind), label)
        return h

    def remove_node(self, node: int) -> None:
        """Remove a node and every edge touching it."""
        op = "WaitForGraph.remove_node"
        check_uint(op, "node", node)
        (n,) = self._get(op, node=node)
        for t in n.out:
            if t != node:
                _swap_remove(self._nodes[t].inn, node)
        for s in n.inn:
            if s != node:
                _swap_remove(self._nodes[s].out, node)
        self._edges -= len(n.out) + len(n.inn) - n.out.count(node)
        del self._nodes[node]

    def node(self, node: int) -> Node:
        op = "WaitForGraph.node"
        check_uint(op, "node", node)
        (n,) = self._get(op, node=node)
        return Node(n.kind, n.label)

    def add_edge(self, a: int, b: int) -> list[int] | None:
        """Insert "a waits for b"; return the cycle it closes, or ``None``."""
        op = "WaitForGraph.add_edge"
        check_uint(op, "a", a)
        check_uint(op, "b", b)
        na, nb = self._get(op, a=a, b=b)
        if b in na.out:
            raise StateError(f"{op}(a={a:#x}, b={b:#x}): the edge already exists", E_STATE)
        if len(na.out) >= WFG_MAX_DEGREE or len(nb.inn) >= WFG_MAX_DEGREE:
            raise LimitExceeded(f"{op}: more than {WFG_MAX_DEGREE} edges on a node", E_LIMIT)
        cycle = self._path_back(a, b)
        na.out.append(b)
        nb.inn.append(a)
        self._edges += 1
        return cycle

    def _path_back(self, a: int, b: int) -> list[int] | None:
        """[a, b, ..., node before a] when b already reaches a (depth-first, list order)."""
        if a == b:
            return [a]
        marked = {b}
        path = [b]
        next_edge = [0]
        while path:
            out = self._nodes[path[-1]].out
            if next_edge[-1] >= len(out):
                path.pop()
                next_edge.pop()
                continue
            nxt = out[next_edge[-1]]
            next_edge[-1] += 1
            if nxt in marked:
                continue
            if nxt == a:
                return [a, *path]
            marked.add(nxt)
            path.append(nxt)
            next_edge.append(0)
        return None

    def remove_edge(self, a: int, b: int) -> None:
        op = "WaitForGraph.remove_edge"
        check_uint(op, "a", a)
        check_uint(op, "b", b)
        na, nb = self._get(op, a=a, b=b)
        if b not in na.out:
            raise StateError(f"{op}(a={a:#x}, b={b:#x}): no such edge", E_STATE)
        _swap_remove(na.out, b)
        _swap_remove(nb.inn, a)
        self._edges -= 1

    def has_edge(self, a: int, b: int) -> bool:
        op = "WaitForGraph.has_edge"
        check_uint(op, "a", a)
        check_uint(op, "b", b)
        na, _ = self._get(op, a=a, b=b)
        return b in na.out

    def find_cycle(self) -> list[int] | None:
        """Some cycle of the graph as [x, y, ..., node before x], or ``None``."""
        self._open("WaitForGraph.find_cycle")
        done: set[int] = set()
        for root in self._nodes:
            if root in done:
                continue
            path = [root]
            on_path = {root}
            next_edge = [0]
            while path:
                out = self._nodes[path[-1]].out
                if next_edge[-1] >= len(out):
                    done.add(path[-1])
                    on_path.discard(path.pop())
                    next_edge.pop()
                    continue
                nxt = out[next_edge[-1]]
                next_edge[-1] += 1
                if nxt in on_path:
                    return path[path.index(nxt) :]
                if nxt in done:
                    continue
                path.append(nxt)
                on_path.add(nxt)
                next_edge.append(0)
        return None

    @property
    def counters(self) -> tuple[int, int]:
        """(nodes, edges)."""
        self._open("WaitForGraph.counters")
        return len(self._nodes), self._edges

    # -- helpers for the tests (not part of the mirrored API) --------------------------

    def edges(self) -> set[tuple[int, int]]:
        """Every edge as (a, b)."""
        return {(a, b) for a, n in self._nodes.items() for b in n.out}

    def nodes(self) -> list[int]:
        return list(self._nodes)

    def is_cycle(self, cycle: Iterable[int]) -> bool:
        """Is ``cycle`` a simple cycle of distinct live nodes joined by edges, closing back?"""
        c = list(cycle)
        if not c or len(set(c)) != len(c) or any(x not in self._nodes for x in c):
            return False
        return all(c[(i + 1) % len(c)] in self._nodes[c[i]].out for i in range(len(c)))

    def reaches(self, src: int, dst: int) -> bool:
        """Is there a path (of at least one edge) from src to dst?"""
        seen: set[int] = set()
        todo = list(self._nodes[src].out)
        while todo:
            x = todo.pop()
            if x == dst:
                return True
            if x not in seen:
                seen.add(x)
                todo.extend(self._nodes[x].out)
        return False

    def acyclic(self) -> bool:
        """Kahn's algorithm, independent of the depth-first searches above."""
        indeg = {h: len(n.inn) for h, n in self._nodes.items()}
        ready = [h for h, d in indeg.items() if d == 0]
        seen = 0
        while ready:
            h = ready.pop()
            seen += 1
            for t in self._nodes[h].out:
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        return seen == len(self._nodes)


__all__ = [
    "E_ALIGN",
    "E_CORRUPT",
    "E_HANDLE",
    "E_INVAL",
    "E_LIMIT",
    "E_LOCK",
    "E_NOSPACE",
    "E_RANGE",
    "E_STATE",
    "CoreError",
    "RefFence",
    "RefFenceTable",
    "RefWaitForGraph",
    "check_sint",
    "check_uint",
]
