"""Whether Pendo holds a value as a sync would send it: exactly when a sync would leave it
alone. Numbers by value, times to the millisecond (Pendo answers epoch milliseconds, or RFC
3339 text), text and booleans as they are."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..pendo.fields import FIELD_KINDS

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def epoch_ms(value: Any) -> int | None:
    """A time as epoch milliseconds: a number as it is, RFC 3339 text parsed (naive as UTC);
    None when it is no time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return (moment - _EPOCH) // dt.timedelta(milliseconds=1)
    return None


def same(sent: Any, held: Any, pendo_type: str | None) -> bool:
    """Whether Pendo's value `held` is the value `sent` a sync sends into a field of
    `pendo_type` (None: unknown, compared as JSON values)."""
    if sent is None or held is None:
        return sent is None and held is None
    kind = FIELD_KINDS.get(pendo_type or "")
    if kind == "date":
        return epoch_ms(sent) is not None and epoch_ms(sent) == epoch_ms(held)
    if kind in ("integer", "number") or (_number(sent) and _number(held)):
        return _number(sent) and _number(held) and float(sent) == float(held)
    return bool(sent == held and type(sent) is type(held))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
