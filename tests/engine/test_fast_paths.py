"""The engine's fast paths change nothing but speed.

``Sim.alone`` lets the running actor go on within its own step when no other actor
could run meanwhile: a kernel job through a quiet page queue (``PageQueue.run_now``),
the fault handler's per-fault sleep.  With it refused everywhere, every run of the
reference corpus must give the same log, choices, step count and verdicts.
"""

from __future__ import annotations

import json

import pytest

from tests.engine import golden
from vmcore.engine.gpu.ring import PageQueue
from vmcore.engine.sim import Sim


def test_refusing_every_fast_path_changes_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus with every fast path refused gives the digests on file; with them taken,
    test_golden checks it gives the same, so fast and slow agree (one corpus pass here,
    not two: the suite must stay within CI's time)."""
    ran = [0]
    run_now = PageQueue.run_now

    def counting(self: PageQueue, *a: object) -> bool:
        got = run_now(self, *a)  # type: ignore[arg-type]
        ran[0] += got
        return got

    monkeypatch.setattr(PageQueue, "run_now", counting)
    for rid, build, _ in golden.corpus():  # the bundled scenarios' default runs take it often
        if rid.startswith("scenarios/"):
            build(None).run()
    assert ran[0] > 100
    stored = json.loads(golden.DATA.read_text(encoding="utf-8"))
    monkeypatch.setattr(Sim, "alone", lambda self, ns, steps: False)
    ran[0] = 0
    slow = golden.record()
    assert ran[0] == 0
    assert stored.keys() == slow.keys()
    bad = [k for k in stored if stored[k] != slow[k]]
    assert not bad, bad[:5]
