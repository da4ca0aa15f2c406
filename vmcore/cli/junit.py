"""``--junitxml FILE``: the session's reports in the JUnit XML that CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from vmcore.cli.files import atomic_write
from vmcore.cli.report import Report


def write_junit(path: str, reports: Iterable[Report], errors: list[str], dt: float) -> None:
    reports = list(reports)
    suite = ET.Element(
        "testsuite",
        name="vmcore",
        tests=str(len(reports) + len(errors)),
        failures=str(sum(r.status == "failed" for r in reports)),
        errors=str(sum(r.status == "error" for r in reports) + len(errors)),
        time=f"{dt:.3f}",
    )
    for r in reports:
        file_part, _, name = r.scenario.id.partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=file_part,
            name=name,
            file=r.scenario.path,
            line=str(r.scenario.line),
            time=f"{r.duration:.3f}",
        )
        if r.status == "failed" and r.exploration is not None:
            parts = [
                *r.exploration.failures,
                *(f"expect {o.expectation}: {o.why}" for o in r.exploration.outcomes if not o.passed),
            ]
            msg = "; ".join(p.splitlines()[0] for p in parts if p)
            fail = ET.SubElement(case, "failure", message=msg)
            fail.text = "\n".join(parts) + f"\nreplay: {r.replay}"
        elif r.status == "error":
            err = ET.SubElement(case, "error", message=r.error.splitlines()[0] if r.error else "error")
            err.text = r.error
    for e in errors:
        case = ET.SubElement(suite, "testcase", classname="collection", name=e.splitlines()[0][:80])
        err = ET.SubElement(case, "error", message=e.splitlines()[0])
        err.text = e
    atomic_write(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
