"""Exports of a run: Chrome trace-event JSON (opens in Perfetto) and a DOT wait-for graph."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from vmcore.engine.gpu.ring import copy_ns
from vmcore.engine.monitor import FaultRecord
from vmcore.engine.scenario import Result


def chrome_trace(runs: Sequence[tuple[str, Result]]) -> str:
    """Trace-event JSON: one process per scenario, one track per actor (engines, page queues,
    fault handlers, workers, application threads) and an instant for each event of the log.

    Every job, fault and migration is a slice with a duration: a job from its start to its
    end on its engine (B/E; one still running when the run ended ends there), and the time
    it waited in its engine's queue (``ENGINE queue``: all a job killed before it started
    has); a fault from its posting to its resolution on its GPU's tracks (a lane for each
    fault in flight at once), and the fault handler's work on it; a migration as its copy
    on the page queue that ran it.  A flow arrow joins each fault to the handler's work on
    it, each end inside a slice of its own track, as the format's binding rules want."""
    events: list[dict[str, Any]] = []
    flow_ids = itertools.count(1)
    for pid, (name, result) in enumerate(runs, 1):
        events.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}})
        _Run(pid, result, events, flow_ids).emit()
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}, indent=0)


def _us(t: int) -> float:
    """Trace-event timestamps are in microseconds; the engine's times are in nanoseconds."""
    return t / 1000.0


_SUBMIT = re.compile(r"^(\S+) on (\S+)$")
_MIGRATED = re.compile(r"^(\S+) (0x[0-9a-f]+) \+(0x[0-9a-f]+) to (\S+) \((.*)\)$")
_COPY = re.compile(r"^copy (\S+) (0x[0-9a-f]+) to (\S+)$")

_Copies = dict[tuple[str, str, str], list[tuple[int, str]]]
"""(process, address, target) -> (time, page queue) of each copy's fence, in log order."""


