"""Pendo's Track Events endpoint as the emulator plays it: the path, the answer variants, the
checks of one event and the events accepted (the project's Pendo API notes, "Track events
(server side)")."""

from __future__ import annotations

import re
import threading
from typing import Any

from .answers import Answer, Incoming, Routes, json_answer, json_problem, text_answer
from .valuetypes import is_int

TRACK_PATH = "/data/track"
# The body of a 200 is not documented: "empty" answers nothing, "json" a small object.
TRACK_ANSWERS = ("empty", "json")
NO_SECRET = (
    "the emulator has no track secret, so it refuses every track event: start it with "
    "track_secret=... (dbt-pendo emulator: set PENDO_TRACK_SECRET)"
)
_ANSWERS = {"empty": Answer(200), "json": json_answer(200, {"status": "ok"})}


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


class TrackEvents:
    """POST /data/track of one emulator and the events it accepted, guarded by the emulator's
    `lock` (``count`` expects the caller to hold it). With `keep_bodies` False only the count is
    kept; `answer` is one of TRACK_ANSWERS."""

    def __init__(self, answer: str, keep_bodies: bool, lock: threading.Lock) -> None:
        self._answer = answer
        self._keep_bodies = keep_bodies
        self._lock = lock
        self._tracked: list[dict[str, Any]] = []  # empty unless keep_bodies
        self._count = 0
        self.routes: Routes = [("POST", re.compile(re.escape(TRACK_PATH)), self._track)]

    def count(self) -> int:
        """The number of events accepted."""
        return self._count

    def events(self) -> list[dict[str, Any]]:
        """The bodies of the accepted track events, in arrival order (always empty when the
        emulator does not keep bodies)."""
        with self._lock:
            return list(self._tracked)

    def set_answer(self, answer: str) -> None:
        """Answer later accepted events with an empty body ("empty") or JSON ("json")."""
        self._answer = checked_track_answer(answer)

    def _track(self, req: Incoming) -> Answer:
        problem = json_problem(req) or event_problem(req.body)
        if problem:
            return text_answer(400, problem)
        with self._lock:
            self._count += 1
            if self._keep_bodies:
                self._tracked.append(req.body)
        return _ANSWERS[self._answer]
