"""What follows ``expect``: predicate nodes, each kind with its checks, its plan and its text.

A kind is one entry of :data:`KINDS`: how the compiler checks it, how it becomes the
engine's predicate, and how the formatter prints it, side by side.  The run checks
(``no deadlock`` ...) are one kind whose names come from the engine
(:data:`vmcore.engine.checks.RUN_PREDICATES`).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from vmcore.dsl.ast.values import NOPOS, Loc, Pos, Val, text_of
from vmcore.dsl.names import METRICS, PROCESS_METRICS, RUN_CHECKS, RUN_PREDICATES

if TYPE_CHECKING:
    from vmcore.dsl.compiler import Checker
    from vmcore.engine import Scenario


@dataclass(frozen=True, slots=True)
class Pred:
    """A predicate: ``kind`` is one of the run checks (``no deadlock`` ...), ``ring``,
    ``killed``, ``alive``, ``in``, ``reads``, ``resolved``, ``metric`` or ``plugin``."""

    kind: str
    args: tuple[object, ...] = ()
    short: bool = False
    """Written in the short form (``deadlock`` for ``not no deadlock``)."""
    pos: Pos = field(default=NOPOS, compare=False)

    @property
    def spec(self) -> type[Kind]:
        return KINDS["run" if self.kind in RUN_PREDICATES else self.kind]

    def check(self, c: Checker) -> None:
        self.spec.check(self, c)

    def build(self, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        self.spec.build(self, c, s, negate, line)

    def format(self, negate: bool) -> str:
        """The predicate as written (``negate``: after ``expect not``)."""
        return self.spec.format(self, "not " if negate and not self.short else "")


class Kind(ABC):
    """One kind of predicate: its check, its plan and its text.

    ``rule`` names the grammar rule that writes the kind when the parser may build the
    node from the rule's children as they come (:meth:`args`); kinds whose syntax needs
    sorting out have a parser method instead. ``forms`` are how the kind is written, as
    error messages list the predicates (``ring R intact``); a form that starts with a
    keyword also answers "did you mean" for that word.
    """

    rule: ClassVar[str] = ""
    forms: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def args(children: list[object]) -> tuple[object, ...]:
        """The node's ``args`` from the children of its grammar rule: words as text,
        values (``Val``, ``Loc``) as they are."""
        return tuple(str(x) if isinstance(x, str) else x for x in children)

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        """Refuse what could never hold (unknown names, bad values), as a VmsError;
        a run check (``no deadlock`` ...) has nothing to refuse."""
        return None

    @staticmethod
    @abstractmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        """Add the engine's expectation to ``s``."""

    @staticmethod
    @abstractmethod
    def format(p: Pred, neg: str) -> str:
        """The predicate as written; ``neg`` is ``"not "`` or ``""``."""


