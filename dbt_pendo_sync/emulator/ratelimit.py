"""Pendo's rate limit as the emulator plays it: at most N API calls in any one second, and a
429 with Retry-After beyond (Pendo is reported to allow about 100 calls per second)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .valuetypes import is_int

WINDOW_SECONDS = 1.0


def checked_rate_limit(rate_limit: int | None) -> int | None:
    """The cap in calls per second, None for no cap (None or 0), else ValueError."""
    if rate_limit is None or rate_limit == 0:
        return None
    if not is_int(rate_limit) or rate_limit < 0:
        raise ValueError(f"rate_limit must be an integer >= 0 or None, not {rate_limit!r}")
    return rate_limit


def retry_after(wait: float) -> str:
    """A Retry-After value for a wait in seconds: whole seconds, at least 1.

    Whole seconds because urllib3 (the sync's client) takes an integer or an HTTP date and
    refuses a fraction such as "0.25" as an invalid header."""
    return str(max(1, math.ceil(wait)))


class RateLimit:
    """At most `per_second` calls in any sliding window of one second (None: no cap).

    Only admitted calls use up the allowance: a client that keeps calling while refused gets
    through as soon as the oldest admitted call of the window is a second old. Thread-safe.
    """

    def __init__(self, per_second: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = checked_rate_limit(per_second)
        self._clock = clock
        self._admitted: deque[float] = deque()  # times of the admitted calls of the last second
        self._lock = threading.Lock()

    @property
    def per_second(self) -> int | None:
        """The cap in calls per second (None: no cap)."""
        return self._per_second

    def set(self, per_second: int | None) -> None:
        """Change the cap for later calls (None or 0: no cap); calls already admitted count."""
        checked = checked_rate_limit(per_second)
        with self._lock:
            self._per_second = checked

    def admit(self) -> float | None:
        """None when a call may go ahead now (it is counted), else the seconds until one may."""
        with self._lock:
            if self._per_second is None:
                return None
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - WINDOW_SECONDS:
                self._admitted.popleft()
            if len(self._admitted) < self._per_second:
                self._admitted.append(now)
                return None
            # The call that must leave the window first (more than one after a lowered cap).
            return self._admitted[-self._per_second] + WINDOW_SECONDS - now
