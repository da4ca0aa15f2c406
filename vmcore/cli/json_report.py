"""``vmcore test --json FILE``: each id's verdicts and metrics, for tools."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vmcore.cli.files import atomic_write
from vmcore.cli.report import Report


def report_dict(r: Report) -> dict[str, Any]:
    ex = r.exploration
    out: dict[str, Any] = {
        "id": r.scenario.id,
        "path": r.scenario.path,
        "line": r.scenario.line,
        "status": r.status,
        "duration_s": round(r.duration, 6),
        "error": r.error or None,
        "replay": r.replay,
    }
    if ex is not None:
        shown = ex.interesting
        out |= {
            "schedules": ex.runs,
            "strategy": ex.strategy,
            "outcomes": [
                {"expect": str(o.expectation), "line": o.expectation.line, "passed": o.passed, "why": o.why}
                for o in ex.outcomes
            ],
            "failures": list(ex.failures),
            "policies": shown.policies,
            "metrics": shown.metrics,
            "process_metrics": shown.process_metrics,
        }
    return out


def write_json(path: str, reports: Iterable[Report], errors: list[str], seed: int) -> None:
    data = {"seed": seed, "reports": [report_dict(r) for r in reports], "errors": list(errors)}
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
