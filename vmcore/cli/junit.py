"""``--junitxml FILE``: the session's reports in the JUnit XML that CI systems read."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from vmcore.cli.files import atomic_write
from vmcore.cli.report import Report

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry at all, even escaped (control characters, lone surrogates)."""


def _xml_text(s: str) -> str:
    """``s`` with each character XML cannot hold written as ``\\xNN`` / ``\\uNNNN``."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)


def _clean(root: ET.Element) -> None:
    for el in root.iter():
        for k, v in el.attrib.items():
            el.attrib[k] = _xml_text(v)
        if el.text:
            el.text = _xml_text(el.text)


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
    _clean(suite)  # a scenario name or a message may hold control characters
    atomic_write(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
