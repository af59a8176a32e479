"""Time values read back from Pendo, as epoch milliseconds whichever way Pendo sends them.

Pendo's aggregations are reported to give time fields as epoch milliseconds, and may give RFC
3339 text instead (the project's Pendo API notes, "Reading back"). Values are compared at the
millisecond, so both become one whole number of milliseconds, rounded down.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"  # the date
    r"(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?)?"  # the time, when there is one
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"  # the offset, when there is one
)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


def epoch_ms(value: Any) -> Any:
    """A time value as epoch milliseconds: whole numbers as they are, other finite numbers
    rounded down, RFC 3339 text to the millisecond (rounded down; without an offset it is UTC,
    a date alone is its midnight UTC). Anything else comes back as it is, for the comparison
    to show."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return math.floor(value) if math.isfinite(value) else value
    if isinstance(value, str):
        ms = _rfc3339_ms(value.strip())
        return value if ms is None else ms
    return value


def _rfc3339_ms(text: str) -> int | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    try:
        days = dt.date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:  # no such day
        return None
    clock = [int(part or 0) for part in (hour, minute, second)]
    if clock[0] > 23 or clock[1] > 59 or clock[2] > 60:  # 60: a leap second
        return None
    offset = 0 if not sign else (int(off_h) * 60 + int(off_m)) * (1 if sign == "+" else -1)
    seconds = days * 86400 + clock[0] * 3600 + (clock[1] - offset) * 60 + clock[2]
    return seconds * 1000 + int((fraction or "")[:3].ljust(3, "0"))
