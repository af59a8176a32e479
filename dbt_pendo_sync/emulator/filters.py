"""The expressions of an aggregation's `filter` step, as the emulator plays them: parsed into a
predicate over rows, never evaluated as code.

    expr       := and ("||" and)*
    and        := unary ("&&" unary)*
    unary      := "!" unary | "(" expr ")" | comparison
    comparison := operand ("==" | "!=" | "<" | ">" | "<=" | ">=") operand | operand "in" list
    operand    := path | "text" | number | true | false | null
    list       := "[" [literal ("," literal)*] "]"

A path names a field of the row (``visitorId``) or walks into it (``metadata.custom.plan``);
a field a row lacks is null. Texts are JSON strings. ``<``, ``>``, ``<=`` and ``>=`` compare two
texts (by code point) or two numbers, and are false for anything else.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
Read = Callable[[Row, str], Any]  # the value a path names in a row

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<text>"(?:[^"\\\x00-\x1f]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>()\[\],!])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_LITERALS = {"true": True, "false": False, "null": None}
_ORDERS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}
_END = ("end", "")


class FilterError(ValueError):
    """A filter expression the emulator cannot parse: what is wrong, and where."""


def lookup(row: Row, path: str) -> Any:
    """The value a path names in a row: the row's own field of that name, else the fields
    its dotted parts walk through (None where one is missing)."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while expression[pos:].strip():
        match = _TOKEN.match(expression, pos)
        if match is None or match.lastgroup is None:
            raise FilterError(f"filter: cannot read {expression[pos:].strip()[:20]!r} (at {pos})")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(left: Any, right: Any) -> bool:
        both_text = isinstance(left, str) and isinstance(right, str)
        numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)]
        return (both_text or all(numbers)) and compare(left, right)

    return check


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    **{op: _ordered(compare) for op, compare in _ORDERS.items()},
}


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, expression: str, read: Read) -> None:
        self._tokens = _tokens(expression)
        self._read = read
        self._at = 0

    def _peek(self) -> tuple[str, str]:
        return self._tokens[self._at] if self._at < len(self._tokens) else _END

    def _take(self, *ops: str) -> bool:
        """Consume the next token when it is one of these operators."""
        kind, text = self._peek()
        if kind == "op" and text in ops:
            self._at += 1
            return True
        return False

    def _fail(self, wanted: str) -> FilterError:
        text = self._peek()[1]
        return FilterError(f"filter: expected {wanted}, found {text or 'the end'} (token {self._at + 1})")

    def whole(self) -> Predicate:
        predicate = self._any()
        if self._peek() != _END:
            raise self._fail("the end")
        return predicate

    def _any(self) -> Predicate:
        parts = [self._all()]
        while self._take("||"):
            parts.append(self._all())
        return parts[0] if len(parts) == 1 else lambda row: any(p(row) for p in parts)

    def _all(self) -> Predicate:
        parts = [self._unary()]
        while self._take("&&"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda row: all(p(row) for p in parts)

    def _unary(self) -> Predicate:
        if self._take("!"):
            inner = self._unary()
            return lambda row: not inner(row)
        if self._take("("):
            inner = self._any()
            if not self._take(")"):
                raise self._fail('")"')
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        left = self._operand()
        kind, text = self._peek()
        if kind == "name" and text == "in":
            self._at += 1
            members = self._list()
            return lambda row: left(row) in members
        if kind != "op" or text not in _COMPARISONS:
            raise self._fail("a comparison (==, !=, <, >, <=, >=, in)")
        self._at += 1
        compare, right = _COMPARISONS[text], self._operand()
        return lambda row: compare(left(row), right(row))

    def _operand(self) -> Callable[[Row], Any]:
        kind, text = self._peek()
        if kind == "name" and text not in _LITERALS and text != "in":
            self._at += 1
            read = self._read
            return lambda row: read(row, text)
        value = self._literal()
        return lambda row: value

    def _literal(self) -> Any:
        kind, text = self._peek()
        if kind == "text" or kind == "number":
            self._at += 1
            try:
                return json.loads(text)
            except ValueError:
                raise FilterError(f"filter: {text} is not a JSON string") from None
        if kind == "name" and text in _LITERALS:
            self._at += 1
            return _LITERALS[text]
        raise self._fail("a field, a text, a number, true, false or null")

    def _list(self) -> list[Any]:
        if not self._take("["):
            raise self._fail('"[" after in')
        if self._take("]"):
            return []
        members = [self._literal()]
        while self._take(","):
            members.append(self._literal())
        if not self._take("]"):
            raise self._fail('"," or "]"')
        return members


def parse_filter(expression: str, read: Read = lookup) -> Predicate:
    """The predicate of a filter expression (see the module docstring), reading the paths it
    names with `read`; FilterError if it is not one."""
    return _Parser(expression, read).whole()
