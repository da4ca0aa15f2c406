"""The ``evict`` family's orders, derived from their definitions rather than from a run."""

from __future__ import annotations

from vmcore.dsl.compiler import Compiler
from vmcore.engine.scenario import Result
from vmcore.hooks.decisions import EvictCandidate
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies.evict import Fifo, Lfu, Lru, Mru, Random

PM = plugin_manager(entry_points=False)


def cand(name: str, lru: int, uses: int = 1, created: int = 0) -> EvictCandidate:
    return EvictCandidate(name, "range", 4096, lru, uses, created, False)


CANDS = [cand("a", 3, uses=5, created=1), cand("b", 1, uses=9, created=3), cand("c", 2, uses=1, created=2)]


def names(order: list[EvictCandidate]) -> list[str]:
    return [c.name for c in order]


def test_each_order_follows_its_definition() -> None:
    assert names(Lru().vmcore_evict_order(CANDS)) == ["b", "c", "a"]  # least recently used first
    assert names(Mru().vmcore_evict_order(CANDS)) == ["a", "c", "b"]  # most recently used first
    assert names(Fifo().vmcore_evict_order(CANDS)) == ["a", "c", "b"]  # oldest first
    assert names(Lfu().vmcore_evict_order(CANDS)) == ["c", "a", "b"]  # least used first


def test_random_depends_on_its_seed_and_the_runs_and_repeats_for_the_same() -> None:
    many = [cand(str(i), i) for i in range(32)]

    def order(param: int, run: int) -> list[str]:
        p = Random(seed=param)
        p.vmcore_run_started("s", run)
        return names(p.vmcore_evict_order(many))

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(2, 0)
    assert order(1, 0) != order(1, 1)
    assert sorted(order(1, 0), key=int) == [str(i) for i in range(32)]


# 64 MiB of VRAM keeps ranges as 2 MiB pieces (max_svm_range_pages), each one granule:
# evicting a range's buffer evicts that granule alone
SWEEP = """\
gpu gpu0 {
    vram 64MiB
    engine comp0 compute retry
    engine sdma0 sdma
}
scenario "cyclic sweep over 1.5x VRAM" for E in ["lru", "mru"] {
    policy evict = E
    process app on gpu0
    svm app 0x4000_0000 +96MiB in system
    job c on comp0 by app touches 0x4000_0000 +96MiB passes 4
    run until idle
    expect app alive
}
"""


def runs(text: str, seed: int = 0) -> dict[str, Result]:
    out = {}
    for item in Compiler(PM).compile_text(text, "sweep.vms"):
        res = item.build(PM, seed=seed).run()
        assert res.passed, (item.id, res.failures, [o.why for o in res.outcomes])
        out[item.param or ""] = res
    return out


def test_mru_takes_fewer_faults_than_lru_on_a_cyclic_sweep() -> None:
    r = runs(SWEEP)
    granules = (96 << 20) // (2 << 20)
    # LRU evicts exactly the granule the sweep needs next: every access of every pass faults
    assert r["lru"].metrics["faults"] >= 4 * granules
    assert r["mru"].metrics["faults"] < r["lru"].metrics["faults"] * 0.75


RANDOM = SWEEP.replace('for E in ["lru", "mru"]', 'for S in [1, 2]').replace(
    "policy evict = E", 'policy evict = "random"(seed = S)'
)


def test_random_eviction_with_two_seeds_gives_two_results_and_one_seed_the_same() -> None:
    a, b = runs(RANDOM), runs(RANDOM)
    assert a["1"].log == b["1"].log and a["2"].log == b["2"].log
    assert a["1"].log != a["2"].log
    assert runs(RANDOM, seed=7)["1"].log != a["1"].log  # the run's seed enters too
