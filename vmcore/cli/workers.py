"""Where a session's scenarios run: here, over forked worker processes (``-n``), or as
tasks on a Dask cluster (``--dask``). Reports come back in item order either way, and a
worker runs a scenario exactly as the serial session would, so verdicts do not depend on
where they were computed."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable, Iterator
from multiprocessing.reduction import ForkingPickler
from typing import Any

from vmcore.cli.options import Options, UsageError
from vmcore.cli.report import Report
from vmcore.dsl.compiler import CompiledScenario

RunOne = Callable[[CompiledScenario], Report]
DaskTask = Callable[[Options, str, str], Report]
"""Compile ``path`` on the worker and run the scenario ``id`` from it."""

_RUN: Callable[[int], Report] | None = None
"""The forked workers' job, inherited from the parent at fork."""


def reports(
    opts: Options, items: list[CompiledScenario], run_one: RunOne, task: DaskTask
) -> Iterator[Report]:
    """Reports in item order: run here, over worker processes (-n), or on a Dask cluster."""
    if opts.dask:
        yield from _dask_reports(opts, items, task)
        return
    n = min(opts.processes, len(items))
    if n <= 1:
        for item in items:
            yield run_one(item)
        return
    global _RUN
    _RUN = lambda index: run_one(items[index])  # noqa: E731 - a closure the fork inherits
    yield from _forked_reports(items, n)


def _forked_reports(items: list[CompiledScenario], n: int) -> Iterator[Report]:
    """``n`` forked workers, one scenario at a time each, reports yielded in item order.

    A worker that dies (``os._exit`` in a plugin, the OOM killer) costs only the scenario it
    was running, reported as an error naming its exit code; a new worker takes its place
    and the others go on, so the session always finishes."""
    ctx = multiprocessing.get_context("fork")  # workers inherit the compiled scenarios
    todo = list(range(len(items)))
    todo.reverse()
    done: dict[int, Report] = {}
    busy: dict[Any, tuple[Any, int]] = {}  # connection -> (process, item index)
    idle: list[tuple[Any, Any]] = []  # (process, connection)
    live: list[tuple[Any, Any]] = []
    nxt = 0

    def spawn() -> tuple[Any, Any]:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_loop, args=(child,), daemon=True)
        proc.start()
        child.close()
        live.append((proc, parent))
        return proc, parent

    try:
        for _ in range(n):
            idle.append(spawn())
        while nxt < len(items):
            while idle and todo:
                proc, conn = idle.pop()
                i = todo.pop()
                conn.send(i)
                busy[conn] = (proc, i)
            ready: list[Any] = multiprocessing.connection.wait(list(busy))
            for conn in ready:
                proc, i = busy.pop(conn)
                try:
                    rep: Report = conn.recv()
                except (EOFError, OSError):
                    proc.join(5)
                    code = proc.exitcode
                    rep = Report(
                        items[i], "error", 0.0,
                        error=f"the worker process running it died (exit code {code}); the other scenarios ran on",
                    )  # fmt: skip
                    conn.close()
                    live.remove((proc, conn))
                    if todo:
                        idle.append(spawn())
                else:
                    idle.append((proc, conn))
                rep.scenario = items[i]
                done[i] = rep
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
    finally:
        for _proc, conn in live:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(None)
            conn.close()
        for proc, _ in live:
            proc.join(1)
            if proc.is_alive():
                proc.kill()


def _worker_loop(conn: Any) -> None:
    """A worker: run the scenario index it is sent, send its report back; None ends it."""
    while True:
        try:
            index = conn.recv()
        except (EOFError, OSError):
            return
        if index is None:
            return
        conn.send_bytes(_packed(_work(index)))


def _packed(rep: Report) -> bytes:
    """The report pickled for the pipe; one that cannot be pickled comes back as an error
    report naming why, instead of the worker dying with a traceback on stderr."""
    try:
        return bytes(ForkingPickler.dumps(rep))
    except Exception as e:
        why = f"its report could not be sent back from the worker process: {type(e).__name__}: {e}"
        return bytes(ForkingPickler.dumps(Report(None, "error", rep.duration, error=why)))  # type: ignore[arg-type]


def _work(index: int) -> Report:
    """Run one scenario in a worker process; the report travels back without its builder."""
    assert _RUN is not None
    rep = _RUN(index)
    rep.scenario = None  # type: ignore[assignment]
    return rep


def _dask_reports(opts: Options, items: list[CompiledScenario], task: DaskTask) -> Iterator[Report]:
    """Each scenario is a task: the worker compiles its file and runs it as a serial
    session would, so results are identical for the same seeds."""
    try:
        distributed: Any = importlib.import_module("distributed")  # optional: vmcore[dask]
    except ImportError:
        raise UsageError("--dask needs dask.distributed: pip install 'vmcore[dask]'") from None
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    spec = opts.dask
    cluster = None
    if spec == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(spec, timeout=10)
        except OSError as e:
            raise UsageError(f"--dask {spec}: cannot reach the scheduler ({e})") from None
    try:
        worker_opts = dataclasses.replace(opts, dask=None, processes=1, junitxml=None, trace=None, graph=None)
        futures = [client.submit(task, worker_opts, item.path, item.id, pure=False) for item in items]
        for item, fut in zip(items, futures, strict=True):
            rep: Report = fut.result()
            rep.scenario = item
            yield rep
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