class _Run:
    """The events of one run: tracks named on first use, lanes for slices that overlap."""

    def __init__(
        self, pid: int, result: Result, events: list[dict[str, Any]], flow_ids: Iterator[int]
    ) -> None:
        self.pid = pid
        self.flow_ids = flow_ids
        """The trace's flow ids: one count for all its runs."""
        self.result = result
        self.events = events
        self.tids: dict[str, int] = {}
        self.lane_ends: dict[str, list[int]] = {}
        """Track name -> when the last slice of each of its lanes ends."""
        self.flows: list[dict[str, Any]] = []
        """Written last: a flow event binds to a slice that begins at its timestamp only
        if the slice comes first (trace viewers keep the file's order for equal times)."""

    def emit(self) -> None:
        self.log_events()
        self.fault_slices()
        self.events.extend(self.flows)

    # -- tracks ------------------------------------------------------------------------
    def tid(self, track: str) -> int:
        """The track's thread id, named on first use."""
        if track not in self.tids:
            self.tids[track] = len(self.tids) + 1
            self.events.append(
                {
                    "ph": "M",
                    "pid": self.pid,
                    "tid": self.tids[track],
                    "name": "thread_name",
                    "args": {"name": track},
                }
            )
        return self.tids[track]

    def lane(self, track: str, start: int, end: int) -> int:
        """The first lane of ``track`` free from ``start``: ``track``, ``track (2)``, ..."""
        ends = self.lane_ends.setdefault(track, [])
        k = next((k for k, last in enumerate(ends) if last <= start), len(ends))
        if k == len(ends):
            ends.append(end)
        else:
            ends[k] = end
        return self.tid(track if k == 0 else f"{track} ({k + 1})")

    def slice(self, tid: int, start: int, end: int, name: str, cat: str, **args: object) -> None:
        self.events.append(
            {
                "ph": "X",
                "pid": self.pid,
                "tid": tid,
                "ts": _us(start),
                "dur": _us(end - start),
                "name": name,
                "cat": cat,
                "args": args,
            }
        )

    # -- the log -----------------------------------------------------------------------
    def log_events(self) -> None:
        """Every event as an instant, jobs as B/E and queue slices, migrations' copies."""
        r = self.result
        submitted: dict[str, tuple[int, str]] = {}
        running: dict[str, str] = {}
        copies: _Copies = {}
        migrations: list[tuple[int, str, re.Match[str]]] = []
        for t, actor, action, detail in r.log:
            base = {"pid": self.pid, "tid": self.tid(actor), "ts": _us(t)}
            if action == "start":
                self.queued(detail, submitted.pop(detail, None), t, "started")
                running[detail] = actor
                self.events.append({**base, "ph": "B", "name": detail, "cat": "job"})
                continue
            if action in ("done", "aborted"):
                job = detail.split(":")[0]
                if running.pop(job, None) is not None:
                    self.events.append({**base, "ph": "E", "name": job, "cat": "job"})
                    continue
                # killed before it started: it only ever waited in its engine's queue
                self.queued(job, submitted.pop(job, None), t, detail, always=True)
            elif action == "submit":
                m = _SUBMIT.match(detail)
                if m:
                    submitted[m.group(1)] = (t, m.group(2))
            elif action == "fence":
                c = _COPY.match(detail)
                if c:
                    copies.setdefault((c.group(1), c.group(2), c.group(3)), []).append((t, actor))
            elif action == "migrated":
                m = _MIGRATED.match(detail)
                if m:
                    migrations.append((t, actor, m))
            self.events.append(
                {**base, "ph": "i", "s": "t", "name": action, "cat": action, "args": {"detail": detail}}
            )
        end = _us(r.end_time)
        for job, actor in running.items():  # still running when the run ended
            self.events.append(
                {"ph": "E", "pid": self.pid, "tid": self.tid(actor), "ts": end, "name": job, "cat": "job"}
            )
        for job, waited in submitted.items():  # never started, never ended
            self.queued(job, waited, r.end_time, "never started", always=True)
        self.migration_slices(copies, migrations)

    def queued(
        self, job: str, waited: tuple[int, str] | None, end: int, how: str, always: bool = False
    ) -> None:
        """The time ``job`` waited in its engine's queue, up to ``end``; ``how`` it ended."""
        if waited is None:
            return
        t0, engine = waited
        if end > t0 or always:
            self.slice(self.lane(f"{engine} queue", t0, end), t0, end, f"{job} queued", "job", ended=how)

    def migration_slices(self, copies: _Copies, migrations: list[tuple[int, str, re.Match[str]]]) -> None:
        """Each migration as the copy that moved it, on the page queue that ran it: the
        copy ends with its fence and took the SDMA engine's setup and transfer time (a
        copy in several packets took a little longer, so its slice may start late, never
        early).  A migration whose copy never finished is an instant-long slice."""
        found: list[tuple[int, int, str, str, dict[str, object]]] = []
        for t, actor, m in migrations:
            proc, va, size, target, cause = m.groups()
            name = f"migrate {proc} {va} +{size} to {target}"
            args: dict[str, object] = {"cause": cause, "by": actor}
            mine = copies.get((proc, va, target))
            if mine:
                end, queue = mine.pop(0)
                found.append(
                    (end, end - copy_ns(int(size, 16)), queue, name, args)
                )
            else:
                found.append((t, t, actor, name, args))
        free: dict[str, int] = {}
        for end, start, track, name, args in sorted(found, key=lambda x: x[0]):
            start = min(end, max(start, free.get(track, 0)))  # one copy at a time per page queue
            free[track] = end
            self.slice(self.tid(track), start, end, name, "migration", **args)

    # -- faults ------------------------------------------------------------------------
    def fault_slices(self) -> None:
        """Each fault from its posting to its resolution, the handler's work on it, and a
        flow from the one to the other."""
        r = self.result
        by_gpu: dict[str, list[FaultRecord]] = {}
        for rec in r.monitor.faults:
            by_gpu.setdefault(rec.gpu, []).append(rec)
        for gpu, recs in by_gpu.items():
            handled = _handler_work(recs, r.end_time)
            handler = self.tid(f"fault handler {gpu}")
            for rec in recs:
                end = rec.resolved if rec.resolved is not None else r.end_time
                what = f"{'retry' if rec.retry else 'no-retry'} fault {rec.address:#x}"
                tid = self.lane(gpu, rec.posted, end)
                self.slice(
                    tid,
                    rec.posted,
                    end,
                    what,
                    "fault",
                    process=rec.process,
                    access="write" if rec.write else "read",
                    outcome=rec.outcome,
                )
                work = handled.get(id(rec))
                if work is None:
                    continue
                self.slice(
                    handler, work[0], work[1], f"handle {what} of {rec.process}", "fault", outcome=rec.outcome
                )
                if end > rec.posted and work[1] > work[0]:
                    self.flow(tid, rec.posted, handler, work[0])

    def flow(self, from_tid: int, t0: int, to_tid: int, t1: int) -> None:
        """A flow arrow from ``t0`` on one track to ``t1`` on another."""
        fid = next(self.flow_ids)
        common = {"pid": self.pid, "name": "fault", "cat": "fault", "id": fid}
        self.flows.append({**common, "ph": "s", "tid": from_tid, "ts": _us(t0)})
        self.flows.append({**common, "ph": "f", "bp": "e", "tid": to_tid, "ts": _us(t1)})


def _handler_work(recs: list[FaultRecord], end_of_run: int) -> dict[int, tuple[int, int]]:
    """When the fault handler of one GPU worked on each fault (by ``id`` of its record).

    The handler takes one fault at a time, so its work on the faults follows their
    resolutions: each from the fault's posting or the previous resolution, whichever is
    later, to its own; then the first fault left unresolved, the one it was working on
    when the run ended.  A fault dropped by a kill was not the handler's work but takes
    its place in the same order, so the slices never overlap."""
    done = sorted((x for x in recs if x.resolved is not None), key=lambda x: x.resolved or 0)
    stuck = [x for x in recs if x.resolved is None][:1]
    out: dict[int, tuple[int, int]] = {}
    free = 0
    for rec in [*done, *stuck]:
        end = rec.resolved if rec.resolved is not None else end_of_run
        start = min(end, max(rec.posted, free))
        out[id(rec)] = (start, end)
        free = end
    return out


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
