"""Exports of a run: Chrome trace-event JSON (opens in Perfetto) and a DOT wait-for graph."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from vmcore.engine.scenario import Result

_ADDR = re.compile(r"(0x[0-9a-f]+)")


def chrome_trace(runs: Sequence[tuple[str, Result]]) -> str:
    """Trace-event JSON: one process per scenario, one track per actor (engines, page queues,
    fault handlers, workers, application threads), slices for jobs, instants for faults,
    PTE updates and fences, and flow arrows from each fault to its resolution."""
    events: list[dict[str, Any]] = []
    flow = 0
    for pid, (name, result) in enumerate(runs, 1):
        events.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}})
        tids: dict[str, int] = {}
        open_faults: dict[str, int] = {}

        for t, actor, action, detail in result.log:
            ts = t / 1000.0  # trace-event timestamps are in microseconds
            base = {"pid": pid, "tid": _track(events, tids, pid, actor), "ts": ts}
            if action == "start":
                events.append({**base, "ph": "B", "name": detail, "cat": "job"})
            elif action in ("done", "aborted"):
                events.append({**base, "ph": "E", "name": detail.split(":")[0], "cat": "job"})
            else:
                events.append(
                    {**base, "ph": "i", "s": "t", "name": action, "cat": action, "args": {"detail": detail}}
                )
            if action == "fault":
                m = _ADDR.search(detail)
                if m:
                    flow += 1
                    open_faults[m.group(1)] = flow
                    events.append({**base, "ph": "s", "id": flow, "name": "fault", "cat": "fault"})
            elif action == "resolved":
                m = _ADDR.search(detail)
                if m and m.group(1) in open_faults:
                    events.append(
                        {
                            **base,
                            "ph": "f",
                            "bp": "e",
                            "id": open_faults.pop(m.group(1)),
                            "name": "fault",
                            "cat": "fault",
                        }
                    )
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}, indent=0)


def _track(events: list[dict[str, Any]], tids: dict[str, int], pid: int, actor: str) -> int:
    """The track of ``actor`` in process ``pid``, named on first use."""
    if actor not in tids:
        tids[actor] = len(tids) + 1
        events.append(
            {"ph": "M", "pid": pid, "tid": tids[actor], "name": "thread_name", "args": {"name": actor}}
        )
    return tids[actor]


def dot_graph(name: str, result: Result) -> str:
    """The wait-for cycle(s) of a run, drawn in red, with the potential-deadlock waits dashed."""
    lines = [f'digraph "{_esc(name)}" {{', "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    seen: set[str] = set()

    def node(n: str) -> str:
        if n not in seen:
            seen.add(n)
            shape = "ellipse" if n.startswith("fence ") else "box"
            lines.append(f'  "{_esc(n)}" [shape={shape}];')
        return f'"{_esc(n)}"'

    for cycle in result.deadlocks:
        for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            lines.append(f'  {node(a)} -> {node(b)} [color=red, penwidth=2, label="waits for"];')
    for f in result.findings.get("potential deadlock", []):
        m = re.match(r"(.+?) waits for (.+?), whose", f.message)
        if m:
            lines.append(
                f'  {node(m.group(1))} -> {node("fence " + m.group(2))} [style=dashed, label="potential"];'
            )
    if len(lines) == 3:
        lines.append('  "no wait-for cycle" [shape=plaintext];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
