"""What identifies a record: its id as Pendo wants it, or why a value cannot be sent.

Neutral ground: the ledger (state keys), the engine and the Pendo side all use it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class InvalidValue(ValueError):
    """A value that cannot be sent to Pendo; its message is the reason, for the user."""


def record_id(value: Any) -> str:
    """A record id as Pendo wants it (a string); raise InvalidValue for nulls and blanks."""
    if value is None:
        raise InvalidValue("id is null")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, Decimal):  # as a JSON number would carry it
        if not value.is_finite():
            raise InvalidValue(f"{value} is not a finite number")
        whole = value == value.to_integral_value() and abs(value) < 2**53
        value = int(value) if whole else float(value)
    text = str(value)
    if not text.strip():
        raise InvalidValue("id is blank")
    return text
