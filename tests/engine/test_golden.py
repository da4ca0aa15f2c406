"""The engine does what it did: every run of the reference corpus gives the digest on file.

See ``tests/engine/golden.py``: a change meant to alter behaviour regenerates the file
(``python -m tests.engine.golden --update``) and says which runs changed and why.
"""

from __future__ import annotations

import json

from tests.engine import golden


def test_every_reference_run_gives_the_same_log_choices_and_verdicts() -> None:
    old = json.loads(golden.DATA.read_text(encoding="utf-8"))
    now = golden.record()
    assert set(now) == set(old), "the corpus changed: regenerate with python -m tests.engine.golden --update"
    bad = sorted(k for k in now if now[k] != old[k])
    assert not bad, f"{len(bad)} of {len(now)} runs differ from {golden.DATA.name}; first: {bad[:5]}"


def test_replay_files_written_by_an_earlier_engine_replay_to_the_same_schedule() -> None:
    expected = json.loads((golden.REPLAYS / "expected.json").read_text(encoding="utf-8"))
    assert len(expected) >= 10
    now = golden.record_replays()
    assert now == expected
    for name, d in now.items():
        assert d["choices"] == expected[name]["choices"], name
