"""The ``prefetch`` family and the metrics a comparison needs (completion_time,
thrashed, prefetched, ``METRIC of P``), derived from their definitions."""

from __future__ import annotations

import pytest

from vmcore.dsl.compiler import Compiler
from vmcore.dsl.errors import VmsError
from vmcore.engine.scenario import Result
from vmcore.hooks.decisions import PrefetchRequest
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies.prefetch import Neighbourhood, PrefetchNone, Sequential, Stride

PM = plugin_manager(entry_points=False)
KiB = 1024
BASE = 0x4000_0000


def request(address: int, resident: int = 0, granule: int = 4 * KiB, size: int = 4 << 20) -> PrefetchRequest:
    return PrefetchRequest(
        "gpu0", "app", address, address // granule * granule, granule, BASE, size, "gpu0.vram",
        lambda a, n: min(n, resident),
    )  # fmt: skip


def test_none_sequential_and_stride_answer_as_defined() -> None:
    assert PrefetchNone().vmcore_prefetch(request(BASE)) == []
    assert Sequential().vmcore_prefetch(request(BASE + 8 * KiB)) == [(BASE + 12 * KiB, 64 * KiB)]
    assert Sequential(size=8 * KiB).vmcore_prefetch(request(BASE)) == [(BASE + 4 * KiB, 8 * KiB)]
    s = Stride()
    got = [s.vmcore_prefetch(request(BASE + i * 64 * KiB)) for i in range(4)]
    assert got == [[], [], [(BASE + 192 * KiB, 4 * KiB)], [(BASE + 256 * KiB, 4 * KiB)]]
    s.vmcore_run_started("again")
    assert s.vmcore_prefetch(request(BASE + 320 * KiB)) == []  # history reset per run


def test_neighbourhood_takes_the_largest_block_more_than_half_resident() -> None:
    # 5 of 8 KiB resident: the 8KiB block qualifies; 5KiB of 16KiB does not
    assert Neighbourhood().vmcore_prefetch(request(BASE + 4 * KiB, resident=5 * KiB)) == [(BASE, 8 * KiB)]
    assert Neighbourhood().vmcore_prefetch(request(BASE, resident=0)) == []
    big = Neighbourhood().vmcore_prefetch(request(BASE + 12 * KiB, resident=4 << 20))
    assert big == [(BASE, 2 << 20)]  # never past 2MiB


STREAM = """\
gpu gpu0 {
    vram 16MiB
    engine comp0 compute retry
    engine sdma0 sdma
}
scenario "stream" for P in ["none", "sequential", "neighbourhood", "stride"] {
    policy prefetch = P
    process app on gpu0
    svm app 0x4000_0000 +2MiB in system {
        granularity 4KiB
    }
    job c on comp0 by app touches 0x4000_0000 +2MiB
    run until idle
    expect 0x4000_0000 +2MiB of app in gpu0.vram
}
"""


def runs(text: str) -> dict[str, Result]:
    out = {}
    for item in Compiler(PM).compile_text(text, "t.vms"):
        res = item.build(PM).run()
        assert res.passed, (item.id, res.failures, [o.why for o in res.outcomes])
        out[item.param or ""] = res
    return out


def test_prefetchers_take_fewer_faults_on_a_sequential_stream() -> None:
    r = runs(STREAM)
    pages = 512
    assert r["none"].metrics["faults"] == pages and r["none"].metrics["prefetched"] == 0
    for name in ("sequential", "neighbourhood", "stride"):
        m = r[name].metrics
        assert m["faults"] + m["prefetched"] == pages, name  # every granule came in once
    assert r["neighbourhood"].metrics["faults"] < pages / 2
    # stride: three faults 4KiB apart bring the fourth granule; the fault after it breaks
    # the constant stride, so it takes three faults again: 3 of every 4 pages fault
    assert r["stride"].metrics["faults"] == pages * 3 // 4
    assert r["sequential"].metrics["faults"] == pages // 17 + 1  # 1 fault + 16 prefetched, repeated


THRASH = """\
gpu gpu0 {
    vram 4MiB
    engine comp0 compute retry
    engine sdma0 sdma
}
scenario "two passes over 1.5x VRAM" {
    process app on gpu0
    process other on gpu0
    svm app 0x4000_0000 +6MiB in system {
        granularity 64KiB
    }
    job c on comp0 by app touches 0x4000_0000 +6MiB passes 2
    job d on comp0 by other takes 5us after c
    run until idle
    expect thrashed == 96
    expect thrashed of app == 96
    expect faults of other == 0
    expect completion_time > 0
}
"""


def test_thrashed_completion_time_and_per_process_metrics() -> None:
    (item,) = Compiler(PM).compile_text(THRASH, "t.vms")
    res = item.build(PM).run()
    assert [o.passed for o in res.outcomes] == [True] * 4, [(str(o.expectation), o.why) for o in res.outcomes]
    assert res.metrics["thrashed"] == 96
    mine, theirs = res.process_metrics["app"], res.process_metrics["other"]
    assert mine["thrashed"] == 96 and theirs["faults"] == 0
    assert mine["migrations"] == res.metrics["migrations"]
    assert theirs["completion_time"] == res.metrics["completion_time"] > mine["completion_time"] > 0


def test_a_gpu_metric_of_a_process_is_an_error() -> None:
    with pytest.raises(VmsError) as info:
        Compiler(PM).compile_text(THRASH.replace("expect faults of other == 0", "expect vram_fragmentation of app < 0.5"))
    assert "'vram_fragmentation' belongs to the GPUs, not to one process" in info.value.message
    with pytest.raises(VmsError) as info:
        Compiler(PM).compile_text(THRASH.replace("expect faults of other == 0", "expect faults of nobody == 0"))
    assert "unknown process 'nobody'" in info.value.message


def test_the_timeline_records_vram_faults_and_migrations_as_they_change() -> None:
    (item,) = Compiler(PM).compile_text(THRASH, "t.vms")
    res = item.build(PM, timeline=True).run()
    tl = res.monitor.timeline
    assert tl is not None
    t, faults = tl.series("faults")
    assert faults == list(range(1, int(res.metrics["faults"]) + 1)) and t == sorted(t)
    _, migrations = tl.series("migrations")
    assert migrations[-1] == res.metrics["migrations"]
    _, vram = tl.series("vram_used")
    assert max(vram) <= 4 << 20 and min(vram) >= 0 and vram[-1] > 0
    assert item.build(PM).run().monitor.timeline is None  # off unless asked for
