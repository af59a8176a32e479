"""What the emulator counts of the calls on Pendo's paths (numbered calls per family, answers
per status, throttled calls, calls in flight, how long the sending calls kept it busy, rows
read), the request log it keeps when it keeps bodies, and the stats made of them."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .aggregation import AGGREGATION_PATH
from .answers import Incoming
from .keys import Keys
from .segments import PATCH_PATH, UPLOAD_PATH
from .track import TRACK_PATH
from .usage import cpu_seconds, peak_rss_mb
from .values import WRITE_CALL

# The calls faults can number, each family on its own: (method, path pattern, family).
NUMBERED_CALLS = [
    ("POST", WRITE_CALL, "write"),
    ("POST", re.compile(re.escape(TRACK_PATH)), "track"),
    ("POST", re.compile(re.escape(UPLOAD_PATH)), "segment_upload"),
    ("PATCH", PATCH_PATH, "segment_patch"),
    ("POST", re.compile(re.escape(AGGREGATION_PATH)), "read"),
]
# The families that send (a sync's send phase, send_seconds): all but the reads.
SENDING = frozenset({"write", "track", "segment_upload", "segment_patch"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it (the key or track secret itself is never kept)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    key_ok: bool
    body: Any
    status: int  # 0 if the connection was dropped


class Traffic:
    """The counts and the request log of one emulator; the caller holds the emulator's lock."""

    def __init__(self, keep_bodies: bool) -> None:
        self._keep_bodies = keep_bodies
        self.log: list[RecordedRequest] = []  # empty unless keep_bodies
        self.calls: Counter[str] = Counter()  # numbered calls per family (NUMBERED_CALLS)
        self._statuses: Counter[int] = Counter()  # answers on Pendo's paths per status (0: dropped)
        self.throttled = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._write_records: Counter[int] = Counter()  # records in write calls, per answer status
        self.read_rows = 0  # rows answered to aggregations
        self._first_arrived: float | None = None  # monotonic time the first sending call came
        self._last_answered: float | None = None  # ... and the latest was answered

    def number(self, method: str, path: str, arrived: float) -> int | None:
        """The number of a call within its family (NUMBERED_CALLS), None for other calls;
        `arrived`: when it was admitted (its answer is now, after its latency)."""
        for call_method, pattern, family in NUMBERED_CALLS:
            if method == call_method and pattern.fullmatch(path):
                self.calls[family] += 1
                if family in SENDING:
                    if self._first_arrived is None:
                        self._first_arrived = arrived
                    self._last_answered = time.monotonic()
                return self.calls[family]
        return None

    def send_seconds(self) -> float:
        """Seconds from the arrival of the first sending call (write, track, segment upload
        or PATCH) to the answer of the latest: the send phase of a sync (0 before any)."""
        if self._first_arrived is None or self._last_answered is None:
            return 0.0
        return self._last_answered - self._first_arrived

    def segment_calls(self) -> int:
        """The segment uploads and member PATCHes numbered."""
        return self.calls["segment_upload"] + self.calls["segment_patch"]

    def record(self, req: Incoming, status: int, keys: Keys, rows: int = 0) -> None:
        """Count the answer (and the records of a write call, under its status; the `rows` an
        aggregation answered); keep the request in the log only when bodies are kept."""
        self._statuses[status] += 1
        self.read_rows += rows
        if req.method == "POST" and isinstance(req.body, list) and WRITE_CALL.fullmatch(req.path):
            self._write_records[status] += len(req.body)
        if self._keep_bodies:
            key_ok = keys.ok(req.path, req.key)
            self.log.append(
                RecordedRequest(req.method, req.path, req.query, req.content_type, key_ok, req.body, status)
            )

    def enter(self) -> None:
        """A call is being answered (inside its latency or delay)."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """A call entered is answered."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Forget the request log and the counts of answers and numbered calls; restart the
        max_in_flight count and the send phase."""
        self.log.clear()
        self.calls.clear()
        self._statuses.clear()
        self._write_records.clear()
        self.read_rows = 0
        self.throttled = 0
        self.max_in_flight = self.in_flight
        self._first_arrived = self._last_answered = None

    def stats(self, segments: int, tracked_events: int) -> dict[str, Any]:
        """The counts, with the number of segments and of accepted track events, and the CPU
        seconds and peak RSS (MB) of the process the emulator runs in."""
        return {
            "write_calls": self.calls["write"],
            "track_calls": self.calls["track"],
            "segment_calls": self.segment_calls(),
            "read_calls": self.calls["read"],
            "read_rows": self.read_rows,
            "segments": segments,
            "tracked_events": tracked_events,
            "requests": self._statuses.total(),
            "statuses": {str(status): n for status, n in sorted(self._statuses.items())},
            "write_records": {str(status): n for status, n in sorted(self._write_records.items())},
            "in_flight": self.in_flight,
            "throttled": self.throttled,
            "max_in_flight": self.max_in_flight,
            "send_seconds": round(self.send_seconds(), 3),
            "cpu_seconds": cpu_seconds(),
            "peak_rss_mb": peak_rss_mb(),
        }
