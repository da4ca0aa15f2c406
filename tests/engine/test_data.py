"""Page values follow the data: writes, copies, migrations and CPU accesses."""

from __future__ import annotations

from tests.engine.scenarios import KiB, MiB, base


def test_values_follow_migrations_and_copies() -> None:
    s = base("data")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 4 * MiB, "system")
    s.cpu("app", "writes", 0x4000_0000, 8 * KiB, value=7)
    s.expect("reads", 0x4000_0000, 8 * KiB, "app", 7)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 16 * KiB), write=True, value=9)
    s.run_until_idle()
    s.expect("in", 0x4000_0000, 16 * KiB, "app", "gpu0.vram")
    s.expect("reads", 0x4000_0000, 16 * KiB, "app", 9)
    s.expect("reads", 0x4000_4000, 4 * KiB, "app", 0)
    s.job("c2", "comp0", "app", copies=(0x4000_0000, 8 * KiB, 0x4020_0000))
    s.run_until_idle()
    s.expect("reads", 0x4020_0000, 8 * KiB, "app", 9)
    s.cpu("app", "reads", 0x4000_0000, 4 * KiB)
    s.expect("in", 0x4000_0000, 4 * KiB, "app", "system")
    s.expect("reads", 0x4000_0000, 16 * KiB, "app", 9)
    r = s.run()
    assert r.passed, r.summary()
    assert r.metrics["cpu_faults"] == 1


def test_a_wrong_value_is_reported_with_what_was_read() -> None:
    s = base("data")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB), write=True, value=4)
    s.run_until_idle()
    s.expect("reads", 0x4000_0000, 8 * KiB, "app", 5)
    r = s.run()
    assert not r.passed
    assert "0x40000000 of app reads 4" in r.outcomes[0].why
