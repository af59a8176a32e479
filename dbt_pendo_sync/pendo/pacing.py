"""Client-side pacing: a shared request rate that halves on 429 and recovers slowly."""

from __future__ import annotations

import threading
import time

RECOVERY_STEP = 0.05  # share of the ceiling regained per successful call after a slowdown


class Pacer:
    """Spaces request starts across all sending threads (an adaptive token schedule).

    On a 429 the rate halves (down to `floor`); each success brings it back up towards
    `ceiling`, so a sender that keeps hitting the limit slows down instead of hammering.
    """

    def __init__(self, ceiling: float, floor: float = 1.0) -> None:
        self.ceiling = float(ceiling)
        self.floor = min(float(floor), self.ceiling)
        self.rate = self.ceiling
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this thread may start its next request."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
        if start > now:
            time.sleep(start - now)

    def throttled(self) -> None:
        """Pendo answered 429: halve the rate."""
        with self._lock:
            self.rate = max(self.floor, self.rate / 2)

    def succeeded(self) -> None:
        """A call went through: regain a little of the rate."""
        if self.rate < self.ceiling:
            with self._lock:
                self.rate = min(self.ceiling, self.rate + self.ceiling * RECOVERY_STEP)
