"""What identifies a record: its id as Pendo wants it, or why a value cannot be sent.

Neutral ground: the ledger (state keys), the engine and the Pendo side all use it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class InvalidValue(ValueError):
    """A value that cannot be sent to Pendo; its message is the reason, for the user."""


MAX_SAFE_INT = 2**53  # larger integers do not survive a JSON number (a double)


def json_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number Pendo gets: an int when whole and exact in a double."""
    if not value.is_finite():
        raise InvalidValue(f"{value} is not a finite number")
    if value == value.to_integral_value() and abs(value) < MAX_SAFE_INT:
        return int(value)
    return float(value)


# A character that str.strip() keeps: an id without one is blank (a regular expression class).
NOT_BLANK = "[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def record_id(value: Any) -> str:
    """A record id as Pendo wants it (a string); raise InvalidValue for nulls and blanks."""
    if value is None:
        raise InvalidValue("id is null")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, Decimal):  # as a JSON number would carry it
        value = json_number(value)
    text = str(value)
    if not text.strip():
        raise InvalidValue("id is blank")
    return text


# A record's JSON text as the warehouse built it (macros/payload.sql), sent as it is: a plain
# str (Python builds records as dicts), not a subclass, whose instances would be copies of
# the driver's strings that the garbage collector tracks, millions of them in a sync.
RecordJson = str

# A record as sent: JSON values built by Python, or the text the warehouse wrote.
Record = dict[str, Any] | RecordJson


def payload_of(record: Any) -> Any:
    """A record as JSON values (for the rejected file and previews): parsed when it is text."""
    return json.loads(record) if isinstance(record, RecordJson) else record
