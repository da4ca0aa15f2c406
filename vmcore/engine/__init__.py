"""The engine: a deterministic discrete-event simulation of GPU virtual memory.

Build a :class:`Scenario` (one method per statement of the .vms language) and ``run()``
it; the :class:`Result` holds each expectation's verdict, the checks' findings, the
metrics and the event log.
"""

from __future__ import annotations

from vmcore.engine.scenario import Expectation, Outcome, Result, Scenario
from vmcore.engine.sim import BudgetExceeded, EngineError, Scheduler
from vmcore.engine.system import ScenarioError

__all__ = [
    "BudgetExceeded",
    "EngineError",
    "Expectation",
    "Outcome",
    "Result",
    "Scenario",
    "ScenarioError",
    "Scheduler",
]
