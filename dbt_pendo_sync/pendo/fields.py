"""Warehouse values -> JSON values Pendo accepts (or a reason the row is invalid)."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..records import MAX_SAFE_INT, InvalidValue, json_number

# Column types (lower case) whose values the warehouse can write as JSON (macros/payload.sql).
_STRING_TYPE = re.compile(r"(varchar|text|string|character varying)(\(\d+\))?$")
# Integer types whose values reach Python as int (what a number or integer field sends as is).
_WHOLE_TYPE = re.compile(r"(tinyint|smallint|integer|int|bigint|hugeint|int2|int4|int8)$")


def rfc3339(value: dt.datetime | dt.date) -> str:
    """An RFC 3339 timestamp with offset; naive timestamps and dates are taken as UTC."""
    if not isinstance(value, dt.datetime):
        return value.isoformat() + "T00:00:00+00:00"
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"  # what .replace(tzinfo=utc) would give, 4x faster
    return value.isoformat()


def _float(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        raise InvalidValue(f"{value} is not a finite number")
    return value


def _nested(value: Any) -> Any:
    raise InvalidValue(f"nested value of type {type(value).__name__} cannot be sent as one field")


@dataclass(frozen=True)
class Converter:
    """One column's conversion: `convert` turns a non-null value into its JSON value (or
    raises InvalidValue); values of the `unchanged` types come back as they are (text up to
    `max_text` characters), which lets a whole column skip the per-value call."""

    convert: Callable[[Any], Any]
    unchanged: frozenset[type] = frozenset()
    max_text: int | None = None  # str in `unchanged`: only up to this length
    by_type: Mapping[type, Callable[[Any], Any]] = field(default_factory=dict)  # = convert, for that type

    def column(self, values: Sequence[Any]) -> Sequence[Any]:
        """Every value converted, nulls kept as None: the same values `convert` gives one by
        one (InvalidValue at the first that has none), computed a column at a time."""
        kinds = set(map(type, values))
        kinds.discard(type(None))
        if kinds <= self.unchanged and (
            self.max_text is None
            or str not in kinds
            or max(map(len, filter(None, values)), default=0) <= self.max_text
        ):
            return values
        convert = self.by_type.get(kinds.pop(), self.convert) if len(kinds) == 1 else self.convert
        return [None if value is None else convert(value) for value in values]


def warehouse_id_kind(column_type: str) -> str | None:
    """The kind of id macros/payload.sql writes as records.record_id would (text, or whole
    numbers), or None when only Python does."""
    sql = column_type.strip().lower()
    if _STRING_TYPE.match(sql):
        return "text"
    return "whole" if _WHOLE_TYPE.match(sql) else None


def refused_column(column_type: str, why: str) -> Converter:
    """The converter of a column no Pendo field takes (nested, binary): every value is
    invalid with `why`, whatever the driver hands over (DuckDB gives json as text, psycopg2
    as a dict)."""

    def refuse(value: Any) -> Any:
        raise InvalidValue(f"a {column_type} column {why}")

    return Converter(refuse)


def _unsupported(value: Any) -> Any:
    raise InvalidValue(f"values of type {type(value).__name__} cannot be sent to Pendo")


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    str: lambda v: v,
    bool: lambda v: v,
    int: lambda v: v,
    float: _float,
    Decimal: json_number,
    dt.datetime: rfc3339,
    dt.date: rfc3339,
    dt.time: lambda v: v.isoformat(),
    uuid.UUID: str,
    dict: _nested,
    list: _nested,
    tuple: _nested,
}


def to_json_value(value: Any) -> Any:
    """The JSON-safe form of one non-null warehouse value; raise InvalidValue otherwise."""
    convert = _CONVERTERS.get(type(value))
    if convert is None:
        convert = next((c for t, c in _CONVERTERS.items() if isinstance(value, t)), _unsupported)
    return convert(value)


_JSON_NATIVE = frozenset({str, bool, int})  # what to_json_value hands back unchanged
JSON_VALUE = Converter(to_json_value, _JSON_NATIVE)


MAX_TEXT = 1500  # Pendo recommends text values under 1,500 characters
# Pendo field Type -> the kind of value it holds (integer is a number that must be whole).
FIELD_KINDS = {
    "string": "text",
    "": "text",
    "boolean": "boolean",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "time": "date",
}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass(frozen=True)
class Coercion:
    """How values become one Pendo field's type (from the field's Type and the pendo block)."""

    pendo_type: str | None = None  # None: the field's type is not known (a dry run without key)
    column_is_boolean: bool = False
    truncate_text: bool = False
    date_format: str = "rfc3339"
    timezone: dt.tzinfo = dt.timezone.utc

    def converter(self) -> Converter:
        """The conversion of one non-null value into the field's JSON value, or InvalidValue."""
        if self.pendo_type is None:  # type unknown: the value keeps its own JSON type
            return Converter(self._generic, _JSON_NATIVE)
        kind = FIELD_KINDS.get(self.pendo_type)
        general = {
            "text": self._text,
            "boolean": self._boolean,
            "integer": self._integer,
            "number": self._number,
            "date": self._date,
        }.get(kind or "")
        if general is None:
            return Converter(self._generic, _JSON_NATIVE)
        # Fast paths by exact type (a column's driver hands over one type): a sync converts
        # millions of values, and these skip the isinstance chains of the general case.
        same = {"text": (), "boolean": (bool,), "integer": (int,), "number": (int,)}.get(kind or "", ())
        fast: dict[type, Callable[[Any], Any]] = {}
        if kind == "text":
            fast[str] = self._text
        elif kind == "number":
            fast.update({float: _float, Decimal: json_number})
        elif kind == "date" and self.timezone is dt.timezone.utc and self.date_format == "rfc3339":
            fast.update({dt.datetime: rfc3339, dt.date: rfc3339})

        def convert(value: Any) -> Any:
            kind_of = type(value)
            if kind_of in same:
                return value
            return fast.get(kind_of, general)(value)

        if kind == "text":
            return Converter(convert, frozenset({str}), MAX_TEXT, fast)
        return Converter(convert, frozenset(same), by_type=fast)

    def warehouse_kind(self, column_type: str) -> str | None:
        """The conversion of macros/payload.sql that gives exactly `converter()`'s JSON for
        every value of a column of `column_type` (its rows that it cannot do, it leaves to
        Python), or None when only Python's conversion does."""
        kind = FIELD_KINDS.get(self.pendo_type) if self.pendo_type is not None else None
        sql = column_type.strip().lower()
        if kind == "text":
            return "text" if _STRING_TYPE.match(sql) else None
        if kind == "boolean":
            return "boolean" if sql in ("boolean", "bool") else None
        if kind in ("integer", "number") and _WHOLE_TYPE.match(sql):
            return "whole"
        if kind == "number":
            if sql in ("double", "double precision", "float8"):
                return "double"
            return "decimal" if re.match(r"(decimal|numeric)\b", sql) else None
        if kind == "date" and self.timezone is dt.timezone.utc and self.date_format == "rfc3339":
            return {"date": "date", "timestamp": "timestamp", "timestamp without time zone": "timestamp"}.get(
                sql
            )
        return None

    def _generic(self, value: Any) -> Any:
        """Any value as its own JSON type; dates as this field's dates would be."""
        if isinstance(value, dt.date):
            return self._instant(value)
        return to_json_value(value)

    def _text(self, value: Any) -> str:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, Decimal):
            text = format(_finite(value), "f")
        elif isinstance(value, float):
            text = repr(_float(value))
        elif isinstance(value, (dt.date, dt.time)):
            text = str(self._instant(value)) if isinstance(value, dt.date) else value.isoformat()
        else:
            text = str(to_json_value(value))
        if len(text) > MAX_TEXT:
            if not self.truncate_text:
                raise InvalidValue(
                    f"text of {len(text)} characters is over Pendo's {MAX_TEXT} "
                    "(set truncate_text: true to cut it)"
                )
            text = text[:MAX_TEXT]
        return text

    def _boolean(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if not self.column_is_boolean:  # 0/1 and 'true'/'false' only from non-boolean columns
            token = str(value).strip().lower() if isinstance(value, (str, int, Decimal)) else None
            if token in _TRUE:
                return True
            if token in _FALSE:
                return False
        raise InvalidValue(f"{value!r} is not a boolean")

    def _number(self, value: Any) -> int | float:
        if isinstance(value, bool):
            raise InvalidValue(f"{value!r} is a boolean, not a number")
        if isinstance(value, int):
            return value
        if isinstance(value, str):  # float() parses what Decimal() does, with JSON's precision
            try:
                number = float(value)
            except ValueError:
                raise InvalidValue(f"{value!r} is not a number") from None
            if number.is_integer() and abs(number) < MAX_SAFE_INT:
                return int(number)
            return _float(number)
        if isinstance(value, Decimal):
            return json_number(value)
        if isinstance(value, float):
            return _float(value)
        raise InvalidValue(f"values of type {type(value).__name__} are not numbers")

    def _integer(self, value: Any) -> int:
        number = self._number(value)
        if isinstance(number, float):
            if not number.is_integer():
                raise InvalidValue(f"{value!r} is not a whole number")
            return int(number)
        return number

    def _date(self, value: Any) -> str | int:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise InvalidValue(f"{value!r} is not an ISO 8601 date or timestamp") from None
        if not isinstance(value, dt.date):
            raise InvalidValue(f"values of type {type(value).__name__} are not dates")
        return self._instant(value)

    def _instant(self, value: dt.date) -> str | int:
        """A date or timestamp as this field sends it; naive ones are in `timezone`."""
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if value.tzinfo is None:
            if self.timezone is dt.timezone.utc and self.date_format == "rfc3339":
                return value.isoformat() + "+00:00"
            value = value.replace(tzinfo=self.timezone)
        if self.date_format == "epoch_ms":
            return int(value.timestamp() * 1000)
        return value.isoformat()


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise InvalidValue(f"{value} is not a finite number")
    return value