class _Run(Kind):
    """``no deadlock``, ``deadlock`` ...: judged over the whole run."""

    forms = RUN_PREDICATES

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        s.expect(p.kind, negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        return p.kind[3:] if p.short else f"{neg}{p.kind}"


class _Ring(Kind):
    """``ring R intact``."""

    rule = "ring_pred"
    forms = ("ring R intact",)

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        ring = str(p.args[0])
        sdma = [e for e, (_, d) in c.topo.engines.items() if d.kind == "sdma"]
        if ring not in sdma:
            raise c.unknown("ring (an sdma engine)", ring, p.pos, sdma)

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        s.expect("ring intact", str(p.args[0]), negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        return f"{neg}ring {p.args[0]} intact"


class _ProcState(Kind):
    """``P killed``, ``P alive``."""

    forms = ("P killed", "P alive")

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        c.process(str(p.args[0]), p.pos)

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        s.expect(p.kind, str(p.args[0]), negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        return f"{neg}{p.args[0]} {p.kind}"


class _Data(Kind):
    """``ADDR [+SIZE] of P in LOC`` and ``ADDR [+SIZE] of P reads V``."""

    forms = ("ADDR of P in LOC", "ADDR of P reads V")

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        addr, ext, proc, last = p.args
        assert isinstance(addr, Val)
        c.addr_range(addr, ext if isinstance(ext, Val) else None)
        c.process(str(proc), p.pos)
        if p.kind == "in":
            assert isinstance(last, Loc)
            c.loc(last)
            if last.domain == "gtt":
                raise c.err("data is either in system or in GPU.vram (GTT pages count as system)", last.pos)
        else:
            assert isinstance(last, Val)
            c.intval(last, "a value")

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        addr, ext, proc, last = p.args
        assert isinstance(addr, Val)
        a, size = c.addr_range(addr, ext if isinstance(ext, Val) else None)
        other = str(last) if p.kind == "in" else c.intval(last)  # type: ignore[arg-type]
        s.expect(p.kind, a, size, str(proc), other, negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        addr, ext, proc, last = p.args
        s = f"{neg}{text_of(addr)}"  # type: ignore[arg-type]
        if isinstance(ext, Val):
            s += f" +{text_of(ext)}"
        return s + f" of {proc} {p.kind} {last if p.kind == 'in' else text_of(last)}"  # type: ignore[arg-type]


class _Resolved(Kind):
    """``fault at ADDR of P [on GPU] resolved [within T]``."""

    forms = ("fault at ADDR of P resolved",)

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        addr, proc, gpu, within = p.args
        assert isinstance(addr, Val)
        c.addr_range(addr, None, page=False)
        gpus = c.process(str(proc), p.pos)
        if gpu is not None:
            c.gpu(str(gpu), p.pos)
            # as for `evict ... on GPU`: a process faults only on the GPUs it has VMs on,
            # so this could never hold (and only fail at run time)
            if gpu not in gpus:
                raise c.err(f"process {proc} has no VM on {gpu}", p.pos)
        if isinstance(within, Val):
            c.timeval(within)

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        addr, proc, gpu, within = p.args
        assert isinstance(addr, Val)
        w = c.timeval(within) if isinstance(within, Val) else None
        s.expect("resolved", c.intval(addr), str(proc), gpu, w, negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        addr, proc, gpu, within = p.args
        s = f"{neg}fault at {text_of(addr)} of {proc}"  # type: ignore[arg-type]
        if gpu:
            s += f" on {gpu}"
        s += " resolved"
        if isinstance(within, Val):
            s += f" within {text_of(within)}"
        return s


class _Metric(Kind):
    """``METRIC [of P] OP N``."""

    rule = "metric_pred"
    forms = ("METRIC OP N", "METRIC of P OP N")

    @staticmethod
    def args(children: list[object]) -> tuple[object, ...]:
        """(metric, op, value) or, for ``METRIC of P OP N``, (metric, op, value, P)."""
        words = Kind.args(children)
        if len(words) == 4:
            name, proc, op, value = words
            return (name, op, value, proc)
        return words

    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        name, _, value = p.args[:3]
        if len(p.args) > 3:
            c.process(str(p.args[3]), p.pos)
            if name not in PROCESS_METRICS:
                known = ", ".join(PROCESS_METRICS)
                raise c.err(
                    f"metric {name!r} belongs to the GPUs, not to one process (per process: {known})", p.pos
                )
        # The engine's metrics and those plugins name in `vmcore_metric_names`.  A plugin
        # *predicate* name was accepted here too, and the run then failed with a KeyError:
        # a predicate is no metric.
        if name not in METRICS and name not in c.comp.plugin_metrics:
            raise c.unknown("metric", str(name), p.pos, [*METRICS, *c.comp.plugin_metrics])
        assert isinstance(value, Val)
        r = c.val(value)
        if r.kind not in ("int", "decimal", "size", "time"):
            raise c.err(f"a metric compares with a number, got {r.text or r.value!r}", value.pos)

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        name, op, value = p.args[:3]
        assert isinstance(value, Val)
        of = (str(p.args[3]),) if len(p.args) > 3 else ()
        s.expect("metric", str(name), str(op), c.val(value).value, *of, negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        of = f" of {p.args[3]}" if len(p.args) > 3 else ""
        return f"{neg}{p.args[0]}{of} {p.args[1]} {text_of(p.args[2])}"  # type: ignore[arg-type]


class _Plugin(Kind):
    """``NAME ARG ...``: a predicate a plugin adds."""


    @staticmethod
    def check(p: Pred, c: Checker) -> None:
        name = str(p.args[0])
        if name in c.comp.plugin_predicates:
            return
        # Suggest whole predicates ('stale pte', not 'stale'), and for a bare process
        # name say what it takes rather than "did you mean" that same name.
        words = {
            **_KEYWORD_FORMS,
            **{check.split()[0]: check for check in RUN_CHECKS},
            **{m: f"{m} OP N" for m in METRICS},
            **{pr: f"{pr} killed" for pr in c.processes},
            **{pp: pp for pp in c.comp.plugin_predicates},
        }
        close = difflib.get_close_matches(name, sorted(words), n=1, cutoff=0.6)
        hint = f"did you mean {words[close[0]]!r}?" if close else None
        if name in c.processes and len(p.args) == 1:
            hint = f"a process takes 'killed' or 'alive': 'expect {name} killed'"
        raise c.err(
            f"unknown expectation {' '.join(str(a) for a in p.args)!r}",
            p.pos,
            hint=hint,
            expected=EXPECTED,
        )

    @staticmethod
    def build(p: Pred, c: Checker, s: Scenario, negate: bool, line: int) -> None:
        # A NAME argument is a loop variable only when there is one by that name; any
        # other name (`expect ring_quiet sdma0`) is passed as written.  Resolving every
        # name raised a VmsError here, at build time, for a scenario that had compiled.
        args = [
            p.args[0],
            *(
                str(c.val(a).value) if isinstance(a, Val) and (a.kind != "name" or a.value in c.env)
                else str(a.value) if isinstance(a, Val) else str(a)
                for a in p.args[1:]
            ),
        ]  # fmt: skip
        s.expect("plugin", *args, negate=negate, line=line)

    @staticmethod
    def format(p: Pred, neg: str) -> str:
        return neg + " ".join(text_of(x) if isinstance(x, Val) else str(x) for x in p.args)


KINDS: dict[str, type[Kind]] = {
    "run": _Run,
    "ring": _Ring,
    "killed": _ProcState,
    "alive": _ProcState,
    "in": _Data,
    "reads": _Data,
    "resolved": _Resolved,
    "metric": _Metric,
    "plugin": _Plugin,
}
"""Predicate kind -> how it is checked, built and written."""

PRED_RULES: dict[str, str] = {cls.rule: kind for kind, cls in KINDS.items() if cls.rule}
"""Grammar rule -> the kind the parser builds from it with :meth:`Kind.args`."""

_FORMS = [form for cls in dict.fromkeys(KINDS.values()) for form in cls.forms]
EXPECTED = ", ".join(_FORMS) + ", or a plugin predicate"
"""Every built-in predicate as written, for "expected: ..." in errors."""
# the first form of each leading keyword (`no` -> `no deadlock`, `ring` -> `ring R intact`)
_KEYWORD_FORMS = {
    f.split()[0]: f for f in reversed(_FORMS) if f.split()[0].islower()
}


__all__ = ["EXPECTED", "KINDS", "PRED_RULES", "Kind", "Pred"]
