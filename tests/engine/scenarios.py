"""Scenario builders shared by the engine tests: the seed thread's cases in code."""

from __future__ import annotations

from vmcore.engine import Scenario

MiB = 1 << 20
KiB = 1 << 10
ENGINES = [("comp0", "compute", True, False), ("vcn0", "mm", False, False), ("sdma0", "sdma", False, False)]


def base(name: str, vram: int = 16 * MiB, **policies: str) -> Scenario:
    """A scenario on one GPU; the thread's cases are about ``amdgpu_cs`` compute jobs, so
    ``queues`` is ``cs`` unless given."""
    s = Scenario(name)
    s.gpu("gpu0", vram=vram, engines=ENGINES)
    policies.setdefault("queues", "cs")
    for family, policy in policies.items():
        s.policy(family, policy)
    return s


def fault_path_eviction(alloc: str) -> Scenario:
    """Case 3/4 of the thread: c1 faults; its granule fits only if `video` is evicted;
    `video` carries m1's fence; m1 (on an MM engine, no retry faults) runs after c1."""
    s = base(f"fault-path eviction with {alloc}", alloc=alloc)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 1 * MiB, "system")
    s.bo("video", "gpu0.vram", 15 * MiB, "app")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * KiB))
    s.job("m1", "vcn0", "app", uses=[("video", True)], after=["c1"])
    s.run_until_idle()
    return s


def pt_eviction(pt_fences: str) -> Scenario:
    """Case 1: the fault handler must evict a page table; with CS fences on the shared
    PD/PT reservation that waits on the faulting job itself."""
    s = base(f"page-table eviction with {pt_fences}", vram=1 * MiB, alloc="evict-lru", pt_fences=pt_fences)
    s.process("app", ["gpu0"])
    s.svm("app", 0x1000_0000, 64 * KiB, "system")
    s.svm("app", 0x80_0000_0000, 64 * KiB, "system", preferred="system")
    s.job("c0", "comp0", "app", touches=(0x1000_0000, 4 * KiB))
    s.run_until_idle()
    s.bo("filler", "gpu0.vram", 1 * MiB - 4 * 4 * KiB, "app")
    s.job("c1", "comp0", "app", touches=(0x80_0000_0000, 4 * KiB))
    s.run_until_idle()
    return s


def delayed_entity(update: str) -> Scenario:
    """Case 6: an unmap waits for the VM's user fences on the delayed entity; a fault-path
    update (``amdgpu_vm_handle_fault`` writing the dummy page at an address no range or BO
    maps) queued behind it on the same entity waits for the faulting job."""
    s = base(f"fault-path updates with {update}", update=update, fault="dummy-page")
    s.process("app", ["gpu0"])
    s.bo("buf", "gpu0.vram", 64 * KiB, "app")
    s.map("buf", "app", 0x9000_0000)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 8 * KiB))
    s.unmap("buf", "app")
    s.run_until_idle()
    return s
