"""Upstream's two job models and two fault paths (issue 14).

``queues = "kfd"`` (the default): a compute job is work on a KFD user queue and carries
no dma-fence; a KFD process has one eviction fence whose first wait preempts its queues.
``queues = "cs"``: the thread's ``amdgpu_cs`` model.  ``amdgpu_vm_handle_fault`` (an
address that is no SVM range) updates on the immediate entity with ``no_wait_gpu`` page
tables; ``svm_range_restore_pages`` maps on the delayed entity and allocates as TTM does.
"""

from __future__ import annotations

from typing import Any

from tests.engine.scenarios import ENGINES, KiB, MiB
from vmcore.engine import Result, Scenario
from vmcore.engine.gpu.process import PREEMPT_NS, PROCESS_RESTORE_NS
from vmcore.hooks.decisions import AllocMode, AllocRequest, UpdatePath, UpdateRequest
from vmcore.hooks.hookspecs import hookimpl
from vmcore.hooks.manager import plugin_manager
from vmcore.hooks.policies import Policy


def scenario(name: str, vram: int = 16 * MiB, **policies: str) -> Scenario:
    s = Scenario(name)
    s.gpu("gpu0", vram=vram, engines=ENGINES)
    for family, policy in policies.items():
        s.policy(family, policy)
    return s


def events(r: Result, action: str) -> list[tuple[int, str, str, str]]:
    return [e for e in r.log if e[2] == action]


def shared_bo(queues: str) -> Result:
    """c1 (compute) writes `buf`; m1 (an MM job, always amdgpu_cs) reads it after c1."""
    s = scenario(f"fences with {queues}", queues=queues)
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system", preferred="system")
    s.bo("buf", "gpu0.vram", 64 * KiB, "app")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB), uses=[("buf", True)], takes=10_000)
    s.job("m1", "vcn0", "app", uses=[("buf", False)], after=["c1"])
    s.expect("no deadlock")
    s.run_until_idle()
    return s.run()


def test_a_kfd_job_puts_no_fence_on_its_bos_or_page_tables() -> None:
    kfd = shared_bo("kfd")
    assert kfd.passed, kfd.summary()
    found = kfd.findings.get("user fence on page tables", [])
    # only m1, an amdgpu_cs job on an mm engine, lands on the page tables
    assert [f.message for f in found] == [
        "job m1's user fence was added to the page-table reservation of app on gpu0"
    ]
    cs = shared_bo("cs")
    assert cs.passed, cs.summary()
    assert any("job c1's" in f.message for f in cs.findings["user fence on page tables"])


def test_a_cs_job_after_a_kfd_job_is_submitted_once_that_job_completed() -> None:
    kfd = shared_bo("kfd")
    done_c1 = next(t for t, _, a, d in kfd.log if a == "done" and d == "c1")
    submit_m1 = next(t for t, _, a, d in kfd.log if a == "submit" and d.startswith("m1 "))
    assert submit_m1 >= done_c1
    cs = shared_bo("cs")
    done_c1 = next(t for t, _, a, d in cs.log if a == "done" and d == "c1")
    submit_m1 = next(t for t, _, a, d in cs.log if a == "submit" and d.startswith("m1 "))
    assert submit_m1 < done_c1  # the CS model queues m1 behind c1's fence at once


def eviction_of_another_process(queues: str) -> Result:
    """`other` runs a long job while `app`'s fault needs the VRAM `other`'s idle BO holds."""
    s = Scenario(f"eviction with {queues}")
    s.gpu("gpu0", vram=16 * MiB, engines=[*ENGINES, ("comp1", "compute", True, False)])
    s.policy("queues", queues)
    s.process("app", ["gpu0"])
    s.process("other", ["gpu0"])
    s.svm("other", 0x5000_0000, 2 * MiB, "system", preferred="system")
    s.bo("big", "gpu0.vram", 15 * MiB, "other")
    s.svm("app", 0x4000_0000, 1 * MiB, "system")
    s.job("o1", "comp1", "other", touches=(0x5000_0000, 64 * KiB), takes=500_000)
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 64 * KiB))
    s.run_until_idle()
    s.expect("no deadlock")
    s.expect("no potential deadlock")
    s.expect("in", 0x4000_0000, 64 * KiB, "app", "gpu0.vram")
    return s.run()


def test_waiting_for_an_eviction_fence_preempts_the_queues_and_the_restore_worker_resumes_them() -> None:
    r = eviction_of_another_process("kfd")
    assert r.passed, r.summary()
    (evict,) = events(r, "evict queues")
    (preempted,) = events(r, "queues preempted")
    (restore,) = events(r, "restore queues")
    assert evict[3].startswith("other: fault handler gpu0 waits for its eviction fence")
    assert preempted[0] == evict[0] + PREEMPT_NS
    assert restore[0] == preempted[0] + PROCESS_RESTORE_NS
    # other's job was stopped until the restore worker resumed the queues
    done_o1 = next(t for t, _, a, d in r.log if a == "done" and d == "o1")
    assert done_o1 > restore[0]
    assert r.process_metrics["other"]["evictions"] == 1


