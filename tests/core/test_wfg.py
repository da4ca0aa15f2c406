"""The wait-for graph (wfg.c through vmcore.core.WaitForGraph), against tests.core.ref_fences."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.core.ref_fences import RefWaitForGraph
from vmcore.core import Node, NodeKind, WaitForGraph
from vmcore.errors import BadHandle, InvalidArgument, LimitExceeded, OutOfRange, StateError, VmcoreError

T = TypeVar("T")
ACTOR, FENCE, JOB, FAULT = NodeKind.ACTOR, NodeKind.FENCE, NodeKind.JOB, NodeKind.FAULT


def h(value: int) -> str:
    """How error messages print an integer argument (decimal up to 9, else hex)."""
    return hex(value) if value > 9 or value < -9 else str(value)


def rotations(cycle: list[int]) -> list[list[int]]:
    return [cycle[i:] + cycle[:i] for i in range(len(cycle))]


def edges_of(g: WaitForGraph, nodes: list[int]) -> set[tuple[int, int]]:
    return {(a, b) for a in nodes for b in nodes if g.has_edge(a, b)}


def snapshot(g: WaitForGraph, nodes: list[int]) -> tuple[object, ...]:
    live: list[tuple[int, Node | None]] = []
    for n in nodes:
        try:
            live.append((n, g.node(n)))
        except BadHandle:
            live.append((n, None))
    alive = [n for n, info in live if info is not None]
    return g.counters, tuple(live), frozenset(edges_of(g, alive)), g.find_cycle() is None


def world() -> tuple[WaitForGraph, list[int]]:
    """fault -> handler -> fence -> job, plus a removed node."""
    g = WaitForGraph()
    fault = g.add_node(FAULT, 0x1000)
    handler = g.add_node(ACTOR, 1)
    fence = g.add_node(FENCE, 2)
    job = g.add_node(JOB, 3)
    gone = g.add_node(ACTOR, 4)
    g.add_edge(fault, handler)
    g.add_edge(handler, fence)
    g.add_edge(fence, job)
    g.add_edge(gone, job)
    g.remove_node(gone)
    return g, [fault, handler, fence, job, gone]


# ---------------------------------------------------------------------------------------
# behaviour


def test_nodes_of_every_kind_keep_their_labels() -> None:
    g = WaitForGraph()
    made = [(k, g.add_node(k, label)) for k, label in zip(NodeKind, (0, 1, 2**64 - 1, 0xABC), strict=True)]
    assert len({n for _, n in made}) == 4 and all(n != 0 for _, n in made)
    for (k, n), label in zip(made, (0, 1, 2**64 - 1, 0xABC), strict=True):
        assert g.node(n) == Node(k, label)
    assert g.counters == (4, 0)
    assert g.node(g.add_node(JOB)).label == 0  # default label


def test_edges_without_cycle() -> None:
    g = WaitForGraph()
    a, b, c = (g.add_node(ACTOR, i) for i in range(3))
    assert g.add_edge(a, b) is None
    assert g.add_edge(b, c) is None
    assert g.add_edge(a, c) is None
    assert g.has_edge(a, b) and g.has_edge(b, c) and g.has_edge(a, c)
    assert not g.has_edge(b, a) and not g.has_edge(c, c)
    assert g.counters == (3, 3)
    assert g.find_cycle() is None


def test_self_wait_is_a_cycle_of_one() -> None:
    g = WaitForGraph()
    a = g.add_node(ACTOR)
    assert g.add_edge(a, a) == [a]
    assert g.has_edge(a, a)
    assert g.counters == (1, 1)
    assert g.find_cycle() == [a]


def test_two_cycle() -> None:
    g = WaitForGraph()
    a, b = g.add_node(ACTOR), g.add_node(FENCE)
    assert g.add_edge(b, a) is None
    assert g.add_edge(a, b) == [a, b]


def test_cycle_is_exact_path_back_to_a() -> None:
    """fault -> handler -> fence -> job, then job -> fault closes the deadlock."""
    g = WaitForGraph()
    fault, handler, fence, job = (g.add_node(k) for k in (FAULT, ACTOR, FENCE, JOB))
    side = g.add_node(ACTOR)
    g.add_edge(fault, side)  # a branch that does not lead back
    g.add_edge(fault, handler)
    g.add_edge(handler, fence)
    g.add_edge(fence, job)
    assert g.add_edge(job, fault) == [job, fault, handler, fence]
    # The edge was inserted even though it closes a cycle.
    assert g.has_edge(job, fault)
    assert g.counters == (5, 5)
    assert g.find_cycle() in rotations([fault, handler, fence, job])


def test_cycle_follows_depth_first_search_order() -> None:
    """Two ways back to a: the cycle reported is the one found first, in edge order."""
    g = WaitForGraph()
    a, b, c, d, e = (g.add_node(ACTOR, i) for i in range(5))
    g.add_edge(b, c)
    g.add_edge(c, a)  # b -> c -> a
    g.add_edge(b, d)
    g.add_edge(d, e)
    g.add_edge(e, a)  # b -> d -> e -> a
    assert g.add_edge(a, b) == [a, b, c]
    g.remove_edge(a, b)
    g.remove_edge(b, c)  # now only b -> d -> e -> a
    assert g.add_edge(a, b) == [a, b, d, e]


def test_dag_has_no_cycle() -> None:
    g = WaitForGraph()
    n = [g.add_node(JOB, i) for i in range(8)]
    for i in range(8):
        for j in range(i + 1, 8):
            assert g.add_edge(n[i], n[j]) is None  # every forward edge: a DAG
    assert g.counters == (8, 28)
    assert g.find_cycle() is None


def test_find_cycle_returns_the_cycle() -> None:
    g = WaitForGraph()
    n = [g.add_node(ACTOR, i) for i in range(6)]
    g.add_edge(n[0], n[1])
    g.add_edge(n[1], n[2])
    g.add_edge(n[2], n[3])
    g.add_edge(n[3], n[4])
    g.add_edge(n[5], n[0])
    assert g.find_cycle() is None
    assert g.add_edge(n[4], n[2]) == [n[4], n[2], n[3]]
    assert g.find_cycle() in rotations([n[2], n[3], n[4]])


def test_remove_edge_breaks_cycle() -> None:
    g = WaitForGraph()
    a, b, c = (g.add_node(ACTOR) for _ in range(3))
    g.add_edge(a, b)
    g.add_edge(b, c)
    assert g.add_edge(c, a) is not None
    g.remove_edge(b, c)
    assert not g.has_edge(b, c)
    assert g.counters == (3, 2)
    assert g.find_cycle() is None
    assert g.add_edge(b, c) == [b, c, a]  # and it can be added back


def test_remove_node_drops_its_edges() -> None:
    g = WaitForGraph()
    a, b, c, d = (g.add_node(ACTOR, i) for i in range(4))
    g.add_edge(a, b)
    g.add_edge(b, c)
    g.add_edge(c, b)
    g.add_edge(b, b)
    g.add_edge(d, b)
    g.add_edge(a, d)
    assert g.counters == (4, 6)
    g.remove_node(b)
    assert g.counters == (3, 1)  # only a -> d is left
    assert g.has_edge(a, d)
    assert not g.has_edge(a, c) and not g.has_edge(c, a) and not g.has_edge(d, a)
    assert g.find_cycle() is None
    with pytest.raises(BadHandle, match=f"node={h(b)}"):
        g.node(b)
    # The others' edge lists were repaired: new edges behave.
    assert g.add_edge(c, a) is None
    assert g.add_edge(d, c) == [d, c, a]


def test_removed_handle_stays_dead_after_slot_reuse() -> None:
    g = WaitForGraph()
    a = g.add_node(ACTOR, 1)
    g.remove_node(a)
    b = g.add_node(FENCE, 2)
    assert b != a
    assert g.node(b) == Node(FENCE, 2)
    with pytest.raises(BadHandle):
        g.node(a)
    with pytest.raises(BadHandle):
        g.add_edge(a, b)
    assert g.counters == (1, 0)


def test_long_cycle_longer_than_the_default_buffer() -> None:
    g = WaitForGraph()
    n = [g.add_node(JOB, i) for i in range(500)]
    for x, y in itertools.pairwise(n):
        assert g.add_edge(x, y) is None
    assert g.add_edge(n[-1], n[0]) == [n[-1], *n[:-1]]
    assert g.find_cycle() in rotations(n)


def test_max_nodes_limit() -> None:
    g = WaitForGraph(max_nodes=2)
    a = g.add_node(ACTOR)
    g.add_node(ACTOR)
    with pytest.raises(LimitExceeded, match=r"WaitForGraph.add_node"):
        g.add_node(ACTOR)
    g.remove_node(a)
    g.add_node(JOB)
    assert g.counters == (2, 0)


def test_context_manager_closes_graph() -> None:
    with WaitForGraph() as g:
        a = g.add_node(ACTOR)
    with pytest.raises(StateError, match="closed"):
        g.node(a)
    with pytest.raises(StateError, match=r"^WaitForGraph\.find_cycle: .*closed"):
        g.find_cycle()
    with pytest.raises(StateError, match=r"^WaitForGraph\.add_edge: .*closed"):
        g.add_edge(a, a)
    g.close()


# ---------------------------------------------------------------------------------------
# bad inputs


def test_bad_unknown_handles() -> None:
    g, ns = world()
    before = snapshot(g, ns)
    fault = ns[0]
    for bogus in (0, 0xDEAD, 1 << 40):
        with pytest.raises(BadHandle, match=f"node={h(bogus)}"):
            g.node(bogus)
        with pytest.raises(BadHandle, match=f"node={h(bogus)}"):
            g.remove_node(bogus)
        with pytest.raises(BadHandle, match=f"a={h(fault)}, b={h(bogus)}"):
            g.add_edge(fault, bogus)
        with pytest.raises(BadHandle, match=f"a={h(bogus)}, b={h(fault)}"):
            g.add_edge(bogus, fault)
        with pytest.raises(BadHandle, match=f"b={h(bogus)}"):
            g.has_edge(fault, bogus)
        with pytest.raises(BadHandle, match=f"a={h(bogus)}"):
            g.remove_edge(bogus, fault)
    assert snapshot(g, ns) == before


def test_bad_removed_handle() -> None:
    g, ns = world()
    gone, job = ns[4], ns[3]
    before = snapshot(g, ns)
    with pytest.raises(BadHandle, match=f"node={h(gone)}"):
        g.remove_node(gone)
    with pytest.raises(BadHandle, match=f"a={h(gone)}"):
        g.add_edge(gone, job)
    with pytest.raises(BadHandle, match=f"a={h(gone)}"):
        g.remove_edge(gone, job)  # the edge went with the node
    assert snapshot(g, ns) == before


def test_bad_duplicate_edge() -> None:
    g, ns = world()
    fault, handler = ns[0], ns[1]
    before = snapshot(g, ns)
    with pytest.raises(StateError, match=f"a={h(fault)}, b={h(handler)}.*already exists"):
        g.add_edge(fault, handler)
    assert snapshot(g, ns) == before


def test_bad_duplicate_self_edge() -> None:
    g, ns = world()
    g.add_edge(ns[2], ns[2])
    before = snapshot(g, ns)
    with pytest.raises(StateError, match="already exists"):
        g.add_edge(ns[2], ns[2])
    assert snapshot(g, ns) == before


def test_bad_remove_missing_edge() -> None:
    g, ns = world()
    before = snapshot(g, ns)
    with pytest.raises(StateError, match=f"a={h(ns[1])}, b={h(ns[0])}.*no such edge"):
        g.remove_edge(ns[1], ns[0])  # the reverse of an edge
    assert snapshot(g, ns) == before


@pytest.mark.parametrize(
    ("kind", "cls", "text"),
    [
        (4, InvalidArgument, "kind=4 is not a NodeKind"),
        (-1, InvalidArgument, "kind=-1 is not a NodeKind"),
        (2**40, OutOfRange, "kind=1099511627776"),
        ("actor", InvalidArgument, "kind must be an integer"),
    ],
)
def test_bad_kind(kind: Any, cls: type[VmcoreError], text: str) -> None:
    g, ns = world()
    before = snapshot(g, ns)
    with pytest.raises(cls, match=text):
        g.add_node(kind)
    assert snapshot(g, ns) == before


@pytest.mark.parametrize(("label", "cls"), [(-1, OutOfRange), (2**64, OutOfRange), ("x", InvalidArgument)])
def test_bad_label(label: Any, cls: type[VmcoreError]) -> None:
    g, ns = world()
    before = snapshot(g, ns)
    with pytest.raises(cls, match="label"):
        g.add_node(ACTOR, label)
    assert snapshot(g, ns) == before


@pytest.mark.parametrize(("value", "cls"), [(-1, OutOfRange), (2**64, OutOfRange), (1.0, InvalidArgument)])
def test_bad_handle_type(value: Any, cls: type[VmcoreError]) -> None:
    g, ns = world()
    before = snapshot(g, ns)
    with pytest.raises(cls, match="node"):
        g.node(value)
    with pytest.raises(cls, match="node"):
        g.remove_node(value)
    with pytest.raises(cls, match="b"):
        g.add_edge(ns[0], value)
    with pytest.raises(cls, match="a"):
        g.has_edge(value, ns[0])
    assert snapshot(g, ns) == before


@pytest.mark.parametrize(
    ("max_nodes", "cls"), [(0, LimitExceeded), (2**24 + 1, LimitExceeded), (-1, OutOfRange)]
)
def test_bad_max_nodes(max_nodes: int, cls: type[VmcoreError]) -> None:
    with pytest.raises(cls, match="max_nodes"):
        WaitForGraph(max_nodes)


def test_bad_degree_limit() -> None:
    g = WaitForGraph()
    hub = g.add_node(ACTOR)
    others = [g.add_node(JOB, i) for i in range(65_537)]
    for o in others[:65_536]:
        g.add_edge(hub, o)
    before = g.counters
    with pytest.raises(LimitExceeded, match=f"a={h(hub)}"):
        g.add_edge(hub, others[-1])
    assert g.counters == before == (65_538, 65_536)
    assert not g.has_edge(hub, others[-1])


# ---------------------------------------------------------------------------------------
# the C graph and the reference, side by side


def same(real: Callable[[], T], ref: Callable[[], Any]) -> tuple[T | None, Any]:
    """Run both; they must both succeed or both raise the same error class and status."""
    try:
        got, err = real(), None
    except VmcoreError as e:
        got, err = None, e
    try:
        want, ref_err = ref(), None
    except VmcoreError as e:
        want, ref_err = None, e
    assert type(err) is type(ref_err), (err, ref_err)
    if err is not None:
        assert getattr(err, "status", None) == getattr(ref_err, "status", None)
    return got, want


KINDS = st.sampled_from([*NodeKind, 4, -1])
LABELS = st.sampled_from([0, 1, 0xFFFF, 2**64 - 1, 2**64, -1])


class WfgMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real = WaitForGraph(max_nodes=8)
        self.ref = RefWaitForGraph(max_nodes=8)
        self.handles: list[tuple[int, int]] = [(0, 0), (0xDEAD_0000_0001, 0xDEAD_0000_0001)]  # (real, ref)
        self.to_real: dict[int, int] = {}

    def pick(self, i: int) -> tuple[int, int]:
        return self.handles[i % len(self.handles)]

    def real_cycle(self, cycle: list[int] | None) -> list[int] | None:
        return None if cycle is None else [self.to_real[x] for x in cycle]

    @rule(kind=KINDS, label=LABELS)
    def add_node(self, kind: Any, label: int) -> None:
        got, want = same(lambda: self.real.add_node(kind, label), lambda: self.ref.add_node(kind, label))
        if got is not None and want is not None:
            assert got != 0 and got not in self.to_real.values()
            self.to_real[want] = got
            self.handles.append((got, want))

    @rule(kind=st.sampled_from(NodeKind), label=st.integers(0, 2**64 - 1))
    def add_valid_node(self, kind: NodeKind, label: int) -> None:
        self.add_node(kind, label)

    @rule(i=st.integers(0, 40))
    def remove_node(self, i: int) -> None:
        r, m = self.pick(i)
        same(lambda: self.real.remove_node(r), lambda: self.ref.remove_node(m))

    def _add_edge(self, i: int, j: int) -> None:
        self._add_edge_between(self.pick(i), self.pick(j))

    def _add_edge_between(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        (ra, ma), (rb, mb) = a, b
        live = self.ref.nodes()
        inserting = ma in live and mb in live and not self.ref.has_edge(ma, mb)
        closes = inserting and (ma == mb or self.ref.reaches(mb, ma))
        got, want = same(lambda: self.real.add_edge(ra, rb), lambda: self.ref.add_edge(ma, mb))
        assert got == self.real_cycle(want)  # the exact cycle, node for node
        assert (want is not None) == closes
        if want is not None:
            assert want[:2] == [ma, mb][: len(want)] and self.ref.is_cycle(want)
            event(f"add_edge: cycle of {min(len(want), 3)}{'+' if len(want) >= 3 else ''}")

    @rule(i=st.integers(0, 40), j=st.integers(0, 40))
    def add_edge(self, i: int, j: int) -> None:
        self._add_edge(i, j)

    @rule(path=st.lists(st.integers(0, 40), min_size=3, max_size=8))
    def add_path(self, path: list[int]) -> None:
        """Edges along a path of live nodes: cycles of several nodes form often."""
        live = [(self.to_real[m], m) for m in self.ref.nodes()]
        if live:
            nodes = [live[i % len(live)] for i in path]
            for a, b in itertools.pairwise(nodes):
                self._add_edge_between(a, b)

    @rule(start=st.integers(0, 40), k=st.integers(3, 6))
    def add_ring(self, start: int, k: int) -> None:
        """A ring through k distinct live nodes: the last edge closes a long cycle."""
        live = [(self.to_real[m], m) for m in self.ref.nodes()]
        if len(live) >= k:
            ring = [live[(start + x) % len(live)] for x in range(k)]
            for x in range(k):
                self._add_edge_between(ring[x], ring[(x + 1) % k])

    @rule(i=st.integers(0, 40), j=st.integers(0, 40))
    def remove_edge(self, i: int, j: int) -> None:
        (ra, ma), (rb, mb) = self.pick(i), self.pick(j)
        same(lambda: self.real.remove_edge(ra, rb), lambda: self.ref.remove_edge(ma, mb))

    @rule(i=st.integers(0, 40))
    def remove_an_edge_of(self, i: int) -> None:
        """Pick an existing edge (random edges rarely exist), to keep the graph changing."""
        r, m = self.pick(i)
        out = [b for a, b in sorted(self.ref.edges()) if a == m]
        if out:
            self.real.remove_edge(r, self.to_real[out[0]])
            self.ref.remove_edge(m, out[0])

    def compare_node(self, r: int, m: int) -> None:
        got, want = same(lambda: self.real.node(r), lambda: self.ref.node(m))
        assert got == want

    @invariant()
    def everything_agrees(self) -> None:
        got, want = same(lambda: self.real.counters, lambda: self.ref.counters)
        assert got == want
        for r, m in self.handles:
            self.compare_node(r, m)
        live = self.ref.nodes()
        want_edges = {(self.to_real[a], self.to_real[b]) for a, b in self.ref.edges()}
        assert edges_of(self.real, [self.to_real[m] for m in live]) == want_edges
        # find_cycle: any cycle will do, but it must be one, and only when there is one.
        got_c, want_c = same(self.real.find_cycle, self.ref.find_cycle)
        acyclic = self.ref.acyclic()
        event(f"graph acyclic: {acyclic}")
        assert (got_c is None) == (want_c is None) == acyclic
        if got_c is not None:
            from_real = {v: k for k, v in self.to_real.items()}
            assert self.ref.is_cycle([from_real[x] for x in got_c])
            assert self.ref.is_cycle(want_c)


WfgMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_wfg_machine = WfgMachine.TestCase
