"""The engine's fast paths change nothing but speed.

``Sim.alone`` lets the running actor go on within its own step when no other actor
could run meanwhile: a kernel job through a quiet page queue (``PageQueue.run_now``),
the fault handler's per-fault sleep.  With it refused everywhere, every run of the
reference corpus must give the same log, choices, step count and verdicts.
"""

from __future__ import annotations

import pytest

from tests.engine import golden
from vmcore.engine.gpu.ring import PageQueue
from vmcore.engine.sim import Sim


def test_refusing_every_fast_path_changes_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = [0]
    run_now = PageQueue.run_now

    def counting(self: PageQueue, *a: object) -> bool:
        got = run_now(self, *a)  # type: ignore[arg-type]
        ran[0] += got
        return got

    monkeypatch.setattr(PageQueue, "run_now", counting)
    fast = golden.record()
    assert ran[0] > 10_000  # the corpus does take the fast path, often
    monkeypatch.setattr(Sim, "alone", lambda self, ns, steps: False)
    ran[0] = 0
    slow = golden.record()
    assert ran[0] == 0
    assert fast.keys() == slow.keys()
    bad = [k for k in fast if fast[k] != slow[k]]
    assert not bad, bad[:5]
