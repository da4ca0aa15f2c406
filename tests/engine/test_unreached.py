"""Every expectation gets a verdict: one the application thread never reached fails,
naming the statement it was blocked at and what it waited for (issue 15)."""

from __future__ import annotations

from tests.engine.scenarios import KiB, MiB, delayed_entity


def test_an_expectation_after_a_statement_that_never_returns_fails() -> None:
    s = delayed_entity("delayed-entity")  # the unmap waits for c1, stalled behind it: deadlock
    s.expect("deadlock")
    s.expect("alive", "app", line=99)  # after the unmap: never reached
    s.expect("in", 0x4000_0000, 4 * KiB, "app", "system", negate=True, line=100)
    r = s.run()
    assert not r.passed
    unreached = [o for o in r.outcomes if o.expectation.line in (99, 100)]
    assert len(unreached) == 2 and not any(o.passed for o in unreached)
    why = unreached[0].why
    assert why.startswith("never reached: app was blocked at ") and "unmap" in why, why
    assert "waiting for fence unmap app@gpu0" in why, why
    # the run predicate before it still holds
    assert [o.passed for o in r.outcomes if o.expectation.predicate.kind == "no deadlock"] == [True]


def test_a_reached_expectation_keeps_its_verdict() -> None:
    s = delayed_entity("split-entities")
    s.expect("alive", "app", line=99)
    r = s.run()
    assert r.passed, r.summary()
    assert MiB  # the module's sizes are the shared ones
