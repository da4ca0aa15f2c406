"""Generated valid scenarios never crash the engine (issue 15).

A hypothesis strategy writes .vms texts from the grammar (docs/language.md): one or two
GPUs with their engines, processes with their modes, SVM ranges with attributes, BOs,
jobs, CPU accesses, migration hints, munmaps, page-table evictions, kills, ``at`` blocks,
policies of every family and expectations.  Each text is compiled (a text the compiler
rejects is discarded, but the generator aims at valid ones) and run on the default
schedule and on seeded random and PCT schedules.  A run must end in a :class:`Result`:
a verdict may be anything, an error of the scenario itself (a BO that did not fit, a
runaway) is allowed, but an exception out of the engine, or an error that names a bug
inside vmcore, fails the test with the scenario text.

A failure shows the scenario minimized line by line (hypothesis's own shrinking is off:
it takes minutes on these long draws; ``VMCORE_GENERATED_SHRINK=1`` turns it on).  The
suite runs 150 hypothesis examples and a batch of 75 seeded random ones, about 10 s;
``VMCORE_GENERATED_EXAMPLES=N`` and ``VMCORE_GENERATED_BATCH=N`` ask for more, and
``python -m tests.engine.test_generated_scenarios --runs N [--seed S] [--seeds K]
[--minimize]`` runs a plain random search of N scenarios (each on 1 + 2K schedules) and
prints the crash signatures it finds.  ``FOUND`` keeps the crashes found so far, minimized.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from vmcore.dsl.compiler import CompiledScenario, Compiler
from vmcore.dsl.errors import VmsError
from vmcore.engine.explore import PctScheduler, RandomScheduler
from vmcore.engine.scenario import Result
from vmcore.engine.sim import Scheduler
from vmcore.errors import InternalError
from vmcore.hooks.manager import plugin_manager

T = TypeVar("T")

KiB = 1024
MiB = 1024 * KiB
SVM_BASE = 0x4000_0000
SVM_SLOT = 16 * MiB
"""Each SVM range gets a slot of its own, so ranges never overlap."""
BO_BASE = 0x9000_0000
BO_SLOT = 16 * MiB

POLICIES: dict[str, list[str]] = {
    "queues": ['"kfd"', '"cs"'],
    "alloc": [
        '"ttm"',
        '"no-wait"',
        '"evict-lru"',
        '"emergency-pool"',
        '"emergency-pool"(size = 64KiB)',
        '"fail-retry"',
    ],
    "evict": ['"lru"', '"fifo"', '"lfu"', '"mru"', '"random"', '"random"(seed = 3)'],
    "prefetch": ['"none"', '"sequential"', '"sequential"(size = 16KiB)', '"neighbourhood"', '"stride"'],
    "root_pd": ['"movable-root-pd"', '"pin-root-pd"', '"fence-root-pd"'],
    "pt_fences": ['"cs-fences-on-pt"', '"kernel-fences-only"'],
    "update": ['"split-entities"', '"immediate-entity"', '"delayed-entity"', '"direct"', '"cpu"'],
    "fault": ['"map-or-kill"', '"silence-retry"', '"dummy-page"'],
    "migration": [
        '"on-fault"',
        '"on-fault"(silent_retry = true)',
        '"hint-only"',
        '"fault-worker"',
        '"fault-worker"(silent_retry = true)',
        '"keep-shared-in-system"',
    ],
    "pt_move": ['"migrate"', '"reallocate"'],
}
"""Every family's built-in policies (docs/policies.md), some with parameters."""


class Draw(Protocol):
    """The choices a generator makes: hypothesis draws them, or a seeded random."""

    def pick(self, options: Sequence[T]) -> T: ...

    def num(self, lo: int, hi: int) -> int: ...

    def flip(self, p: float = 0.5) -> bool: ...


class RandomDraw:
    """Choices from a seeded :class:`random.Random` (the ad-hoc search)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def num(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def flip(self, p: float = 0.5) -> bool:
        return self.rng.random() < p


class HypothesisDraw:
    """Choices drawn by hypothesis (so a failure shrinks to a short scenario)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))  # type: ignore[no-any-return]

    def num(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))  # type: ignore[no-any-return]

    def flip(self, p: float = 0.5) -> bool:
        # a weighted coin: hypothesis shrinks towards False
        return self.draw(st.integers(0, 99)) < int(p * 100)  # type: ignore[no-any-return]


