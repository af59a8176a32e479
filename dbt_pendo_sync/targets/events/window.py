"""The window of Track Event times Pendo still processes, as SQL conditions the warehouse
filters with, and an event's time as epoch milliseconds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...records import InvalidValue

FUTURE_DAYS = 1  # events more than a day ahead are not sent
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_MS_FROM = 100_000_000_000  # epoch numbers at least this large are milliseconds
_NUMERIC = ("int", "numeric", "decimal", "double", "float", "real", "number")


def window_kind(column_type: str) -> str | None:
    """How a timestamp column is compared: "number" (epoch), "date", "timestamptz",
    "timestamp" (naive), or None (not a time)."""
    t = column_type.lower()
    if "time" in t:
        aware = "tz" in t or "with time zone" in t
        return "timestamptz" if aware else "timestamp"
    if t.startswith("date"):
        return "date"
    if any(n in t for n in _NUMERIC):
        return "number"
    return None


@dataclass(frozen=True)
class EventWindow:
    """The events Pendo still processes: from `max_age_days` ago to a day ahead of `now`."""

    start: dt.datetime  # aware, UTC
    end: dt.datetime

    @classmethod
    def around(cls, now: dt.datetime, max_age_days: int) -> EventWindow:
        return cls(now - dt.timedelta(days=max_age_days), now + dt.timedelta(days=FUTURE_DAYS))

    @property
    def start_ms(self) -> int:
        return _ms(self.start)

    @property
    def end_ms(self) -> int:
        return _ms(self.end)

    def conditions(self, column: str, column_type: str, zone: dt.tzinfo, cast: str) -> tuple[str, str]:
        """SQL conditions on a (quoted) column: (before the window, after it); `cast` is a
        format string "cast({} as TYPE)" for literals of the column's type."""
        kind = window_kind(column_type)
        if kind == "number":
            ms = f"(case when abs({column}) >= {_EPOCH_MS_FROM} then {column} else {column} * 1000 end)"
            return f"{ms} < {self.start_ms}", f"{ms} > {self.end_ms}"
        if kind == "date":  # a date counts from its midnight
            first = self.start.astimezone(zone).date()
            if dt.datetime.combine(first, dt.time(), zone) < self.start:
                first += dt.timedelta(days=1)
            last = self.end.astimezone(zone).date()
            return (
                f"{column} < {cast.format(repr(first.isoformat()))}",
                f"{column} > {cast.format(repr(last.isoformat()))}",
            )
        if kind == "timestamptz":
            lo, hi = (f"'{t.isoformat(sep=' ')}'" for t in (self.start, self.end))
        else:  # naive values are wall-clock times in the block's time zone
            lo, hi = (
                f"'{t.astimezone(zone).replace(tzinfo=None).isoformat(sep=' ')}'"
                for t in (self.start, self.end)
            )
        return f"{column} < {cast.format(lo)}", f"{column} > {cast.format(hi)}"


def epoch_ms(value: Any, zone: dt.tzinfo) -> int:
    """An event time as epoch milliseconds: naive timestamps and dates in `zone`; numbers as
    epoch milliseconds, or seconds when smaller than 1e11."""
    if isinstance(value, dt.datetime):
        return _ms(value if value.tzinfo else value.replace(tzinfo=zone))
    if isinstance(value, dt.date):
        return _ms(dt.datetime.combine(value, dt.time(), zone))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        return int(number if abs(number) >= _EPOCH_MS_FROM else number * 1000)
    raise InvalidValue(f"timestamp {value!r} is not a time")


def _ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)
