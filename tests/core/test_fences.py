"""The fence table (fence.c through vmcore.core.FenceTable), against tests.core.ref_fences."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.core.ref_fences import RefFence, RefFenceTable
from vmcore.core import Fence, FenceKind, FenceState, FenceTable
from vmcore.errors import (
    BadHandle,
    InvalidArgument,
    LimitExceeded,
    OutOfRange,
    StateError,
    VmcoreError,
)

KERNEL, USER = FenceKind.KERNEL, FenceKind.USER
T = TypeVar("T")


def h(value: int) -> str:
    """How error messages print an integer argument (decimal up to 9, else hex)."""
    return hex(value) if value > 9 or value < -9 else str(value)


def snapshot(table: FenceTable, fences: list[Fence]) -> list[object]:
    """Everything observable about the table and the given fences (released ones too)."""
    out: list[object] = [table.counters]
    for f in fences:
        try:
            state, error = f.state, f.error
        except BadHandle:
            out.append((f.handle, "released"))
            continue
        user = (f.depends_on_user, f.user_ancestor) if state is not FenceState.UNARMED else None
        out.append(
            (f.handle, state, error, f.kind, f.producer, [d.handle for d in f.deps], f.deps_signaled, user)
        )
    return out


def state(f: Fence) -> FenceState:
    """f.state through a call, so a type checker does not pin it down between steps."""
    return f.state


def world() -> tuple[FenceTable, list[Fence]]:
    """A table with one fence in each state, some of them with dependencies."""
    t = FenceTable()
    user = t.create(USER, producer=3, arm=True)
    armed = t.create(KERNEL, producer=1, deps=[user], arm=True)
    unarmed = t.create(KERNEL, producer=2, deps=[armed])
    signaled = t.create(KERNEL, arm=True)
    signaled.signal()
    released = t.create(KERNEL, arm=True)
    released.signal()
    released.release()
    return t, [user, armed, unarmed, signaled, released]


# ---------------------------------------------------------------------------------------
# behaviour


def test_create_defaults() -> None:
    t = FenceTable()
    f = t.create()
    assert f.handle != 0
    assert f.state is FenceState.UNARMED
    assert (f.kind, f.producer, f.error, f.deps) == (KERNEL, 0, 0, [])
    assert not f.signaled
    assert f.deps_signaled  # no dependencies at all
    assert t.counters == (1, 1)


def test_create_user_fence_with_producer() -> None:
    t = FenceTable()
    f = t.create(USER, producer=0xFFFF_FFFF)
    assert (f.kind, f.producer) == (USER, 0xFFFF_FFFF)
    g = t.create(KERNEL, producer=7)
    assert (g.kind, g.producer) == (KERNEL, 7)
    assert f.handle != g.handle
    assert f != g and f == Fence(t, f.handle) and hash(f) == hash(Fence(t, f.handle))


def test_lifecycle_and_counters() -> None:
    t = FenceTable()
    a = t.create()
    b = t.create()
    assert t.counters == (2, 2)
    a.arm()
    assert state(a) is FenceState.ARMED
    assert t.counters == (2, 2)  # armed is still pending
    a.signal()
    assert state(a) is FenceState.SIGNALED and a.signaled
    assert t.counters == (2, 1)
    a.release()
    assert t.counters == (1, 1)
    b.arm()
    b.signal()
    assert t.counters == (1, 0)
    b.release()
    assert t.counters == (0, 0)


def test_create_with_deps_and_arm() -> None:
    t = FenceTable()
    a = t.create(arm=True)
    b = t.create(arm=True)
    c = t.create(deps=[a, b], arm=True)
    assert c.state is FenceState.ARMED
    assert c.deps == [a, b]
    d = t.create(deps=(b, a))
    assert d.state is FenceState.UNARMED
    assert d.deps == [b, a]


def test_add_dep_keeps_order_and_duplicates() -> None:
    t = FenceTable()
    a, b = t.create(), t.create()
    f = t.create()
    f.add_dep(b)
    f.add_dep(a)
    f.add_dep(b)
    assert f.deps == [b, a, b]
    assert f.kind is KERNEL and f.producer == 0  # info still right with deps


def test_unarmed_deps_may_be_added_but_block_arming_until_armed() -> None:
    t = FenceTable()
    dep = t.create()
    f = t.create(deps=[dep])
    with pytest.raises(StateError, match="not armed"):
        f.arm()
    assert state(f) is FenceState.UNARMED
    dep.arm()
    f.arm()
    assert state(f) is FenceState.ARMED


def test_depends_on_user_kernel_only() -> None:
    t = FenceTable()
    a = t.create(arm=True)
    b = t.create(deps=[a], arm=True)
    assert not a.depends_on_user and a.user_ancestor is None
    assert not b.depends_on_user and b.user_ancestor is None


def test_depends_on_user_self() -> None:
    t = FenceTable()
    u = t.create(USER, arm=True)
    assert u.depends_on_user
    assert u.user_ancestor == u


def test_depends_on_user_is_transitive() -> None:
    t = FenceTable()
    u = t.create(USER, arm=True)
    k1 = t.create(KERNEL, deps=[u], arm=True)
    k2 = t.create(KERNEL, deps=[k1], arm=True)
    k3 = t.create(KERNEL, deps=[t.create(arm=True), k2], arm=True)
    for f in (k1, k2, k3):
        assert f.depends_on_user
        assert f.user_ancestor == u
    side = t.create(KERNEL, deps=[t.create(arm=True)], arm=True)
    assert not side.depends_on_user


def test_user_ancestor_is_first_user_dependency() -> None:
    t = FenceTable()
    u1 = t.create(USER, arm=True)
    u2 = t.create(USER, arm=True)
    k1 = t.create(KERNEL, deps=[u1], arm=True)
    f = t.create(KERNEL, deps=[t.create(arm=True), u2, k1], arm=True)
    assert f.user_ancestor == u2
    g = t.create(KERNEL, deps=[k1, u2], arm=True)
    assert g.user_ancestor == u1
    own = t.create(USER, deps=[u1], arm=True)
    assert own.user_ancestor == own  # a user fence is its own ancestor


def test_depends_on_user_chain_of_10000_is_constant_time() -> None:
    t = FenceTable()
    head = t.create(USER, arm=True)
    chain = [head]
    for _ in range(10_000):
        chain.append(t.create(KERNEL, deps=[chain[-1]], arm=True))
    tail = chain[-1]
    single = t.create(KERNEL, arm=True)

    def per_call(f: Fence) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(500):
                assert f.depends_on_user
            best = min(best, time.perf_counter() - t0)
        return best

    single_user = t.create(USER, arm=True)
    assert not single.depends_on_user
    # A walk of 10,000 ancestors per query would cost tens of microseconds; the stored
    # flag costs what a one-fence answer costs.
    assert per_call(tail) < 3 * per_call(single_user) + 1e-3
    assert tail.user_ancestor == head
    # The flag is stored, not recomputed: releasing every ancestor does not change it.
    for f in chain[:-1]:
        f.signal()
        f.release()
    assert tail.depends_on_user
    assert tail.user_ancestor is not None and tail.user_ancestor.handle == head.handle


def test_user_flag_survives_release_of_a_dependency_before_arming() -> None:
    """A released dependency is still an ancestor: the flag may not depend on release timing."""
    t = FenceTable()
    u = t.create(USER, arm=True)
    early = t.create(KERNEL, deps=[u])  # dep added while u is armed
    pending_dep = t.create(USER)
    late = t.create(KERNEL, deps=[pending_dep])  # dep added while it is unarmed
    u.signal()
    u.release()
    pending_dep.arm()
    pending_dep.signal()
    pending_dep.release()
    # New fences may reuse the released slots; that must not disturb the ancestry.
    fillers = [t.create(KERNEL, arm=True) for _ in range(4)]
    early.arm()
    late.arm()
    assert early.depends_on_user and early.user_ancestor is not None
    assert early.user_ancestor.handle == u.handle
    assert late.depends_on_user and late.user_ancestor is not None
    assert late.user_ancestor.handle == pending_dep.handle
    assert early.deps == [u] and late.deps == [pending_dep]
    for f in fillers:
        assert not f.depends_on_user
    with pytest.raises(BadHandle):
        _ = u.state  # still released
    assert t.counters == (6, 6)


def test_deps_signaled() -> None:
    t = FenceTable()
    a = t.create(arm=True)
    b = t.create(arm=True)
    f = t.create(deps=[a, b], arm=True)
    assert not f.deps_signaled
    a.signal()
    assert not f.deps_signaled
    b.signal()
    assert f.deps_signaled
    a.release()  # a released dependency had signaled
    assert f.deps_signaled
    g = t.create(deps=[b, t.create(arm=True)])
    assert not g.deps_signaled


def test_set_error_records_errno_until_signal() -> None:
    t = FenceTable()
    f = t.create(arm=True)
    f.set_error(-125)
    assert f.error == -125
    f.set_error(-4095)
    assert f.error == -4095
    f.set_error(-1)
    assert f.error == -1
    f.signal()
    assert f.error == -1 and f.state is FenceState.SIGNALED
    other = t.create(arm=True)
    assert other.error == 0


def test_release_invalidates_handle_and_slot_reuse_gets_new_handle() -> None:
    t = FenceTable()
    f = t.create(arm=True)
    old = f.handle
    f.signal()
    f.release()
    with pytest.raises(BadHandle, match=f"fence={h(old)}"):
        _ = f.state
    g = t.create()
    assert g.handle != old
    with pytest.raises(BadHandle):
        Fence(t, old).arm()
    assert g.state is FenceState.UNARMED  # the old handle did not reach the new fence
    assert t.counters == (1, 1)


def test_released_dependency_still_reported() -> None:
    t = FenceTable()
    d = t.create(arm=True)
    f = t.create(deps=[d], arm=True)
    d.signal()
    d.release()
    assert f.deps == [d]
    assert f.depends_on_user is False


def test_max_fences_limit() -> None:
    t = FenceTable(max_fences=2)
    a = t.create(arm=True)
    t.create()
    with pytest.raises(LimitExceeded, match=r"FenceTable.create"):
        t.create()
    assert t.counters == (2, 2)
    a.signal()
    a.release()
    t.create()
    assert t.counters == (2, 2)


def test_max_dependencies_limit() -> None:
    t = FenceTable()
    dep = t.create(arm=True)
    f = t.create()
    for _ in range(4096):
        f.add_dep(dep)
    with pytest.raises(LimitExceeded, match=f"fence={h(f.handle)}"):
        f.add_dep(dep)
    assert len(f.deps) == 4096
    f.arm()
    with pytest.raises(LimitExceeded, match="4097"):
        t.create(deps=[dep] * 4097)
    assert t.counters == (2, 2)


def test_context_manager_closes_table() -> None:
    with FenceTable() as t:
        f = t.create()
    with pytest.raises(StateError, match="closed"):
        f.arm()
    with pytest.raises(StateError, match="closed"):
        t.create()
    t.close()  # closing twice is harmless


# ---------------------------------------------------------------------------------------
# bad inputs: each raises a typed error naming the value and leaves everything else alone


def test_bad_unknown_handle() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    bogus = Fence(t, 0xDEAD)
    for call in (bogus.arm, bogus.signal, bogus.release, lambda: bogus.set_error(-5)):
        with pytest.raises(BadHandle, match="fence=0xdead"):
            call()
    with pytest.raises(BadHandle, match="fence=0xdead"):
        _ = bogus.state
    with pytest.raises(BadHandle, match="fence=0xdead"):
        _ = bogus.depends_on_user
    with pytest.raises(BadHandle, match="fence=0xdead"):
        _ = bogus.deps
    with pytest.raises(BadHandle, match="dep=0xdead"):
        fs[2].add_dep(bogus)
    with pytest.raises(BadHandle, match="fence=0"):
        Fence(t, 0).arm()
    assert snapshot(t, fs) == before


def test_bad_released_handle() -> None:
    t, fs = world()
    released = fs[4]
    before = snapshot(t, fs)
    rh = h(released.handle)
    for call in (released.arm, released.signal, released.release):
        with pytest.raises(BadHandle, match=f"fence={rh}"):
            call()
    with pytest.raises(BadHandle, match=f"fence={rh}"):
        _ = released.deps_signaled
    with pytest.raises(BadHandle, match=f"fence={rh}"):
        _ = released.kind
    with pytest.raises(BadHandle, match=f"dep={rh}"):
        fs[2].add_dep(released)
    with pytest.raises(BadHandle, match=rh):
        t.create(deps=[released])
    assert snapshot(t, fs) == before


def test_bad_foreign_dependency() -> None:
    t, fs = world()
    other = FenceTable()
    foreign = other.create(arm=True)
    before = snapshot(t, fs)
    with pytest.raises(BadHandle, match="another fence table"):
        fs[2].add_dep(foreign)
    with pytest.raises(BadHandle, match="another fence table"):
        t.create(deps=[foreign])
    assert snapshot(t, fs) == before
    assert other.counters == (1, 1)


def test_bad_fence_depending_on_itself() -> None:
    t, fs = world()
    f = t.create()
    before = snapshot(t, [*fs, f])
    with pytest.raises(BadHandle, match=rf"fence={h(f.handle)}, dep={h(f.handle)}\): .*depending on itself"):
        f.add_dep(f)
    assert f.deps == []
    assert snapshot(t, [*fs, f]) == before


def test_bad_dependency_added_after_arming() -> None:
    t, fs = world()
    armed, unarmed, signaled = fs[1], fs[2], fs[3]
    before = snapshot(t, fs)
    with pytest.raises(StateError, match=f"fence={h(armed.handle)}.*before the fence is armed"):
        armed.add_dep(unarmed)
    with pytest.raises(StateError, match="before the fence is armed"):
        signaled.add_dep(fs[0])
    assert snapshot(t, fs) == before


def test_bad_arming_with_unarmed_dependency() -> None:
    t, fs = world()
    unarmed = fs[2]
    f = t.create(deps=[unarmed])
    before = snapshot(t, [*fs, f])
    with pytest.raises(StateError, match=f"fence={h(f.handle)}.*not armed yet"):
        f.arm()
    with pytest.raises(StateError, match="not armed"):
        t.create(deps=[unarmed], arm=True)
    assert snapshot(t, [*fs, f]) == before  # create above left no half-made fence


def test_bad_double_arm() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(StateError, match=f"fence={h(fs[1].handle)}.*already armed"):
        fs[1].arm()
    with pytest.raises(StateError, match="already armed"):
        fs[3].arm()
    assert snapshot(t, fs) == before


def test_bad_double_signal() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(
        StateError, match=f"fence={h(fs[3].handle)}.*only an armed, unsignaled fence can signal"
    ):
        fs[3].signal()
    assert snapshot(t, fs) == before
    assert t.counters[1] == 3  # pending not decremented twice


def test_bad_signal_unarmed() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(StateError, match=f"fence={h(fs[2].handle)}"):
        fs[2].signal()
    assert snapshot(t, fs) == before


@pytest.mark.parametrize(
    ("error", "cls", "text"),
    [
        (0, InvalidArgument, r"error=0 is not a negative errno"),
        (1, InvalidArgument, r"error=1 is not a negative errno"),
        (-4096, InvalidArgument, r"error=-4096 is not a negative errno"),
        (-(2**31), InvalidArgument, r"error=-2147483648 is not a negative errno"),
        (2**31, OutOfRange, r"error=2147483648 is outside"),
        (-(2**31) - 1, OutOfRange, r"error=-2147483649 is outside"),
        ("-5", InvalidArgument, r"error must be an integer"),
        (True, InvalidArgument, r"error must be an integer"),
    ],
)
def test_bad_error_value(error: Any, cls: type[VmcoreError], text: str) -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(cls, match=text):
        fs[1].set_error(error)
    assert snapshot(t, fs) == before


def test_bad_set_error_state() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    for f in (fs[2], fs[3]):  # unarmed, signaled
        with pytest.raises(StateError, match=f"fence={h(f.handle)}.*takes an error"):
            f.set_error(-5)
    assert snapshot(t, fs) == before


def test_bad_release_unsignaled() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    for f in (fs[1], fs[2]):
        with pytest.raises(StateError, match=f"fence={h(f.handle)}.*only a signaled fence"):
            f.release()
    assert snapshot(t, fs) == before


def test_bad_depends_on_user_before_arming() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(StateError, match=f"fence={h(fs[2].handle)}.*once the fence is armed"):
        _ = fs[2].depends_on_user
    with pytest.raises(StateError, match="once the fence is armed"):
        _ = fs[2].user_ancestor
    assert snapshot(t, fs) == before


@pytest.mark.parametrize(
    ("kind", "cls", "text"),
    [
        (2, InvalidArgument, r"kind=2 is not a FenceKind"),
        (-1, InvalidArgument, r"kind=-1 is not a FenceKind"),
        (2**40, OutOfRange, r"kind=1099511627776"),
        ("user", InvalidArgument, r"kind must be an integer"),
        (None, InvalidArgument, r"kind must be an integer"),
    ],
)
def test_bad_kind(kind: Any, cls: type[VmcoreError], text: str) -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(cls, match=text):
        t.create(kind)
    assert snapshot(t, fs) == before


@pytest.mark.parametrize(
    ("producer", "cls"),
    [(-1, OutOfRange), (2**32, OutOfRange), (1.5, InvalidArgument)],
)
def test_bad_producer(producer: Any, cls: type[VmcoreError]) -> None:
    t, fs = world()
    before = snapshot(t, fs)
    with pytest.raises(cls, match="producer"):
        t.create(KERNEL, producer=producer)
    assert snapshot(t, fs) == before


@pytest.mark.parametrize(
    ("max_fences", "cls"),
    [(0, LimitExceeded), (2**24 + 1, LimitExceeded), (-1, OutOfRange), (2**32, OutOfRange)],
)
def test_bad_max_fences(max_fences: int, cls: type[VmcoreError]) -> None:
    with pytest.raises(cls, match="max_fences"):
        FenceTable(max_fences)


def test_bad_create_is_all_or_nothing() -> None:
    t, fs = world()
    before = snapshot(t, fs)
    armed, unarmed, released = fs[1], fs[2], fs[4]
    with pytest.raises(BadHandle):
        t.create(deps=[armed, released])
    with pytest.raises(StateError):
        t.create(deps=[armed, unarmed], arm=True)
    with pytest.raises(BadHandle):
        t.create(deps=[armed, "not a fence"])  # type: ignore[list-item]
    assert snapshot(t, fs) == before


# ---------------------------------------------------------------------------------------
# the C table and the reference, side by side


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


KINDS = st.sampled_from([KERNEL, USER, KERNEL, USER, 2, -1])
PRODUCERS = st.sampled_from([0, 1, 7, 2**32 - 1, 2**32, -1])
ERRORS = st.sampled_from([-1, -5, -125, -4095, 0, 1, -4096, 2**31])


class FenceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real = FenceTable(max_fences=10)
        self.ref = RefFenceTable(max_fences=10)
        self.pairs: list[tuple[Fence, RefFence]] = []
        self.handle_of: dict[int, int] = {}  # ref handle -> real handle
        self.foreign = (FenceTable().create(arm=True), RefFenceTable().create(arm=True))

    def pick(self, i: int) -> tuple[Fence, RefFence]:
        return self.pairs[i % len(self.pairs)]

    @rule(kind=KINDS, producer=PRODUCERS, deps=st.lists(st.integers(0, 30), max_size=3), arm=st.booleans())
    def create(self, kind: Any, producer: int, deps: list[int], arm: bool) -> None:
        chosen = [self.pick(i) for i in deps] if self.pairs else []
        got, want = same(
            lambda: self.real.create(kind, producer, [p[0] for p in chosen], arm),
            lambda: self.ref.create(kind, producer, [p[1] for p in chosen], arm),
        )
        if got is not None and want is not None:
            assert got.handle not in self.handle_of.values()
            self.handle_of[want.handle] = got.handle
            self.pairs.append((got, want))

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30), j=st.integers(0, 30))
    def add_dep(self, i: int, j: int) -> None:
        (f, rf), (d, rd) = self.pick(i), self.pick(j)
        same(lambda: f.add_dep(d), lambda: rf.add_dep(rd))

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30))
    def add_foreign_dep(self, i: int) -> None:
        f, rf = self.pick(i)
        same(lambda: f.add_dep(self.foreign[0]), lambda: rf.add_dep(self.foreign[1]))

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30))
    def arm(self, i: int) -> None:
        f, rf = self.pick(i)
        same(f.arm, rf.arm)

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30))
    def signal(self, i: int) -> None:
        f, rf = self.pick(i)
        same(f.signal, rf.signal)

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30), error=ERRORS)
    def set_error(self, i: int, error: int) -> None:
        f, rf = self.pick(i)
        same(lambda: f.set_error(error), lambda: rf.set_error(error))

    @precondition(lambda self: self.pairs)
    @rule(i=st.integers(0, 30))
    def release(self, i: int) -> None:
        f, rf = self.pick(i)
        same(f.release, rf.release)

    @invariant()
    def everything_agrees(self) -> None:
        counters, ref_counters = same(lambda: self.real.counters, lambda: self.ref.counters)
        assert counters == ref_counters
        for f, rf in self.pairs:
            self.compare(f, rf)

    def compare(self, f: Fence, rf: RefFence) -> None:
        state, ref_state = same(lambda: f.state, lambda: rf.state)
        assert state == ref_state
        if not rf.live:
            return
        assert f.error == rf.error
        assert (f.kind, f.producer) == (rf.kind, rf.producer)
        assert [d.handle for d in f.deps] == [self.handle_of[d.handle] for d in rf.deps]
        assert f.deps_signaled == rf.deps_signaled
        got, want = same(lambda: (f.depends_on_user, f.user_ancestor), rf._user)
        if want is None:
            return
        user, anc = want
        assert got is not None
        assert got[0] == user
        assert (got[1].handle if got[1] else None) == (self.handle_of[anc.handle] if anc else None)
        # Independently of how the model caches it: the flag is "some fence in the
        # transitive ancestry (or the fence itself) is a user fence", and the ancestor is
        # one of them.
        closure: set[int] = set()
        todo = [rf]
        while todo:
            x = todo.pop()
            if x.handle not in closure:
                closure.add(x.handle)
                todo.extend(x.deps_)
        users = {x.handle for _, x in self.pairs if x.handle in closure and x.kind_ is USER}
        assert user == bool(users)
        if users:
            assert anc is not None and anc.handle in users
        else:
            assert anc is None


FenceMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_fence_machine = FenceMachine.TestCase
