"""The checks of JSON values the emulator makes: a value against the Type of its metadata field
(string, integer, float, boolean, time; other Types accept anything), and whole numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Checks = dict[str, Callable[[Any], bool]]


def is_int(value: Any) -> bool:
    """Whether `value` is a JSON integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_rfc3339(value: Any) -> datetime | None:
    """An RFC 3339 text as a datetime (naive when it has no offset), None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_rfc3339(value: Any) -> bool:
    return parse_rfc3339(value) is not None


def _anything(value: Any) -> bool:
    return True


def type_checks(epoch_ms_dates: bool) -> Checks:
    """Field Type -> check of a non-null value; Types not listed accept anything."""
    return {
        "string": lambda value: isinstance(value, (str, int, float)),
        "boolean": lambda value: isinstance(value, bool),
        "integer": is_int,
        "float": _is_number,
        "time": (lambda value: _is_rfc3339(value) or is_int(value)) if epoch_ms_dates else _is_rfc3339,
    }


def field_checks(checks: Checks, fields: dict[str, dict]) -> Checks:
    """Field name -> check of a non-null value, for one group's fields."""
    return {name: checks.get(entry["Type"], _anything) for name, entry in fields.items()}


def value_problem(fields: dict[str, dict], checks: Checks, values: dict[str, Any]) -> str | None:
    """What is wrong with the first value its field's check refuses (None: nothing)."""
    for name, value in values.items():
        if value is not None and not checks[name](value):
            return f"field {name!r} expects {fields[name]['Type']}, got {value!r}"
    return None