def size(n: int) -> str:
    """``n`` bytes as the language writes a size."""
    if n % MiB == 0:
        return f"{n // MiB}MiB"
    if n % KiB == 0:
        return f"{n // KiB}KiB"
    return str(n)


class _Gen:
    """Writes one file: a topology and one scenario whose names are all defined."""

    def __init__(self, d: Draw) -> None:
        self.d = d
        self.gpus: list[str] = []
        self.vram: dict[str, int] = {}
        self.engines: dict[str, list[str]] = {}
        self.procs: dict[str, list[str]] = {}
        self.ranges: dict[str, list[tuple[int, int]]] = {}
        self.whole: dict[str, list[tuple[int, int]]] = {}
        """The ranges no munmap touched: what CPU accesses and hints may name."""
        self.bos: list[str] = []
        self.mapped: list[tuple[str, str]] = []
        self.jobs: list[str] = []
        self.njobs = self.nbos = 0
        self.slot = 0
        self.bo_slot = 0
        self.in_at = False
        """Writing an ``at`` block: what it defines may not exist yet when a later
        statement of the main thread runs, so later statements do not name it."""

    # -- topology ------------------------------------------------------------------
    def topology(self) -> list[str]:
        d = self.d
        out = []
        for i in range(d.pick([1, 1, 2])):
            g = f"gpu{i}"
            self.gpus.append(g)
            vram = d.pick([1 * MiB, 2 * MiB, 4 * MiB, 16 * MiB, 16 * MiB, 64 * MiB])
            self.vram[g] = vram
            items = [f"vram {size(vram)}"]
            if d.flip(0.2):
                items.append(f"gtt {size(d.pick([64 * MiB, 1024 * MiB]))}")
            engines = [f"engine c{i} compute retry"]
            self.engines[g] = [f"c{i}"]
            for name, text in ((f"k{i}", "compute"), (f"x{i}", "gfx"), (f"m{i}", "mm")):
                if d.flip(0.4):
                    engines.append(f"engine {name} {text}")
                    self.engines[g].append(name)
            if d.flip(0.8):
                mode = d.pick(["", " locked", " lockless"])
                engines.append(f"engine s{i} sdma{mode}")
                self.engines[g].append(f"s{i}")
            items += engines
            out.append(f"gpu {g} {{\n    " + "\n    ".join(items) + "\n}")
        if len(self.gpus) == 2 and d.flip(0.6):
            kind = d.pick(["xgmi", "xgmi", "pcie"])
            extra = " bandwidth 32GiB/s latency 1us" if d.flip(0.3) else ""
            out.append(f"link gpu0 gpu1 {kind}{extra}")
        return out

    # -- statements ----------------------------------------------------------------
    def loc(self, system_ok: bool = True, gtt_ok: bool = True) -> str:
        opts = [f"{g}.vram" for g in self.gpus]
        if gtt_ok:
            opts += [f"{g}.gtt" for g in self.gpus]
        if system_ok:
            opts += ["system", "system"]
        return self.d.pick(opts)

    def process(self) -> str:
        d = self.d
        p = f"p{len(self.procs)}"
        gpus = [g for g in self.gpus if d.flip(0.7)] or [d.pick(self.gpus)]
        self.procs[p] = gpus
        self.ranges[p] = []
        self.whole[p] = []
        attrs = []
        if d.flip(0.5):
            attrs.append(f"retry_faults {d.pick(['on', 'off'])}")
        if d.flip(0.4):
            attrs.append(f"prefill {d.pick(['on', 'off'])}")
        block = f" {{ {'; '.join(attrs)} }}" if attrs else ""
        return f"process {p} on {', '.join(gpus)}{block}"

    def svm(self, p: str) -> str:
        d = self.d
        addr = SVM_BASE + self.slot * SVM_SLOT
        self.slot += 1
        where = self.loc(gtt_ok=False)
        sizes = [4 * KiB, 64 * KiB, 1 * MiB, 2 * MiB, 3 * MiB, 4 * MiB, 8 * MiB]
        if where.endswith(".vram"):  # a range registered in VRAM must fit there
            sizes = [n for n in sizes if n <= self.vram[where.split(".")[0]] // 4]
        n = d.pick(sizes)
        if not self.in_at:
            self.ranges[p].append((addr, n))
            self.whole[p].append((addr, n))
        attrs = []
        gpus = list(self.procs[p])
        d_gpus = {g: d.pick(["", "", "access", "in_place", "no_access"]) for g in gpus}
        for kind in ("access", "in_place", "no_access"):
            named = [g for g, k in d_gpus.items() if k == kind]
            if named:
                attrs.append(f"{kind} {', '.join(named)}")
        if d.flip(0.3):
            attrs.append(f"preferred {d.pick(['system', *(f'{g}.vram' for g in gpus)])}")
        if d.flip(0.4):
            attrs.append(f"granularity {size(d.pick([4 * KiB, 16 * KiB, 64 * KiB, 512 * KiB, 2 * MiB]))}")
        if d.flip(0.1):
            attrs.append("readonly")
        if d.flip(0.1):
            attrs.append("exec")
        if d.flip(0.5):
            attrs.reverse()  # the attributes come in any order
        block = f" {{ {'; '.join(attrs)} }}" if attrs else ""
        return f"svm {p} {addr:#x} +{size(n)} in {where}{block}"

    def bo(self) -> str:
        d = self.d
        b = f"b{self.nbos}"
        self.nbos += 1
        if not self.in_at:
            self.bos.append(b)
        where = self.loc()
        if where.endswith(".vram"):
            cap = self.vram[where.split(".")[0]]
            n = d.pick([4 * KiB, 64 * KiB, 256 * KiB, cap // 2, cap - 64 * KiB, cap])
        else:
            n = d.pick([4 * KiB, 64 * KiB, 1 * MiB])
        flags = (" pinned" if d.flip(0.2) else "") + (" contiguous" if d.flip(0.2) else "")
        return f"bo {b} in {where} size {size(n)} owner {d.pick(list(self.procs))}{flags}"

    def subrange(self, p: str, ranges: list[tuple[int, int]] | None = None) -> tuple[int, int]:
        """A part of one of ``p``'s ranges (of ``ranges``), now and then an address with none."""
        d = self.d
        ranges = self.ranges[p] if ranges is None else ranges
        if not ranges or d.flip(0.05):
            # an address that is no SVM range (nor a BO): a fault with nothing to map
            return 0x7000_0000 + d.num(0, 16) * 4 * KiB, 4 * KiB * d.num(1, 4)
        base, n = d.pick(ranges)
        pages = n // (4 * KiB)
        first = d.num(0, pages - 1) if d.flip(0.5) else 0
        count = d.num(1, pages - first) if d.flip(0.6) else pages - first
        return base + first * 4 * KiB, count * 4 * KiB

    def job(self, p: str) -> str:
        d = self.d
        j = f"j{self.njobs}"
        self.njobs += 1
        engine = d.pick([e for g in self.procs[p] for e in self.engines[g]])
        clauses = []
        if d.flip(0.85):
            a, n = self.subrange(p)
            c = f"touches {a:#x} +{size(n)}"
            if d.flip(0.2):
                c += " pattern " + d.pick(["sequential", "reverse", "random", "stride 8KiB", "stride 64KiB"])
            if d.flip(0.15):
                c += f" passes {d.num(1, 3)}"
            if d.flip(0.35):
                c += " write" + (f" value {d.num(0, 99)}" if d.flip(0.5) else "")
            clauses.append(c)
        if d.flip(0.1):
            a, n = self.subrange(p)
            b, _ = self.subrange(p)
            clauses.append(f"copies {a:#x} +{size(min(n, 16 * KiB))} to {b:#x}")
        if self.bos and d.flip(0.3):
            used = sorted({d.pick(self.bos) for _ in range(d.num(1, 2))})
            clauses.append("uses " + ", ".join(u + (" write" if d.flip(0.5) else "") for u in used))
        if self.jobs and d.flip(0.3):
            clauses.append("after " + ", ".join(sorted({d.pick(self.jobs) for _ in range(d.num(1, 2))})))
        if d.flip(0.4):
            clauses.append(f"takes {d.pick(['100ns', '1us', '2us', '10us', '50us'])}")
        if not self.in_at:
            self.jobs.append(j)
        if d.flip(0.5):
            clauses.reverse()
        return f"job {j} on {engine} by {p} " + " ".join(clauses)

    def statement(self, in_at: bool = False) -> list[str]:
        d = self.d
        p = d.pick(list(self.procs))
        kind = d.pick(
            ["job"] * 6
            + ["cpu"] * 2
            + ["migrate"] * 2
            + ["munmap", "evict", "evict", "kill", "map", "unmap", "run", "svm", "bo", "expect"]
            + ([] if in_at else ["at", "at", "run", "process"])
        )
        if kind in ("cpu", "migrate") and not self.whole[p]:
            kind = "job"  # both need a range there
        if kind == "job":
            return [self.job(p)]
        if kind == "cpu":
            a, n = self.subrange(p, self.whole[p])
            op = d.pick(["reads", "writes"])
            value = f" value {d.num(0, 9)}" if op == "writes" and d.flip(0.5) else ""
            return [f"cpu {p} {op} {a:#x} +{size(n)}{value}"]
        if kind == "migrate":
            a, n = self.subrange(p, self.whole[p])
            target = d.pick(["system", *(f"{g}.vram" for g in self.procs[p])])
            return [f"migrate {p} {a:#x} +{size(n)} to {target}"]
        if kind == "munmap":
            a, n = self.subrange(p)
            self.whole[p] = [(b, m) for b, m in self.whole[p] if not b <= a < b + m]
            return [f"munmap {p} {a:#x} +{size(n)}"]
        if kind == "evict":
            s = f"evict page tables of {p}"
            if d.flip(0.3):
                s += f" on {d.pick(self.procs[p])}"
            if d.flip(0.3):
                s += f" at {self.subrange(p)[0]:#x}"
            return [s]
        if kind == "kill":
            return [f"kill {p}"]
        if kind == "map":
            if not self.bos:
                return [self.bo()]
            b = d.pick(self.bos)
            addr = BO_BASE + self.bo_slot * BO_SLOT
            self.bo_slot += 1
            if not self.in_at:
                self.mapped.append((b, p))
            return [f"map {b} into {p} at {addr:#x}"]
        if kind == "unmap":
            if not self.mapped:
                return [self.job(p)]
            b, q = d.pick(self.mapped)
            return [f"unmap {b} from {q}"]
        if kind == "run":
            return [d.pick(["run until idle", "run for 1us", "run for 10us", "run for 200us"])]
        if kind == "svm":
            return [self.svm(p)]
        if kind == "bo":
            return [self.bo()]
        if kind == "process":
            q = self.process()
            return [q, self.svm(f"p{len(self.procs) - 1}")]
        if kind == "expect":
            return [self.expect()]
        self.in_at = True
        body = [s for _ in range(d.num(1, 3)) for s in self.statement(in_at=True)]
        self.in_at = False
        t = d.pick(["0ns", "500ns", "1500ns", "3us", "10us", "100us"])
        return [f"at {t} {{\n        " + "\n        ".join(body) + "\n    }"]

    def expect(self) -> str:
        d = self.d
        p = d.pick(list(self.procs))
        options = [
            "expect no deadlock",
            "expect deadlock",
            "expect no stall",
            "expect no leaks",
            "expect no stale pte",
            "expect no user fence on page tables",
            "expect not no potential deadlock",
            f"expect {p} alive",
            f"expect {p} killed",
            f"expect faults >= {d.num(0, 3)}",
            f"expect migrations of {p} < {d.num(0, 9)}",
            "expect vram_fragmentation <= 0.5",
        ]
        if self.ranges[p]:
            a, n = self.subrange(p)
            options += [
                f"expect {a:#x} +{size(n)} of {p} in {d.pick(['system', *(f'{g}.vram' for g in self.procs[p])])}",
                f"expect {a:#x} of {p} reads {d.num(0, 3)}",
                f"expect fault at {a + d.num(0, 4095):#x} of {p} resolved",
            ]
        rings = [e for g in self.gpus for e in self.engines[g] if e.startswith("s")]
        if rings:
            options.append(f"expect ring {d.pick(rings)} intact")
        return d.pick(options)

    def scenario(self) -> str:
        d = self.d
        body = []
        for fam in POLICIES:
            if d.flip(0.25):
                body.append(f"policy {fam} = {d.pick(POLICIES[fam])}")
        for _ in range(d.num(1, 2)):
            body.append(self.process())
        for p in list(self.procs):
            for _ in range(d.num(0, 2) if p != "p0" else d.num(1, 2)):
                body.append(self.svm(p))
        for _ in range(d.num(0, 2)):
            body.append(self.bo())
        for _ in range(d.num(1, 10)):
            body += self.statement()
        if d.flip(0.8):
            body.append("run until idle")
        for _ in range(d.num(0, 3)):
            body.append(self.expect())
        return 'scenario "generated" {\n    ' + "\n    ".join(body) + "\n}"


def generate(d: Draw) -> str:
    """A .vms file with a topology and one generated scenario."""
    g = _Gen(d)
    top = g.topology()
    return "\n".join([*top, g.scenario()]) + "\n"


@st.composite
def scenario_texts(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    """Valid .vms texts from the grammar (most of them compile)."""
    return generate(HypothesisDraw(draw))


PM = plugin_manager(entry_points=False)
COMPILER = Compiler(PM)


def compile_one(text: str) -> CompiledScenario | None:
    """The text's one scenario, or None when the compiler rejects it."""
    try:
        items = COMPILER.compile_text(text)
    except VmsError:
        return None
    assert len(items) == 1
    return items[0]


def schedulers(seeds: int) -> list[Scheduler | None]:
    """The default schedule, then seeded random and PCT ones."""
    out: list[Scheduler | None] = [None]
    for s in range(seeds):
        out.append(RandomScheduler(s))
        out.append(PctScheduler(s, 2, 400))
    return out


def run_all(item: CompiledScenario, seeds: int = 1) -> list[tuple[str, str]]:
    """Run ``item`` under each schedule; the crashes as (signature, details)."""
    crashes = []
    for i, sched in enumerate(schedulers(seeds)):
        try:
            r: Result = item.build(PM, {}, scheduler=sched, keep_log=False, max_seconds=30).run()
        except Exception as e:
            # an internal error carries the exception that escaped: the signature is where that was raised
            cause = e.cause if isinstance(e, InternalError) and e.cause is not None else e
            frames = traceback.extract_tb(cause.__traceback__)
            sig = type(cause).__name__
            if frames:
                sig += f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}"
            crashes.append((sig, f"schedule {i}: {type(e).__name__}: {e}"))
            continue
        for err in r.errors:
            if _internal(err):
                crashes.append((err.split("\n", 1)[0][:100], f"schedule {i}: {err}"))
    return crashes


def _internal(err: str) -> bool:
    """Does a run's error name a bug inside vmcore (not the scenario's own failure)?"""
    return not err.startswith(("runaway scenario", "ScenarioError"))


def minimize(text: str, sig: str, budget: float = 30.0) -> str:
    """The scenario with every line (an ``at`` block whole) dropped that it still crashes
    with signature ``sig`` without, for at most ``budget`` seconds of trying."""
    lines = text.split("\n")
    stop = time.perf_counter() + budget
    changed = True
    while changed and time.perf_counter() < stop:
        changed = False
        i = 0
        while i < len(lines) and time.perf_counter() < stop:
            line = lines[i].strip()
            if line in ("", "}") or line.startswith(("scenario ", "gpu ")):
                i += 1
                continue
            j = i
            if line.startswith("at ") and line.endswith("{"):
                while lines[j].strip() != "}":
                    j += 1
            cand = lines[:i] + lines[j + 1 :]
            item = compile_one("\n".join(cand))
            if item is not None and any(s == sig for s, _ in run_all(item)):
                lines, changed = cand, True
            else:
                i += 1
    return "\n".join(lines)


EXAMPLES = int(os.environ.get("VMCORE_GENERATED_EXAMPLES", "150"))


PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
"""Hypothesis's own shrinking takes minutes on these long draws: a failure is minimized
line by line instead (``minimize``); ``VMCORE_GENERATED_SHRINK=1`` asks for both."""
if os.environ.get("VMCORE_GENERATED_SHRINK"):
    PHASES = (*PHASES, Phase.shrink)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    database=None,
)
@given(scenario_texts())
def test_generated_valid_scenarios_never_crash_the_engine(text: str) -> None:
    item = compile_one(text)
    assume(item is not None)
    assert item is not None
    crashes = run_all(item)
    if crashes:
        sig, detail = crashes[0]
        small = minimize(text, sig)
        raise AssertionError(
            f"{sig}\n{detail}\n--- the scenario, minimized ---\n{small}\n--- as generated ---\n{text}"
        )


BATCH = int(os.environ.get("VMCORE_GENERATED_BATCH", "75"))


def test_a_seeded_random_batch_never_crashes_the_engine() -> None:
    """The same generator driven by a seeded random: cheaper per scenario than hypothesis,
    so a wider batch (``VMCORE_GENERATED_BATCH=N`` for more)."""
    for seed in range(BATCH):
        text = generate(RandomDraw(15_000 + seed))
        item = compile_one(text)
        if item is None:
            continue
        crashes = run_all(item)
        if crashes:
            sig, detail = crashes[0]
            raise AssertionError(f"{sig}\n{detail}\n--- minimized ---\n{minimize(text, sig)}")


def test_most_generated_scenarios_compile() -> None:
    texts = [generate(RandomDraw(s)) for s in range(200)]
    valid = sum(compile_one(t) is not None for t in texts)
    assert valid >= 180, f"only {valid} of 200 generated scenarios compile"


FOUND: dict[str, str] = {
    "cpu access after a fault killed the process": """\
gpu gpu0 {
    vram 1MiB
}
gpu gpu1 {
    vram 64MiB
    engine c1 compute retry
}
scenario "cpu access after a fault killed the process" {
    process p1 on gpu1 { retry_faults off }
    svm p1 0x42000000 +4KiB in gpu1.vram { no_access gpu1 }
    job j0 on c1 by p1 touches 0x7000d000 +16KiB write
    cpu p1 writes 0x42000000 +4KiB value 8
}
""",
    "hint after a fault killed the process": """\
gpu gpu0 {
    vram 16MiB
    engine m0 mm
}
scenario "hint after a fault killed the process" {
    process p0 on gpu0
    svm p0 0x40000000 +2MiB in system
    job j0 on m0 by p0 touches 0x4019d000 +396KiB
    run for 200us
    migrate p0 0x400e3000 +1140KiB to gpu0.vram
}
""",
    "kill during evict page tables": """\
gpu gpu0 {
    vram 16MiB
}
scenario "kill during evict page tables" {
    process p1 on gpu0 { prefill on }
    svm p1 0x41000000 +4KiB in gpu0.vram
    at 10us {
        kill p1
    }
    evict page tables of p1
}
""",
    "two evictions of one page table": """\
gpu gpu0 {
    vram 16MiB
}
scenario "two evictions of one page table" {
    process p0 on gpu0 { prefill on }
    svm p0 0x40000000 +4KiB in system
    evict page tables of p0 at 0x40000000
    at 1500ns {
        evict page tables of p0 on gpu0 at 0x40000000
    }
}
""",
    "an at block asks about a process not made yet": """\
gpu gpu0 {
    vram 1MiB
    engine c0 compute retry
    engine m0 mm
}
scenario "an at block asks about a process not made yet" {
    process p0 on gpu0 { retry_faults off }
    at 0ns {
        expect p0 killed
    }
}
""",
    "map after kill": """\
gpu gpu0 {
    vram 1MiB
}
gpu gpu1 {
    vram 1MiB
}
scenario "map after kill" {
    process p0 on gpu0, gpu1
    bo b0 in system size 1MiB owner p0
    kill p0
    map b0 into p0 at 0x90000000
}
""",
    "a fault kills p1 while its map is in flight": """\
gpu gpu0 {
    vram 16MiB
    engine s0 sdma lockless
}
scenario "a fault kills p1 while its map is in flight" {
    process p0 on gpu0
    process p1 on gpu0 { retry_faults off }
    job j0 on s0 by p1 touches 0x70010000 +8KiB
    bo b0 in gpu0.gtt size 4KiB owner p0 pinned
    at 100us {
        map b0 into p1 at 0x90000000
    }
}
""",
    "two hints and a fatal fault": """\
gpu gpu0 {
    vram 1MiB
    engine m0 mm
}
scenario "two hints and a fatal fault" {
    process p0 on gpu0
    svm p0 0x40000000 +64KiB in gpu0.vram
    bo b0 in gpu0.gtt size 1MiB owner p0 contiguous
    job j2 on m0 by p0 uses b0 write touches 0x40000000 +64KiB
    migrate p0 0x40002000 +56KiB to system
    at 0ns {
        migrate p0 0x40000000 +16KiB to gpu0.vram
    }
}
""",
    "munmap during a CPU fault's migration": """\
gpu gpu0 {
    vram 16MiB
}
scenario "munmap during a CPU fault's migration" {
    process p0 on gpu0 { retry_faults off }
    svm p0 0x40000000 +4KiB in gpu0.vram
    cpu p0 writes 0x40000000 +4KiB value 1
    at 1500ns {
        munmap p0 0x40000000 +4KiB
    }
}
""",
    "munmap across granules while TTM evicts them": """\
gpu gpu0 {
    vram 16MiB
}
gpu gpu1 {
    vram 16MiB
}
scenario "munmap across granules while TTM evicts them" {
    process p0 on gpu0, gpu1
    process p1 on gpu0, gpu1
    svm p0 0x41000000 +4MiB in gpu0.vram { preferred gpu1.vram }
    at 500ns {
        munmap p0 0x41000000 +4044KiB
    }
    bo b1 in gpu0.vram size 16320KiB owner p1
}
""",
}
"""The crashes the search found (each minimized): what crashed, before the fix,
(1) ring.py IndexError: a CPU access of a killed process's range, freed by its teardown;
(2) memory.py AssertionError: a hint cut a granule the teardown had freed;
(3) model.py IndexError: the teardown freed a page table ``evict page tables`` was copying;
(4) model.py IndexError: two evictions of one page table at once (a prefilled range);
(5) checks.py KeyError: an ``at`` block's expectation before the process existed;
(6) device.py AttributeError: a map of a BO its owner's teardown freed under it;
(7) StateError: a map into a VM the teardown closed under it (a fault killed p1);
(8) svm_split.py AssertionError: a kill made a hint stop waiting and cut a migrating granule;
(9) ring.py IndexError: a munmap freed a granule a CPU fault was about to migrate;
(10) svm_split.py AssertionError: a munmap over two granules cut one TTM had begun to evict."""


@pytest.mark.parametrize("name", list(FOUND))
def test_the_crashes_found_stay_fixed(name: str) -> None:
    item = compile_one(FOUND[name])
    assert item is not None
    crashes = run_all(item)
    assert not crashes, crashes[0][1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="random search of generated scenarios for engine crashes")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="random and PCT schedules per scenario")
    ap.add_argument("--show", type=int, default=1, help="scenarios printed per signature")
    ap.add_argument("--minimize", action="store_true", help="print each shown scenario minimized")
    a = ap.parse_args(argv)
    sigs: Counter[str] = Counter()
    shown: dict[str, list[str]] = {}
    invalid = runs = 0
    t0 = time.perf_counter()
    for i in range(a.runs):
        text = generate(RandomDraw(a.seed * 1_000_003 + i))
        item = compile_one(text)
        if item is None:
            invalid += 1
            continue
        crashes = run_all(item, a.seeds)
        runs += 1 + 2 * a.seeds
        for sig, detail in crashes:
            sigs[sig] += 1
            got = shown.setdefault(sig, [])
            if len(got) < a.show:
                shown_text = minimize(text, sig) if a.minimize else text
                got.append(f"--- seed {a.seed * 1_000_003 + i}: {detail}\n{shown_text}")
    dt = time.perf_counter() - t0
    print(f"{a.runs} scenarios ({invalid} invalid), {runs} runs in {dt:.1f}s; {sum(sigs.values())} crashes")
    for sig, n in sigs.most_common():
        print(f"{n:5d}  {sig}")
    for sig, got in shown.items():
        print(f"===== {sig}")
        for g in got:
            print(g)
    return 1 if sigs else 0


if __name__ == "__main__":
    sys.exit(main())