def test_without_kfd_queues_there_is_no_eviction_fence_to_wait_for() -> None:
    r = eviction_of_another_process("cs")
    assert r.passed, r.summary()
    assert not events(r, "evict queues")


def test_an_allocation_in_a_kfd_process_context_does_not_evict_its_own_range() -> None:
    def run(queues: str) -> Result:
        s = scenario(f"own range with {queues}", vram=1 * MiB, queues=queues)
        s.process("app", ["gpu0"])
        s.svm("app", 0x1000_0000, 64 * KiB, "system")
        s.job("c0", "comp0", "app", touches=(0x1000_0000, 4 * KiB))
        s.run_until_idle()
        s.bo("filler", "gpu0.vram", 1008 * KiB, "app")
        return s.run()

    assert run("kfd").metrics["alloc_failures"] == 1  # amdkfd_fence_check_mm(f, current->mm)
    cs = run("cs")
    assert cs.metrics["alloc_failures"] == 0 and cs.metrics["evictions"] >= 1


SEEN: list[tuple[str, Any]] = []


class RecordUpdates(Policy):
    """Records the update questions; decides nothing (the default answers)."""

    family = "update"
    name = "record-updates"

    @hookimpl
    def vmcore_update_path(self, request: UpdateRequest) -> UpdatePath | None:
        SEEN.append(("update", request))
        return None


class RecordAllocs(Policy):
    """Records the fault handler's allocation questions; decides nothing."""

    family = "alloc"
    name = "record-allocs"

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode | None:
        SEEN.append(("alloc", request))
        return None


class RecorderPlugin:
    @hookimpl
    def vmcore_policies(self) -> list[type[Policy]]:
        return [RecordUpdates, RecordAllocs]


def test_the_two_fault_paths_ask_with_their_own_flags() -> None:
    pm = plugin_manager(entry_points=False)
    pm.register(RecorderPlugin(), name="recorder")
    SEEN.clear()
    s = Scenario("two paths", plugins=pm)
    s.gpu("gpu0", vram=16 * MiB, engines=ENGINES)
    s.policy("update", "record-updates")
    s.policy("alloc", "record-allocs")
    s.policy("fault", "dummy-page")
    s.process("app", ["gpu0"])
    s.svm("app", 0x4000_0000, 2 * MiB, "system")
    s.job("c1", "comp0", "app", touches=(0x4000_0000, 4 * KiB))  # an SVM range
    s.job("c2", "comp0", "app", touches=(0x7000_0000, 4 * KiB), after=["c1"])  # nothing there
    s.run_until_idle()
    r = s.run()
    assert r.passed, r.summary()
    updates = [q for k, q in SEEN if k == "update" and q.fault_path]
    assert {(q.kind, q.svm) for q in updates} == {("map", True), ("map", False)}
    allocs = [q for k, q in SEEN if k == "alloc"]
    assert {q.svm for q in allocs if q.purpose == "migration"} == {True}
    assert {q.svm for q in allocs if q.purpose == "pt"} == {True, False}


def test_the_default_policies_answer_per_fault_path() -> None:
    from vmcore.hooks.policies.alloc import Ttm
    from vmcore.hooks.policies.update import SplitEntities

    assert Ttm().vmcore_alloc_mode(AllocRequest("gpu0", "pt", 4096, "app", svm=True)) is AllocMode.TTM
    assert Ttm().vmcore_alloc_mode(AllocRequest("gpu0", "pt", 4096, "app", svm=False)) is AllocMode.NO_WAIT
    split = SplitEntities()
    assert split.vmcore_update_path(UpdateRequest("gpu0", "app", True, "map", svm=False)) is UpdatePath.IMMEDIATE
    assert split.vmcore_update_path(UpdateRequest("gpu0", "app", True, "map", svm=True)) is UpdatePath.DELAYED
    assert split.vmcore_update_path(UpdateRequest("gpu0", "app", False, "unmap")) is UpdatePath.DELAYED


def test_a_busy_page_table_is_no_candidate_unless_evict_lru() -> None:
    """The thread's case 1 with CS fences on the page tables: under ``ttm`` the fault
    handler evicts the idle filler, under ``evict-lru`` the busy page table (and waits on
    the faulting job itself)."""
    from tests.engine.scenarios import pt_eviction

    upstream = pt_eviction("cs-fences-on-pt")
    upstream.policy("alloc", "ttm")
    upstream.expect("no deadlock")
    r = upstream.run()
    assert r.passed, r.summary()
    assert any(d.startswith("filler") for _, _, a, d in r.log if a == "evicted")
    assert not any(".pt" in d for _, _, a, d in r.log if a == "evict")
    hazard = pt_eviction("cs-fences-on-pt")
    hazard.expect("deadlock")
    r = hazard.run()
    assert r.passed, r.summary()
