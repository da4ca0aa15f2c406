"""The simulated GPU memory system: the device that builds the rooms and wires them.

The mechanics live in the rooms of :mod:`vmcore.engine.gpu`, each after the upstream
file it models.  ``System`` makes them, gives each the rooms below it, wires the ops
through which lower rooms call up (TTM's eviction callbacks per victim kind, the page
queue's PTE-write sink, the fault handler's kill), starts the per-GPU actors, and
keeps the methods :class:`~vmcore.engine.scenario.Scenario` calls, one per statement.

Actors (each a generator on the :class:`~vmcore.engine.sim.Sim`): per GPU, the page
queue's scheduler thread and SDMA executor, the fault handler, one actor per engine; a
migration worker; the application threads (``scenario.py``); a teardown per killed
process.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from vmcore.core import Pool
from vmcore.engine.gpu.device import Device
from vmcore.engine.gpu.ih import FaultHandler
from vmcore.engine.gpu.jobs import Jobs
from vmcore.engine.gpu.memory import MAX_GPUS, pool_alloc, vram_base
from vmcore.engine.gpu.process import Processes
from vmcore.engine.gpu.ring import PageQueue
from vmcore.engine.gpu.svm import Svm
from vmcore.engine.gpu.svm_bo import SvmBo
from vmcore.engine.gpu.ttm import Ttm
from vmcore.engine.gpu.vm import VmManager
from vmcore.engine.gpu.vm_pt import PageTables
from vmcore.engine.model import PAGE, Bo, Engine, EngineKind, Gpu, Job, Link, Process
from vmcore.engine.monitor import Monitor
from vmcore.engine.sim import Sim, SimFence
from vmcore.errors import ScenarioError
from vmcore.hooks.manager import ActivePolicies

Gen = Generator[Any, Any, Any]

__all__ = ["ScenarioError", "System"]


class System:
    """GPUs, processes, and the rooms whose mechanics act on them."""

    def __init__(self, sim: Sim, policies: ActivePolicies, monitor: Monitor, seed: int = 0) -> None:
        self.sim = sim
        self.policies = policies
        self.mon = monitor
        self.dev = dev = Device(sim, policies, monitor)
        dev.seed = seed
        self.bos: dict[str, Bo] = {}
        self.ttm = Ttm(dev)
        self.pts = PageTables(dev, self.ttm, self.bos)
        self.vms = VmManager(dev, self.ttm, self.pts, self.bos)
        self.svm = Svm(dev, self.ttm, self.pts)
        self.faults = FaultHandler(dev, self.pts, self.vms, self.svm)
        self.job_room = Jobs(dev, self.ttm, self.vms, self.faults)
        self.procs = Processes(dev, self.vms, self.faults, self.job_room)
        # the ops through which lower rooms call up (ttm_device_funcs and friends)
        self.ttm.evict_funcs[Bo] = self.vms.evict_bo
        self.ttm.evict_funcs[SvmBo] = self.svm.evict_svm_bo
        self.faults.on_fatal_fault = self.procs.kill
        self.started = False

    @property
    def gpus(self) -> dict[str, Gpu]:
        return self.dev.gpus

    @property
    def links(self) -> list[Link]:
        return self.dev.links

    @property
    def processes(self) -> dict[str, Process]:
        return self.procs.processes

    @property
    def jobs(self) -> dict[str, Job]:
        return self.job_room.jobs

    # -- topology ----------------------------------------------------------------------
    def add_gpu(self, name: str, vram: int, gtt: int, engines: list[tuple[str, str, bool, bool]]) -> Gpu:
        gpus = self.dev.gpus
        if name in gpus:
            raise ScenarioError(f"GPU {name!r} is defined twice")
        if len(gpus) >= MAX_GPUS:
            raise ScenarioError(f"GPU {name!r}: a scenario has at most {MAX_GPUS} GPUs")
        gpu = Gpu(name, vram, gtt, index=len(gpus), hive=name)
        self.dev.memory.add_gpu(gpu)
        self.ttm.add_gpu(gpu)
        for ename, kind, retry, locked in engines:
            gpu.engines[ename] = Engine(ename, EngineKind(kind), gpu, retry=retry, locked=locked)
        if not any(e.kind is EngineKind.SDMA for e in gpu.engines.values()):
            gpu.engines[f"{name}.sdma"] = Engine(f"{name}.sdma", EngineKind.SDMA, gpu)
        gpus[name] = gpu
        return gpu

    def add_link(self, a: str, b: str, kind: str, bandwidth: int, latency: int) -> None:
        for g in (a, b):
            if g not in self.dev.gpus:
                raise ScenarioError(f"link names unknown GPU {g!r}")
        self.dev.links.append(Link(a, b, kind, bandwidth, latency))

    def engine(self, name: str) -> Engine:
        for g in self.dev.gpus.values():
            if name in g.engines:
                return g.engines[name]
        raise ScenarioError(f"unknown engine {name!r}")

    def start(self) -> None:
        """Form hives, set PT reserves aside, and start the per-GPU actors."""
        gpus = self.dev.gpus
        parent = {g: g for g in gpus}

        def root(x: str) -> str:
            while parent[x] != x:
                x = parent[x]
            return x

        for link in self.dev.links:
            if link.kind == "xgmi":
                parent[root(link.a)] = root(link.b)
        for name, gpu in gpus.items():
            gpu.hive = root(name)
        for gpu in gpus.values():
            size = self.policies.pt_reserve(gpu.name, gpu.vram_size)
            if size:
                assert gpu.vram is not None
                size = (size + PAGE - 1) // PAGE * PAGE
                blocks = pool_alloc(gpu.vram, vram_base(gpu), size, contiguous=True)
                if blocks is None:
                    raise ScenarioError(
                        f"the page-table reserve of {size} bytes does not fit in {gpu.name}.vram"
                    )
                gpu.vram.pin(blocks[0][0])
                gpu.pt_reserve = Pool(1 << (size - 1).bit_length(), f"{gpu.name}.pt_reserve")
                gpu.pt_reserve_base = blocks[0][1]
            pq = gpu.pq = PageQueue(self.dev, gpu, gpu.sdma)
            pq.write_ptes = self.pts.write_ptes
            pq.start()
            self.faults.start(gpu)
            for eng in gpu.engines.values():
                self.job_room.start(eng)
        self.svm.start()
        self.started = True

    # -- the statements ------------------------------------------------------------------
    def create_process(self, name: str, gpus: list[str], retry_faults: bool, prefill: bool) -> Gen:
        return (yield from self.procs.create_process(name, gpus, retry_faults, prefill))

    def create_svm(self, proc: Process, start: int, size: int, loc: str, attrs: dict[str, Any]) -> Gen:
        yield from self.svm.create_svm(proc, start, size, loc, attrs)

    def create_bo(
        self, name: str, loc: str, size: int, owner: Process, pinned: bool, contiguous: bool
    ) -> Gen:
        return (yield from self.vms.create_bo(name, loc, size, owner, pinned, contiguous))

    def map_bo(self, bo: Bo, proc: Process, va: int) -> Gen:
        yield from self.vms.map_bo(bo, proc, va)

    def unmap_bo(self, bo: Bo, proc: Process) -> Gen:
        yield from self.vms.unmap_bo(bo, proc)

    def submit_job(self, job: Job) -> None:
        self.job_room.submit_job(job)

    def host_waits(self, job: Job) -> list[SimFence]:
        return self.job_room.host_waits(job)

    def cpu_access(self, proc: Process, va: int, size: int, write: bool, value: int = 1) -> Gen:
        yield from self.svm.cpu_access(proc, va, size, write, value)

    def migrate_hint(self, proc: Process, va: int, size: int, target: str) -> Gen:
        yield from self.svm.migrate_hint(proc, va, size, target)

    def munmap(self, proc: Process, va: int, size: int) -> Gen:
        yield from self.svm.munmap(proc, va, size)

    def evict_page_tables(self, proc: Process, gpu: str | None, va: int | None) -> Gen:
        yield from self.vms.evict_page_tables(proc, gpu, va)

    def replay_faults(self, proc: Process, trace: list[tuple[str, int, bool]]) -> Gen:
        yield from self.faults.replay_faults(proc, trace)

    def kill(self, proc: Process, reason: str) -> None:
        self.procs.kill(proc, reason)

    # -- what the checks ask -------------------------------------------------------------
    def values_at(self, proc: Process, va: int, size: int, value: int) -> tuple[bool, str]:
        return self.svm.values_at(proc, va, size, value)

    def ring_damage(self) -> list[str]:
        """The integrity check of every page queue at the end of the run."""
        out = []
        for gpu in self.dev.gpus.values():
            bad = gpu.pq.damage() if gpu.pq is not None else None
            if bad is not None:
                out.append(bad)
        return out

    def leaks(self) -> list[str]:
        return self.procs.leaks()

    def close(self) -> None:
        gpus = list(self.dev.gpus.values())
        self.faults.close()
        for proc in self.processes.values():
            for vm in proc.vms.values():
                vm.pt.close()
        for gpu in gpus:
            if gpu.pq is not None:
                gpu.pq.close()
        self.dev.memory.close(gpus)
