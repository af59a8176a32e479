"""Pendo's Track Events endpoint as the emulator plays it: the path, the answer variants and
the checks of one event (the project's Pendo API notes, "Track events (server side)")."""

from __future__ import annotations

from typing import Any

from .valuetypes import is_int

TRACK_PATH = "/data/track"
# The body of a 200 is not documented: "empty" answers nothing, "json" a small object.
TRACK_ANSWERS = ("empty", "json")
NO_SECRET = (
    "the emulator has no track secret, so it refuses every track event: start it with "
    "track_secret=... (dbt-pendo emulator: set PENDO_TRACK_SECRET)"
)


def checked_track_answer(answer: str) -> str:
    """`answer` when it is one of TRACK_ANSWERS, else ValueError."""
    if answer not in TRACK_ANSWERS:
        raise ValueError(f'track_answer must be "empty" or "json", not {answer!r}')
    return answer


def _non_blank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _epoch_ms(value: Any) -> bool:
    return is_int(value) and value > 0


def event_problem(event: Any) -> str | None:
    """What is wrong with the body of one track call, as the text of a 400 (None: nothing)."""
    if not isinstance(event, dict):
        return "body must be a JSON object: one track event"
    rules = (
        (event.get("type") == "track", '"type" must be "track"'),
        (_non_blank(event.get("event")), '"event" must be a non-blank string (the event name)'),
        (_non_blank(event.get("visitorId")), '"visitorId" must be a non-blank string'),
        (isinstance(event.get("accountId", ""), str), '"accountId" must be a string when present'),
        (_epoch_ms(event.get("timestamp")), '"timestamp" must be an integer above 0 (epoch milliseconds)'),
        (isinstance(event.get("context"), dict), '"context" is required and must be an object (may be {})'),
        (isinstance(event.get("properties", {}), dict), '"properties" must be an object when present'),
    )
    return next((message for ok, message in rules if not ok), None)
