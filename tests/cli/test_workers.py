"""The -n worker's side of the pipe, in process: what it sends back for a report."""

from __future__ import annotations

import pickle

from vmcore.cli.report import Report
from vmcore.cli.workers import _packed


def test_a_report_that_cannot_be_pickled_comes_back_as_an_error_report() -> None:
    rep = Report(None, "passed", 1.5, error="")  # type: ignore[arg-type]
    unpicklable: object = (n for n in range(1))  # a generator: pickle refuses it
    rep.replay = unpicklable  # type: ignore[assignment]
    back = pickle.loads(_packed(rep))
    assert isinstance(back, Report)
    assert (back.status, back.duration) == ("error", 1.5)
    assert "could not be sent back" in back.error and "generator" in back.error


def test_a_report_comes_back_as_it_was() -> None:
    rep = Report(None, "failed", 0.25, error="", replay="vmcore test --replay x.json")  # type: ignore[arg-type]
    back = pickle.loads(_packed(rep))
    assert (back.status, back.duration, back.replay) == ("failed", 0.25, "vmcore test --replay x.json")
