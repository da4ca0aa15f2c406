"""vmcore plugin: the ``alloc`` policy ``reserve-pool``.

Felix Kuehling's proposal in the 2019 thread: page tables allocated by the fault
handler come from a small VRAM reserve set aside per GPU when the scenario starts.
Page tables carry no user fences, so the reserve never waits on user work, and the
fault handler can always make progress even when VRAM is full of busy user BOs.

Parameters (keyword-only, as every vmcore policy's)::

    policy alloc = "reserve-pool"(size = 64KiB, reserve_only_for = "app", fallback = "no-wait")

``size``
    bytes of VRAM set aside for page tables on every GPU (default 256KiB; 0: no reserve).
``reserve_only_for``
    ``"*"`` (default): every process's page tables may use the reserve; otherwise a
    comma-separated list of process names: only their page tables do, so a noisy
    process cannot drain the reserve a latency-critical one depends on.
``fallback``
    how every other fault-path allocation gets memory (migration pages, page tables
    of processes not in ``reserve_only_for``): ``"no-wait"`` (default: evict only idle
    BOs, as upstream) or ``"fail"`` (never evict; the fault is retried later).
    ``"wait"`` is refused: waiting for busy victims is the fault-path deadlock this
    policy exists to avoid.  A page table that finds the reserve full is allocated
    ``no-wait`` by the engine whatever ``fallback`` says (the hook cannot ask for
    "the reserve, else fail").
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore import AllocMode, AllocRequest, Policy, PolicyError, hookimpl

__version__ = "0.1.0"

FALLBACKS: dict[str, AllocMode] = {"no-wait": AllocMode.NO_WAIT, "fail": AllocMode.FAIL}


class ReservePool(Policy):
    """Page tables from a per-GPU VRAM reserve; everything else as ``fallback``."""

    family = "alloc"
    name = "reserve-pool"
    params: ClassVar[dict[str, Any]] = {"size": 256 * 1024, "reserve_only_for": "*", "fallback": "no-wait"}
    doc = (
        "Page tables come from a VRAM reserve of `size` bytes per GPU, for the processes in "
        "`reserve_only_for` (default every one); other allocations as `fallback` (no-wait or fail)."
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        only = self.args["reserve_only_for"]
        if not isinstance(only, str):
            raise PolicyError(
                f'policy {self.name}: reserve_only_for must be a string such as "*" or "app, ml", got {only!r}'
            )
        names = {n.strip() for n in only.split(",") if n.strip()}
        if not names:
            raise PolicyError(
                f'policy {self.name}: reserve_only_for names no process (use "*" for every one)'
            )
        self.only: frozenset[str] | None = None if "*" in names else frozenset(names)
        fb = self.args["fallback"]
        if fb not in FALLBACKS:
            raise PolicyError(
                f"policy {self.name}: fallback must be one of {', '.join(map(repr, FALLBACKS))}, got {fb!r}"
                + (" (waiting on busy victims is the fault-path deadlock)" if fb == "wait" else "")
            )
        self.fallback = FALLBACKS[str(fb)]

    def uses_reserve(self, request: AllocRequest) -> bool:
        """Whether ``request`` may be served from the page-table reserve."""
        return request.purpose == "pt" and (self.only is None or request.process in self.only)

    @hookimpl
    def vmcore_pt_reserve(self, gpu: str, vram_size: int) -> int:
        return int(self.args["size"])

    @hookimpl
    def vmcore_alloc_mode(self, request: AllocRequest) -> AllocMode:
        # The engine honours RESERVE for page tables only, and turns it into NO_WAIT when
        # the reserve is full.
        return AllocMode.RESERVE if self.uses_reserve(request) else self.fallback


@hookimpl
def vmcore_policies() -> list[Any]:
    """The policies this plugin adds (the module itself is the plugin)."""
    return [ReservePool]


__all__ = ["FALLBACKS", "ReservePool", "vmcore_policies"]
