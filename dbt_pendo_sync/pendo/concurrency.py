"""How many calls to Pendo may be in flight at once, found by the answers (AIMD, as TCP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

START = 4  # calls in flight at first
LATENCY_RISE = 2.0  # an answer this many times slower than the fastest seen means a queue
MIN_ROUND_TRIP = 0.01  # seconds: no network answer is faster; below it latency says nothing


class AdaptiveLimit:
    """A window of calls in flight, between 1 and `cap`, shared by every sending thread.

    It starts at START and doubles per round trip (one more per clean answer) until the first
    sign of congestion; from then on it grows by one per round trip (1/limit per clean
    answer). A 429 or 5xx answer halves it, and an answer LATENCY_RISE times slower than the
    fastest seen takes a quarter off; at most one cut per round trip, so that a burst of
    refusals caused by one window counts once.
    """

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.limit = float(min(START, self.cap))
        self._in_flight = 0
        self._slow_start = True
        self._fastest: float | None = None
        self._last_cut = float("-inf")
        self._ready = threading.Condition()
        self._call = threading.local()  # the calling thread's call: refused on the way?

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the window's places for one call (waits for a free one)."""
        with self._ready:
            while self._in_flight >= int(self.limit):
                self._ready.wait()
            self._in_flight += 1
        self._call.refused = False
        started = time.monotonic()
        clean = False
        try:
            yield
            clean = True
        finally:
            self._finished(time.monotonic() - started, clean)

    def congested(self) -> None:
        """Pendo answered 429 or 5xx (told by the retry loop, before it waits)."""
        self._call.refused = True
        with self._ready:
            self._cut(0.5)

    def _finished(self, seconds: float, clean: bool) -> None:
        with self._ready:
            self._in_flight -= 1
            if clean and not self._call.refused:  # set by slot() in this thread
                self._fastest = seconds if self._fastest is None else min(self._fastest, seconds)
                if seconds > LATENCY_RISE * max(self._fastest, MIN_ROUND_TRIP):
                    self._cut(0.75)
                elif self._slow_start:
                    self.limit = min(self.cap, self.limit + 1)
                else:
                    self.limit = min(self.cap, self.limit + 1 / self.limit)
            self._ready.notify_all()

    def _cut(self, factor: float) -> None:
        now = time.monotonic()
        if now - self._last_cut < max(self._fastest or 0.0, MIN_ROUND_TRIP):
            return
        self._last_cut = now
        self._slow_start = False
        self.limit = max(1.0, self.limit * factor)
