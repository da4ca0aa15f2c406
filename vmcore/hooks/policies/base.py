"""The base of every policy: a family, a name, keyword-only parameters."""

from __future__ import annotations

from typing import Any, ClassVar

from vmcore.errors import VmcoreError


class PolicyError(VmcoreError, ValueError):
    """An unknown policy, or a parameter it does not take."""


class Policy:
    """A named decision-maker for one family.

    Subclasses set ``family``, ``name`` and ``params`` (parameter name -> default) and
    implement their family's decision hooks with ``@hookimpl``.
    """

    family: ClassVar[str] = ""
    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    doc: ClassVar[str] = ""

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise PolicyError(
                f"policy {self.family} = {self.name!r} takes no parameter {unknown[0]!r} (parameters: {known})"
            )
        self.args: dict[str, Any] = {**self.params, **kwargs}
        for k, v in self.args.items():
            default = self.params[k]
            if isinstance(default, bool) and not isinstance(v, bool):
                raise PolicyError(f"policy {self.name}: {k} must be true or false, got {v!r}")
            if (
                isinstance(default, int)
                and not isinstance(default, bool)
                and (isinstance(v, bool) or not isinstance(v, int) or v < 0)
            ):
                raise PolicyError(f"policy {self.name}: {k} must be a non-negative integer, got {v!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.family} = {self.name!r}" + (f"({args})" if args else "")
