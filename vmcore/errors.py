"""The exception hierarchy every vmcore layer raises.

Each error is both a :class:`VmcoreError` and, where one fits, the matching builtin
(``ValueError``, ``LookupError``, ``RuntimeError``, ``MemoryError``), so callers can
catch either.  Errors from the C core carry the status code they came from.
"""

from __future__ import annotations

import traceback


class VmcoreError(Exception):
    """Base of every error vmcore raises on purpose."""


class CoreError(VmcoreError):
    """The C core refused a call; ``status`` is its VMC_E_* code."""

    status: int = 0

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class InvalidArgument(CoreError, ValueError):
    """An argument has a value the call cannot take."""


class OutOfRange(InvalidArgument):
    """An address or count lies outside what the object covers."""


class Misaligned(InvalidArgument):
    """An address or size is not aligned as required."""


class LimitExceeded(InvalidArgument):
    """A configured capacity limit would be exceeded."""


class BadHandle(CoreError, LookupError):
    """An unknown, freed or foreign handle."""


class StateError(CoreError, RuntimeError):
    """The object is in the wrong state for this call."""


class LockError(StateError):
    """A ring lock is not held by the caller, or is held by another owner."""


class BusyError(StateError):
    """The object is in use: pinned, has children, or already exists."""


class MissingPageTable(StateError):
    """A page-table BO the call needs is not allocated."""


class NoSpace(CoreError):
    """A memory pool or ring has no room for the request."""


class RingCorrupt(CoreError):
    """The ring holds a corrupt packet."""


class HostOutOfMemory(CoreError, MemoryError):
    """The host could not allocate memory for the core."""


class EngineError(VmcoreError):
    """The simulation cannot go on: a budget ran out or an actor failed."""


class BudgetExceeded(EngineError):
    """The event budget, the simulated-time budget or the wall-clock budget ran out (a
    runaway scenario); the message says which and where."""


class ScenarioError(VmcoreError, ValueError):
    """A scenario asks for something the model cannot set up (a semantic error)."""


class InternalError(VmcoreError, RuntimeError):
    """A bug inside vmcore stopped a run: an exception the engine did not raise on purpose
    (or a core call it should never have made).  The message names the scenario and the
    step (step count, simulated time, the running actor and its statement) and carries
    the traceback; ``cause`` is the original exception (it is raised ``from`` it)."""

    @property
    def cause(self) -> BaseException | None:
        return self.__cause__

    @classmethod
    def of(cls, scenario: str, where: str, cause: BaseException) -> InternalError:
        """The error for ``cause``, which escaped a run of ``scenario`` at ``where``: a line
        naming both, then the traceback, indented, as part of the report (without Python's
        own header: the exception is reported, it did not escape)."""
        frames = traceback.format_exception(type(cause), cause, cause.__traceback__)
        body = "".join(f for f in frames if not f.startswith("Traceback (most recent call last)"))
        tb = "\n".join("    " + line for line in body.rstrip().splitlines())
        return cls(
            f"internal error in scenario {scenario!r} ({where}): {type(cause).__name__}: {cause}\n"
            f"this is a bug in vmcore, not in the scenario; its traceback:\n{tb}"
        )
