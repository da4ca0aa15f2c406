"""What every room of the simulated driver shares: the clock and its actors, the monitor,
the active policies, physical memory and the topology.

This is ``struct amdgpu_device`` without its mechanisms: rooms take it for the clock,
the log and the GPUs by name, and take the other rooms they call explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from vmcore.engine.gpu.memory import Memory
from vmcore.engine.model import VRAM, Domain, Gpu, Link, Placement, Process
from vmcore.engine.monitor import Monitor
from vmcore.engine.sim import Sim
from vmcore.errors import ScenarioError
from vmcore.hooks.manager import ActivePolicies

Gen = Generator[Any, Any, Any]
Text = str | Callable[[], str]
"""A message or name, or how to make it: hot paths format text only when it is read."""


def text(t: Text) -> str:
    return t if isinstance(t, str) else t()


class Device:
    """The clock, the log, the policies, memory, and the GPUs and processes by name."""

    def __init__(self, sim: Sim, policies: ActivePolicies, monitor: Monitor) -> None:
        self.sim = sim
        self.policies = policies
        self.seed = 0
        """The run's seed: what workloads draw their random orders from."""
        self.mon = monitor
        self.memory = Memory(sim, monitor)
        self.gpus: dict[str, Gpu] = {}
        self.links: list[Link] = []
        self.processes: dict[str, Process] = {}

    def log(self, actor: str, action: str, detail: str = "") -> None:
        self.mon.event(self.sim.now, actor, action, detail)

    def current_name(self) -> str:
        """The actor running now (it appears in the log as the one acting)."""
        cur = self.sim.current
        return cur.name if cur is not None else "system"

    def where(self, loc: str) -> tuple[Domain, Gpu | None]:
        """``system``, ``GPU.vram`` or ``GPU.gtt``: its domain and GPU."""
        if loc == "system":
            return Domain.SYSTEM, None
        g, _, dom = loc.partition(".")
        if g not in self.gpus or dom not in ("vram", "gtt"):
            raise ScenarioError(f"unknown location {loc!r}")
        return Domain(dom), self.gpus[g]

    # -- references on a process (kfd_process's kref) -------------------------------------
    @staticmethod
    def ref_process(proc: Process) -> None:
        """``kfd_lookup_process_by_pasid``: work in flight for ``proc`` holds it."""
        proc.refs += 1

    def unref_process(self, proc: Process) -> None:
        """``kfd_unref_process``: the last reference dropped lets its teardown go on."""
        proc.refs -= 1
        if not proc.refs:
            self.sim.fire(proc.unref)

    def holding(self, procs: tuple[Process, ...], work: Gen) -> Gen:
        """Run ``work`` holding a reference on each of ``procs``; returns what it returns."""
        for p in procs:
            self.ref_process(p)
        try:
            return (yield from work)
        finally:
            for p in procs:
                self.unref_process(p)

    # -- a process's queues stopped and resumed (kgd2kfd_quiesce_mm / kgd2kfd_resume_mm) -----
    @staticmethod
    def quiesce(proc: Process) -> None:
        """Stop ``proc``'s queues: its jobs wait on ``proc.resume`` until every quiesce is undone."""
        proc.quiesced += 1

    def resume_queues(self, proc: Process) -> None:
        """Undo one :meth:`quiesce`; the last one resumes the queues.  A kill in the meantime
        resumed them already (``quiesced`` is 0), so there is nothing to undo."""
        if proc.quiesced:
            proc.quiesced -= 1
            if not proc.quiesced:
                self.sim.fire(proc.resume)

    @staticmethod
    def reachable(gpu: Gpu, place: Placement) -> bool:
        """Can ``gpu`` map ``place``: system memory, GTT, or VRAM of its own hive."""
        return place.domain is not VRAM or (place.gpu is not None and place.gpu.hive == gpu.hive)
