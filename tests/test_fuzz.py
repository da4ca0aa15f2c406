"""A short fuzzing run in the test suite: hostile C-API calls and mutated .vms text.

Every rejection must be a VmcoreError; any other exception is a bug.  (The long run is
benchmarks/fuzz.py --inputs 1000000, which also counts crashes in child processes.)
"""

from __future__ import annotations

import random
from pathlib import Path

from vmcore.dsl.compiler import Compiler
from vmcore.fuzz import CoreFuzzer, corpus, fuzz_core, fuzz_language, mutate
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent


def test_hostile_core_calls_only_raise_vmcore_errors() -> None:
    for seed in range(3):
        fuzzer = CoreFuzzer(seed)
        bad = [out for out in (fuzz_core(fuzzer) for _ in range(4000)) if out != "ok"]
        assert not bad, bad[0]


def test_mutated_scenarios_only_raise_vms_errors() -> None:
    rng = random.Random(5)
    texts = corpus(ROOT)
    comp = Compiler(plugin_manager(entry_points=False))
    bad = [
        out
        for out in (fuzz_language(mutate(rng.choice(texts), rng), comp) for _ in range(400))
        if out != "ok"
    ]
    assert not bad, bad[0]


def test_the_fuzzer_reaches_deep_states() -> None:
    fuzzer = CoreFuzzer(11)
    for _ in range(3000):
        fuzz_core(fuzzer)
    # real handles were made and used, not only rejected garbage
    assert fuzzer.handles or fuzzer.objs
