"""Root PD restore, fence-root-pd with faults, the prefetch hive rule, blocked app threads."""

from __future__ import annotations

from tests.engine.scenarios import ENGINES, KiB, MiB, base
from vmcore.engine import Scenario


def test_an_evicted_root_pd_is_restored_before_the_next_job() -> None:
    s = base("root PD restore")
    s.process("early", ["gpu0"])
    s.bo("scratch", "gpu0.vram", 8 * MiB, "early")
    s.process("app", ["gpu0"])
    s.kill("early")
    s.run_until_idle()
    s.bo("frame", "gpu0.vram", 12 * MiB, "app", contiguous=True)  # evicts app's idle root PD
    s.svm("app", 0x4000_0000, 64 * KiB, "system", preferred="system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB))
    s.run_until_idle()
    s.expect("alive", "app")
    r = s.run()
    assert r.passed, r.summary()
    actions = [a for _, _, a, _ in r.log]
    assert "evict" in actions and "root PD restored" in actions
    assert actions.index("root PD restored") < actions.index("start")


def test_fence_root_pd_does_not_stall_page_table_updates() -> None:
    s = base("fenced root PD with a fault", root_pd="fence-root-pd")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 1 * MiB, "system", preferred="system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
    s.run_until_idle()
    s.expect("no stall")
    s.expect("alive", "app")
    s.kill("app")
    s.run_until_idle()
    s.expect("no leaks")
    r = s.run()
    assert r.passed, r.summary()


def test_a_prefetch_to_vram_goes_to_system_when_in_place_gpus_span_hives() -> None:
    def run(linked: bool, where: str) -> bool:
        s = Scenario("prefetch")
        s.gpu("gpu0", vram=16 * MiB, engines=[("comp0", "compute", True, False)])
        s.gpu("gpu1", vram=16 * MiB, engines=[("comp1", "compute", True, False)])
        if linked:
            s.link("gpu0", "gpu1", "xgmi")
        s.process("app", ["gpu0", "gpu1"])
        s.svm("app", 0x4000_0000, 2 * MiB, "gpu1.vram", in_place=["gpu1"])
        s.migrate("app", 0x4000_0000, 2 * MiB, "gpu0.vram")
        s.run_until_idle()
        s.expect("in", 0x4000_0000, 2 * MiB, "app", where)
        return s.run().passed

    assert run(False, "system")  # gpu1 maps it in place but is in another hive
    assert run(True, "gpu0.vram")  # one hive: the hint is followed


def test_an_application_thread_blocked_forever_is_a_stall() -> None:
    s = Scenario("blocked app")
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system", preferred="system")
    s.job("c1", "comp0", "app", touches=(0x7000_0000, 4 * KiB))  # unmapped: killed...
    s.policy("fault", "silence-retry")  # ...no: silenced, so c1 stalls forever
    s.policy("queues", "cs")  # an amdgpu_cs job: the unmap below waits for its fence
    s.bo("buf", "gpu0.vram", 64 * KiB, "app")
    s.map("buf", "app", 0x9000_0000)
    s.unmap("buf", "app")  # waits for c1's user fence (AMDGPU_SYNC_EQ_OWNER): never
    s.run_until_idle()
    r = s.run()
    assert not r.passed
    assert any("application thread(s) app never got past a statement" in f for f in r.failures)


def test_retries_are_counted_per_page() -> None:
    s = base("many pages", vram=4 * MiB)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 64 * MiB, "system", preferred="system", granularity=64 * KiB)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * MiB), takes=100_000)
    s.run_until_idle()
    s.expect("no stall")
    s.expect("metric", "faults", ">", 64)
    r = s.run()
    assert r.passed, r.summary()
