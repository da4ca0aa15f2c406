"""A fast path through the LALR tables and per-state lexers Lark has built.

Parsing a scenario with Lark spends most of its time in call overhead: each token goes
through a scanner wrapper, a line counter, a parser-state property and a dictionary keyed
by `Rule` objects (hashed and compared per reduction).  `FastParser` drives the same
tables in one loop:

* lexing: Lark's per-state `BasicLexer`s (terminal priorities, keywords resolved against
  `NAME`, the ignored blanks: all Lark's own) give their compiled regexes; the loop
  matches them and counts lines itself.  Runs of ignored blanks are skipped with one
  regex instead of one match each; where a terminal of the state can itself begin with
  blanks (the `_SEP` separator), the match is redone at the first blank, as Lark does;
* parsing: Lark's LALR action table, with each reduction's rule resolved once to its
  length, child filter (Lark's LALR filter, run inline) and left-hand side; a rule the
  transformer handles through a `v_args` wrapper calls that wrapper directly, without
  the two frames Lark puts around it.

It only has a happy path.  On input it cannot lex or parse it returns `FAILED`, and the
caller parses the text again with Lark, which raises exactly the error it always raised.
`tests/dsl/test_lalr.py` checks that both give the same AST, positions included, and the
same errors.  Tables are built per LALR state when first reached, so start-up stays
Lark's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from types import FunctionType
from typing import Any, Final

from lark import Lark, Token, Transformer, Tree
from lark.lexer import ContextualLexer, PatternStr, UnlessCallback
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders
from lark.parsers.lalr_analysis import Shift
from lark.visitors import Transformer_InPlace

FAILED: Final = object()

# per lexer state: regexes, token callbacks, newline and ignore types, the terminals that
# may begin with a blank (their match must start at the first blank, as Lark's would),
# and keywords (lexed type -> literal -> keyword type: `on` lexed as NAME is the keyword)
_LexTable = tuple[
    list[Any],
    dict[str, Callable[[Token], Token]],
    frozenset[str],
    frozenset[str],
    frozenset[str],
    dict[str, dict[str, str]],
]

_BLANKS = re.compile("[ \t\f]+")
# what may follow a blank in .vms text, to find terminals that can start with one (a
# probe, not a proof: right for vms.lark, where only `_SEP` can; tests/dsl/test_lalr.py
# would see a terminal it misses as tokens placed differently from Lark's)
_AFTER_BLANK = ("\n", "\r\n", ";", "#", " ", "\t", "x", "0", '"', "{", "}", "+", "=", "<", ".")


# per parser state: terminal or rule name -> (True, (next state, terminal callback | None))
# for a shift, or
# (False, (size, child filter | None, callback, callback takes meta?, lhs)) for a reduce
_Action = tuple[bool, Any]


class FastParser:
    """Parses like `lark_parser` (an LALR parser with the contextual lexer and an inline
    transformer) or returns `FAILED`."""

    def __init__(self, lark_parser: Lark) -> None:
        frontend = lark_parser.parser
        lexer = frontend.lexer
        if type(lexer) is not ContextualLexer:
            raise TypeError(f"FastParser needs Lark's contextual lexer, not {type(lexer).__name__}")
        conf = frontend.lexer_conf
        ignored = set(conf.ignore)
        ignore = [t.pattern.to_regexp() for t in conf.terminals if t.name in ignored]
        if ignore != [_BLANKS.pattern] or ignored & set(conf.callbacks):
            # blanks are skipped before matching, so no other ignored token can occur
            raise TypeError("FastParser skips blanks itself: the grammar must %ignore exactly /[ \\t\\f]+/")
        (start,) = frontend.parser_conf.start
        inner = frontend.parser.parser
        table = inner.parse_table
        self._lark_states: dict[int, dict[str, tuple[Any, Any]]] = table.states
        self._callbacks: dict[Any, Callable[..., Any]] = inner.callbacks
        self._terminal_callbacks = {k: v for k, v in inner.callbacks.items() if isinstance(k, str)}
        self._transformer: Any = lark_parser.options.transformer
        self._default_is_tree = (
            lark_parser.options.tree_class in (None, Tree)
            and isinstance(self._transformer, Transformer)
            and type(self._transformer).__default__ is Transformer.__default__
        )
        self._start: int = table.start_states[start]
        self._end: int = table.end_states[start]
        self._lexers: dict[int, Any] = dict(lexer.lexers)
        self._lex_built: dict[int, _LexTable] = {}  # by id() of Lark's per-state lexer
        self._lex: dict[int, _LexTable] = {}  # by LALR state
        self._actions: dict[int, dict[str, _Action]] = {}

    def _lex_table(self, state: int) -> _LexTable:
        basic = self._lexers[state]
        got = self._lex_built.get(id(basic))
        if got is None:
            scanner = basic.scanner  # builds the regexes and the keyword callbacks
            ignore = frozenset(basic.ignore_types)
            blank_start = set()
            for t in basic.terminals:
                if t.name in ignore:
                    continue
                rx = re.compile(t.pattern.to_regexp(), basic.g_regex_flags)
                if any(rx.match(b + a) for b in " \t\f" for a in _AFTER_BLANK):
                    blank_start.add(t.name)
            callbacks = dict(basic.callback)
            keywords: dict[str, dict[str, str]] = {}
            for type_, cb in list(callbacks.items()):
                # Lark's keyword check (a NAME that fully matches a keyword literal becomes
                # that keyword) is a regex fullmatch over plain strings: a dict lookup
                words = getattr(cb, "scanner", None)
                if type(cb) is UnlessCallback and words is not None and not basic.g_regex_flags:
                    terms = words.terminals
                    if all(type(t.pattern) is PatternStr and not t.pattern.flags for t in terms):
                        keywords[type_] = {t.pattern.value: t.name for t in terms}
                        del callbacks[type_]
            got = (
                list(scanner._mres),
                callbacks,
                frozenset(basic.newline_types),
                ignore,
                frozenset(blank_start),
                keywords,
            )
            self._lex_built[id(basic)] = got
        self._lex[state] = got
        return got

    def _action_table(self, state: int) -> dict[str, _Action]:
        out: dict[str, _Action] = {}
        for name, (action, arg) in self._lark_states[state].items():
            if action is Shift:
                out[name] = (True, (arg, self._terminal_callbacks.get(name)))
            else:
                cb = self._callbacks.get(arg, list)  # no callback: the children as they are
                include, build, direct = None, cb, False
                if type(cb) is ChildFilterLALR_NoPlaceholders:
                    include = tuple(cb.to_include)
                    build, direct = self._rule_callback(arg, cb.node_builder)
                elif isinstance(cb, partial) or (isinstance(cb, FunctionType) and hasattr(cb, "__wrapped__")):
                    # no filter: Lark's callback is its v_args wrapper around the method
                    build, direct = self._rule_callback(arg, cb)
                out[name] = (False, (len(arg.expansion), include, build, direct, arg.origin.name))
        self._actions[state] = out
        return out

    def _rule_callback(self, rule: Any, node_builder: Any) -> tuple[Any, bool]:
        """The transformer's method for `rule` with its `v_args` wrapper, called without
        the two frames Lark puts around it, as `(callable, True)` taking (children, meta);
        Lark's own node builder, `(node_builder, False)`, for anything else."""
        name = rule.alias or rule.options.template_source or rule.origin.name
        method = getattr(self._transformer, name, None)
        wrapper = getattr(method, "visit_wrapper", None)
        base = getattr(method, "base_func", None)
        if method is None and self._default_is_tree:
            # no method: Lark's default callback builds Tree(name, children, None)
            return partial(Tree, name), False
        if wrapper is None or base is None or isinstance(self._transformer, Transformer_InPlace):
            return node_builder, False
        wrapped = getattr(node_builder, "__wrapped__", None)
        if wrapped is None or getattr(wrapped, "base_func", None) != base:
            return node_builder, False  # not the shape Lark 1.3 builds: leave it to Lark
        return partial(wrapper, base, name), True

    def parse(self, text: str) -> Any:
        """The transformer's result for `text`, or `FAILED` (then ask Lark for the error)."""
        actions = self._actions
        lex = self._lex
        new_str = str.__new__
        end_state = self._end
        states = [self._start]
        values: list[Any] = []
        pos = 0
        line = 1
        line_start = 0
        n = len(text)
        last: Token | None = None
        while True:
            # -- next token, lexed in the context of the current parser state
            state = states[-1]
            blank = pos
            if pos < n and text[pos] in " \t\f":  # skip ignored blanks without a token each
                pos = _BLANKS.match(text, pos).end()  # type: ignore[union-attr]
            if pos < n:
                lt = lex.get(state)
                if lt is None:
                    lt = self._lex_table(state)
                mres, tok_callbacks, newline_types, ignore_types, blank_start, keywords = lt
                m = None
                for mre in mres:
                    m = mre.match(text, pos)
                    if m is not None:
                        break
                if m is None:
                    return FAILED
                type_: str = m.lastgroup
                if blank != pos and type_ in blank_start:
                    # a terminal that may take the blanks too: match where Lark did
                    pos = blank
                    for mre in mres:
                        m = mre.match(text, pos)
                        if m is not None:
                            break
                    assert m is not None
                    type_ = m.lastgroup
                    if type_ in ignore_types:  # Lark skipped the blanks after all
                        pos = m.end()
                        continue
                value = m.group()
                start = pos
                col = pos - line_start + 1
                start_line = line
                pos = m.end()
                if type_ in newline_types:
                    k = value.count("\n")
                    if k:
                        line += k
                        line_start = start + value.rindex("\n") + 1
                lexed = type_
                words = keywords.get(type_)
                if words is not None:
                    type_ = words.get(value, type_)
                # Token(...) without the two Python frames of Lark's constructor
                tok = new_str(Token, value)
                tok.type = type_
                tok.value = value
                tok.start_pos = start
                tok.line = start_line
                tok.column = col
                tok.end_line = line
                tok.end_column = pos - line_start + 1
                tok.end_pos = pos
                cb = tok_callbacks.get(lexed)
                if cb is not None:
                    tok = cb(tok)
                    type_ = tok.type
                last = tok
                is_end = False
            else:
                type_ = "$END"
                tok = (
                    Token.new_borrow_pos("$END", "", last) if last is not None else Token("$END", "", 0, 1, 1)
                )
                is_end = True
            # -- feed it: reduce as far as the table says, then shift
            while True:
                acts = actions.get(state)
                if acts is None:
                    acts = self._action_table(state)
                act = acts.get(type_)
                if act is None:
                    return FAILED
                if act[0]:
                    if is_end:
                        return FAILED
                    nxt, tcb = act[1]
                    states.append(nxt)
                    values.append(tok if tcb is None else tcb(tok))
                    break
                size, include, build, direct, lhs = act[1]
                if size:
                    s = values[-size:]
                    del states[-size:]
                    del values[-size:]
                else:
                    s = []
                if include is not None:  # Lark's LALR child filter, inline
                    kept: list[Any] = []
                    for i, expand in include:
                        if not expand:
                            kept.append(s[i])
                        elif kept:
                            kept += s[i].children
                        else:
                            kept = s[i].children
                    s = kept
                state = states[-1]
                goto = actions.get(state)
                if goto is None:
                    goto = self._action_table(state)
                state = goto[lhs][1][0]
                states.append(state)
                values.append(build(s, None) if direct else build(s))
                if is_end and state == end_state:
                    return values[-1]
