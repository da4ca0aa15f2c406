"""Fuzzing inputs for the language front end and the C API.

Each ``fuzz_*`` function takes a seed and one input's worth of randomness and returns
``"ok"`` when the input was accepted or rejected cleanly (a :class:`VmcoreError`), and
the traceback text when anything else escaped.  A crash of the process (a segfault in
the C core) is detected by the caller, which runs batches in a child process.
"""

from __future__ import annotations

import contextlib
import random
import traceback
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmcore.core import (
    FenceKind,
    FenceTable,
    Invalidate,
    PageStore,
    PageTable,
    Pool,
    Ring,
    RingMode,
    WaitForGraph,
)
from vmcore.core.fences import NodeKind
from vmcore.errors import VmcoreError

HOSTILE_INTS = [
    0, 1, -1, 4095, 4096, 4097, 0x1000_0000_0000, 0xFFFF_FFFF_F000, (1 << 48) - 1, 1 << 48, (1 << 63),
    (1 << 64) - 1, 1 << 64, -(1 << 63), 2**31 - 1, 2**32, 511, 512, 513,
]  # fmt: skip
HOSTILE_OTHER: list[Any] = [None, "1", 1.5, True, [], b"\x00", object()]


def _arg(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.55:
        return rng.choice(HOSTILE_INTS)
    if r < 0.85:
        return rng.randrange(0, 1 << rng.choice((4, 12, 20, 36, 48, 64)))
    if r < 0.95:
        return rng.choice(HOSTILE_INTS) + rng.randrange(-8, 8)
    return rng.choice(HOSTILE_OTHER)


class CoreFuzzer:
    """Random, hostile calls into every wrapper, with handles both real and forged."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        self.pt = PageTable(root_addr=0, max_pts=64)
        self.fences = FenceTable(max_fences=256)
        self.wfg = WaitForGraph(max_nodes=256)
        self.ring = Ring(64, self.rng.choice([RingMode.LOCKED, RingMode.LOCKLESS]))
        self.pool = Pool(1 << 20)
        self.store = PageStore()
        self.handles: list[Any] = []
        self.objs: list[Any] = []

    def _h(self) -> Any:
        if self.handles and self.rng.random() < 0.6:
            return self.rng.choice(self.handles)
        return _arg(self.rng)

    def _va_perm_arrays(self) -> tuple[array[int], array[int]]:
        """Addresses and permission sets for a batched walk: any 64-bit values, and now
        and then arrays of different lengths."""
        rng = self.rng
        n = rng.randrange(0, 9)
        vas = array("Q", [rng.choice(HOSTILE_INTS) % (1 << 64) for _ in range(n)])
        perms = array("Q", [rng.choice((0, 2, 4, 6, 8, 1 << 63)) for _ in range(n + (rng.random() < 0.1))])
        return vas, perms

    def one(self) -> None:
        rng = self.rng
        a = _arg
        ops: list[Callable[[], Any]] = [
            lambda: self.pt.map(a(rng), a(rng), a(rng), a(rng)),
            lambda: self.pt.ensure(rng.randrange(0, 1 << 48, 4096), rng.randrange(0, 600)),
            lambda: self.pt.unmap(a(rng), a(rng)),
            lambda: self.pt.invalidate(a(rng), a(rng), rng.choice([*Invalidate, 7, -1])),
            lambda: self.pt.protect(a(rng), a(rng), a(rng)),
            lambda: self.pt.walk(a(rng), a(rng)),
            lambda: self.pt.scan(a(rng), a(rng), a(rng)),
            lambda: self.pt.translates(a(rng), a(rng)),
            lambda: self.pt.translating_prefix(*self._va_perm_arrays()),
            lambda: self.pt.read_ptes(a(rng), rng.randrange(0, 3000)),
            lambda: self.handles.append(self.pt.alloc(rng.choice([0, 1, 2, 3, 4, -1]), a(rng), a(rng))),
            lambda: self.pt.free(self._h()),
            lambda: self.pt.move(self._h(), a(rng)),
            lambda: self.pt.info(self._h()),
            lambda: self.pt.find_phys(a(rng), a(rng), rng.random() < 0.5),
            lambda: self.pt.find_phys_in(a(rng), a(rng), a(rng), a(rng), rng.random() < 0.5),
            lambda: self.objs.append(self.fences.create(rng.choice([*FenceKind, 5]), a(rng))),
            lambda: rng.choice(self.objs).add_dep(rng.choice(self.objs)) if self.objs else None,
            lambda: rng.choice(self.objs).arm() if self.objs else None,
            lambda: rng.choice(self.objs).signal() if self.objs else None,
            lambda: rng.choice(self.objs).set_error(a(rng)) if self.objs else None,
            lambda: rng.choice(self.objs).release() if self.objs else None,
            lambda: rng.choice(self.objs).depends_on_user if self.objs else None,
            lambda: self.handles.append(self.wfg.add_node(rng.choice([*NodeKind, 9]), a(rng))),
            lambda: self.wfg.add_edge(self._h(), self._h()),
            lambda: self.wfg.remove_edge(self._h(), self._h()),
            lambda: self.wfg.remove_node(self._h()),
            lambda: self.wfg.find_cycle(),
            lambda: self.ring.lock(a(rng)),
            lambda: self.ring.unlock(a(rng)),
            lambda: self.ring.reserve(a(rng), a(rng)),
            lambda: self.ring.write(a(rng), [a(rng) for _ in range(rng.randrange(0, 6))]),
            lambda: self.ring.emit_fence(a(rng), a(rng), a(rng)),
            lambda: self.ring.emit_ptepde(a(rng), a(rng), a(rng), a(rng), a(rng), a(rng)),
            lambda: self.ring.commit(a(rng)),
            lambda: self.ring.consume(),
            lambda: self.ring.check(),
            lambda: self.handles.append(self.pool.alloc(a(rng))),
            lambda: self.pool.free(self._h()),
            lambda: self.pool.pin(self._h()),
            lambda: self.pool.block(self._h()),
            lambda: self.store.add_region(a(rng), rng.randrange(0, 64)),
            lambda: self.store.fill(a(rng), a(rng), a(rng)),
            lambda: self.store.copy(a(rng), a(rng), rng.randrange(0, 64)),
            lambda: self.store.gpu_write(self.pt, a(rng), rng.randrange(0, 600), a(rng)),
        ]
        rng.choice(ops)()
        if rng.random() < 0.002:
            for o in (self.pt, self.fences, self.wfg, self.ring, self.pool, self.store):
                o.close()
            if rng.random() < 0.5:  # calls on closed objects must be refused too
                with_closed: list[Callable[[], object]] = [
                    lambda: self.pt.walk(0),
                    lambda: self.pool.alloc(4096),
                    lambda: self.ring.check(),
                ]
                with contextlib.suppress(VmcoreError):
                    rng.choice(with_closed)()
            self.reset()


def fuzz_core(fuzzer: CoreFuzzer) -> str:
    try:
        fuzzer.one()
    except VmcoreError:
        pass
    except Exception:
        return traceback.format_exc()
    return "ok"


def corpus(root: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((root / "scenarios").glob("*.vms"))]


def mutate(text: str, rng: random.Random) -> str:
    """Delete, duplicate, swap or splice random slices, and insert random characters."""
    s = text
    for _ in range(rng.randrange(1, 6)):
        if not s:
            break
        i = rng.randrange(len(s))
        j = min(len(s), i + rng.randrange(1, 40))
        op = rng.randrange(6)
        if op == 0:
            s = s[:i] + s[j:]
        elif op == 1:
            s = s[:j] + s[i:j] + s[j:]
        elif op == 2:
            k = rng.randrange(len(s))
            s = s[:i] + s[k : k + (j - i)] + s[j:]
        elif op == 3:
            s = (
                s[:i]
                + "".join(
                    rng.choice('{}()[]";+.,=#\n\t x0_9KiBMiBus-!\\\x00\u00e9')
                    for _ in range(rng.randrange(1, 6))
                )
                + s[i:]
            )
        elif op == 4:
            s = (
                s[:i]
                + rng.choice(["0x" + "f" * 20, "99999999999999999999999GiB", "1TiB", "not", "if", "}", "{"])
                + s[i:]
            )
        else:
            s = s[:i] + s[i:j].upper() + s[j:]
    return s


def fuzz_language(text: str, compiler: Any) -> str:
    try:
        compiler.compile_text(text, "fuzz.vms")
    except VmcoreError:
        pass
    except RecursionError:
        return traceback.format_exc()
    except Exception:
        return traceback.format_exc()
    return "ok"
