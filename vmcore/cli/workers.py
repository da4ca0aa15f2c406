"""Where a session's scenarios run: here, over forked worker processes (``-n``), or as
tasks on a Dask cluster (``--dask``). Reports come back in item order either way, and a
worker runs a scenario exactly as the serial session would, so verdicts do not depend on
where they were computed."""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
from collections.abc import Callable, Iterator
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
    ctx = multiprocessing.get_context("fork")  # workers inherit the compiled scenarios
    with ctx.Pool(n) as pool:
        for i, rep in enumerate(pool.imap(_work, range(len(items)))):
            rep.scenario = items[i]
            yield rep


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
