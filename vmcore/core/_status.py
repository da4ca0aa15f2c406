"""Turns C status codes into typed exceptions whose messages name the arguments."""

from __future__ import annotations

from typing import Final, Self

from vmcore._core import lib
from vmcore.errors import (
    BadHandle,
    BusyError,
    CoreError,
    HostOutOfMemory,
    InvalidArgument,
    LimitExceeded,
    LockError,
    Misaligned,
    MissingPageTable,
    NoSpace,
    OutOfRange,
    RingCorrupt,
    StateError,
)

U64_MAX: Final = (1 << 64) - 1
U32_MAX: Final = (1 << 32) - 1

_ERRORS: Final[dict[int, tuple[type[CoreError], str]]] = {
    lib.VMC_E_INVAL: (InvalidArgument, "invalid argument"),
    lib.VMC_E_RANGE: (OutOfRange, "out of range"),
    lib.VMC_E_ALIGN: (Misaligned, "not aligned"),
    lib.VMC_E_HANDLE: (BadHandle, "unknown or freed handle"),
    lib.VMC_E_STATE: (StateError, "wrong state for this call"),
    lib.VMC_E_NOMEM: (HostOutOfMemory, "host out of memory"),
    lib.VMC_E_NOSPACE: (NoSpace, "no space left"),
    lib.VMC_E_LOCK: (LockError, "lock not held by this owner"),
    lib.VMC_E_BUSY: (BusyError, "busy"),
    lib.VMC_E_MISSING: (MissingPageTable, "page table not allocated"),
    lib.VMC_E_LIMIT: (LimitExceeded, "limit exceeded"),
    lib.VMC_E_CORRUPT: (RingCorrupt, "ring holds a corrupt packet"),
}


def _fmt(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return repr(value)
    return hex(value) if value > 9 or value < -9 else str(value)


_ALIGN: Final[dict[str, int]] = {
    "va": 4096,
    "phys": 4096,
    "addr": 4096,
    "root_addr": 4096,
    "new_addr": 4096,
    "size": 4096,
    "dst": 4,
    "pe": 8,
}
_VA_LIMIT: Final = 1 << 48


def _blame(status: int, args: dict[str, object]) -> str | None:
    """Name the argument a range or alignment status is about, when it can be told."""
    ints = {k: v for k, v in args.items() if isinstance(v, int) and not isinstance(v, bool)}
    if status == lib.VMC_E_ALIGN:
        for name, align in _ALIGN.items():
            v = ints.get(name)
            if v is not None and v % align:
                return f"{name}={_fmt(v)} is not aligned to {align} bytes"
    if status == lib.VMC_E_RANGE:
        for name in ("va", "phys", "addr", "root_addr", "new_addr"):
            v = ints.get(name)
            if v is not None and v >= _VA_LIMIT:
                return f"{name}={_fmt(v)} lies past the 48-bit address space (0x1_0000_0000_0000)"
        va, npages = ints.get("va"), ints.get("npages")
        if va is not None and npages is not None:
            return (
                f"va={_fmt(va)} with npages={npages} ends at {_fmt(va + npages * 4096)}, "
                "past the 48-bit address space (0x1_0000_0000_0000)"
            )
    return None


def fail(status: int, op: str, detail: str | None = None, /, **args: object) -> CoreError:
    """The exception for ``status`` raised by ``op`` called with ``args``."""
    cls, what = _ERRORS.get(status, (CoreError, f"status {status}"))
    detail = detail or _blame(status, args)
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in args.items())
    msg = f"{op}({shown}): {detail or what}"
    return cls(msg, status)


def check(status: int, op: str, detail: str | None = None, /, **args: object) -> None:
    """Raise the typed error for a non-zero status."""
    if status:
        raise fail(status, op, detail, **args)


def uint(op: str, name: str, value: object, bits: int = 64) -> int:
    """Validate that ``value`` fits an unsigned C integer of ``bits`` bits."""
    if type(value) is int and 0 <= value < (1 << bits):
        return value  # the common case, kept cheap: this runs on every core call
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}",
            lib.VMC_E_INVAL,
        )
    if value < 0 or value >= 1 << bits:
        raise OutOfRange(
            f"{op}: {name}={_fmt(value)} is outside 0..{_fmt((1 << bits) - 1)}",
            lib.VMC_E_RANGE,
        )
    return value


def sint(op: str, name: str, value: object, bits: int = 32) -> int:
    """Validate that ``value`` fits a signed C integer of ``bits`` bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}",
            lib.VMC_E_INVAL,
        )
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not lo <= value <= hi:
        raise OutOfRange(f"{op}: {name}={value} is outside {lo}..{hi}", lib.VMC_E_RANGE)
    return value


class CoreObject:
    """A Python owner of one C context: ``close()`` destroys it (each class says how);
    ``with`` and garbage collection close it too."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
