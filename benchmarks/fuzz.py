"""Fuzz benchmark: hostile inputs to the C API and the language front end.

Run: ``python benchmarks/fuzz.py --inputs 1000000``.  Inputs run in batches in child
processes so that a crash (a segfault in the C core) is counted, not fatal.  Prints
``inputs``, ``crashes`` and ``tracebacks`` (both must be 0: every rejection is a
VmcoreError) and the first traceback seen, if any.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmcore.dsl.compiler import Compiler
from vmcore.fuzz import CoreFuzzer, corpus, fuzz_core, fuzz_language, mutate
from vmcore.hooks.manager import plugin_manager

ROOT = Path(__file__).resolve().parent.parent


def batch(args: tuple[int, int, float]) -> tuple[int, list[str]]:
    seed, n, language_share = args
    rng = random.Random(seed)
    fuzzer = CoreFuzzer(seed)
    texts = corpus(ROOT)
    comp = Compiler(plugin_manager(entry_points=False))
    bad: list[str] = []
    for _ in range(n):
        if rng.random() < language_share:
            out = fuzz_language(mutate(rng.choice(texts), rng), comp)
        else:
            out = fuzz_core(fuzzer)
        if out != "ok":
            bad.append(out)
    return n, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument(
        "--language-share", type=float, default=0.01, help="share of inputs that are mutated .vms text"
    )
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    jobs = []
    left = a.inputs
    k = 0
    while left > 0:
        n = min(a.batch, left)
        jobs.append((a.seed * 100_003 + k, n, a.language_share))
        left -= n
        k += 1
    done = crashes = 0
    tracebacks: list[str] = []
    ctx = multiprocessing.get_context("fork")
    for job in jobs:
        with ctx.Pool(1) as pool:
            res = pool.apply_async(batch, (job,))
            try:
                n, bad = res.get(timeout=600)
                done += n
                tracebacks += bad
            except Exception as e:  # the worker died: a crash
                crashes += 1
                print(f"batch seed {job[0]} crashed: {e!r}", file=sys.stderr)
    dt = time.perf_counter() - t0
    print(f"inputs: {done}")
    print(f"crashes: {crashes}")
    print(f"tracebacks: {len(tracebacks)}")
    print(f"inputs_per_s: {done / dt:.0f}")
    if tracebacks:
        print(tracebacks[0], file=sys.stderr)
    return 1 if crashes or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
