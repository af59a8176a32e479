"""How many bulk calls to Pendo may be in flight at once, found by the answers (AIMD, as TCP).

Only the calls a sync sends in bulk take places in the window and tell it of congestion:
metadata writes, Track Events, segment member changes. Reads (field schema, segment list,
token check) are few, and Pendo answers them in milliseconds: timed with the bulk calls they
would make every bulk call look queued. Latency is judged per kind of call, against what
that kind costs for its work (records per call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

START = 16  # calls in flight at first
LATENCY_RISE = 2.0  # answers this many times slower than their kind's baseline mean a queue
MIN_ROUND_TRIP = 0.01  # seconds: no network answer is faster; below it latency says nothing


class Baseline:
    """What one kind of call costs at best, for its work: the fastest call seen, and the
    fastest seconds per unit of work (record) seen; and whether the calls of the last round
    trip were all slow.

    A call of `work` units is expected to take at least the larger of the two (the fastest
    call, or the fastest rate times its work). When a call costs a fixed time plus a time per
    record, that expectation is never more than twice too low, whatever the batch sizes seen;
    so answers over LATENCY_RISE (2) times it are a queue, not a bigger batch.

    A queue at Pendo slows every answer; a sender short of CPU (a loaded machine) sees some
    answers late and others on time. So the answers are judged by round trip (the answers
    within one expected call time of each other): only when the fastest of them is slow.
    """

    def __init__(self) -> None:
        self.fastest: float | None = None  # seconds of the fastest call
        self.per_unit: float | None = None  # seconds per unit of work, the lowest seen
        self._round_start = float("-inf")  # the first answer of the current round trip
        self._round_best = 0.0  # the least time / expected time among its answers

    def expected(self, work: int) -> float | None:
        """The least time a call of `work` units should take (None: no call seen yet)."""
        if self.fastest is None or self.per_unit is None:
            return None
        return max(self.fastest, self.per_unit * work, MIN_ROUND_TRIP)

    def queued(self, now: float, seconds: float, work: int) -> bool:
        """Take a clean call's time into the baseline. An answer one expected call time or
        more after the first of the round trip begins the next one; then whether the answers
        of the round trip before were all over LATENCY_RISE times what they should take."""
        expected = self.expected(work)
        per_unit = seconds / max(1, work)
        self.fastest = seconds if self.fastest is None else min(self.fastest, seconds)
        self.per_unit = per_unit if self.per_unit is None else min(self.per_unit, per_unit)
        if expected is None:
            return False
        if now - self._round_start < expected:
            self._round_best = min(self._round_best, seconds / expected)
            return False
        queued = self._round_best > LATENCY_RISE
        self._round_start, self._round_best = now, seconds / expected
        return queued


class Call:
    """One call holding a place in the window: `sent()` marks when its request leaves (after
    any pacing wait), so the time judged is Pendo's alone."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.started = clock()
        self.refused = False  # answered 429 or 5xx on the way (then retried)

    def sent(self) -> None:
        """The request leaves now."""
        self.started = self._clock()


class AdaptiveLimit:
    """A window of bulk calls in flight, between 1 and `cap`, shared by every sending thread.

    It starts at START and doubles per round trip (one more per clean answer) until the first
    sign of congestion; from then on it grows by one per round trip (1/limit per clean
    answer). A 5xx answer halves it (a 429 sets a pace instead: pacing.py), and a round trip
    of answers all LATENCY_RISE times slower than their kind's baseline (Baseline) takes a
    quarter off; at most one cut per round trip, so that a burst of refusals caused by one
    window counts once.
    """

    def __init__(self, cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = max(1, cap)
        self.limit = float(min(START, self.cap))
        self._clock = clock
        self._in_flight = 0
        self._slow_start = True
        self._baselines: dict[str, Baseline] = {}
        self._round_trip = 0.0  # seconds of the latest clean call
        self._last_cut = float("-inf")
        self._ready = threading.Condition()
        self._call = threading.local()  # the calling thread's Call

    @contextmanager
    def slot(self, kind: str, work: int = 1) -> Iterator[Call]:
        """Hold one of the window's places for one call of a kind doing `work` units (records),
        waiting for a free one."""
        with self._ready:
            while self._in_flight >= int(self.limit):
                self._ready.wait()
            self._in_flight += 1
        call = self._call.current = Call(self._clock)
        clean = False
        try:
            yield call
            clean = True
        finally:
            self._finished(kind, work, self._clock() - call.started, clean and not call.refused)

    def congested(self) -> None:
        """Pendo answered 5xx (told by the retry loop, before it waits)."""
        self.refused()
        with self._ready:
            self._cut(0.5)

    def refused(self) -> None:
        """The calling thread's call was refused on the way (429 or 5xx) and is retried: its
        time says nothing of latency and its answer earns no growth."""
        call = getattr(self._call, "current", None)
        if call is not None:
            call.refused = True

    def _finished(self, kind: str, work: int, seconds: float, clean: bool) -> None:
        with self._ready:
            self._in_flight -= 1
            self._call.current = None
            if clean:
                baseline = self._baselines.setdefault(kind, Baseline())
                self._round_trip = seconds
                if baseline.queued(self._clock(), seconds, work):
                    self._cut(0.75)
                elif self._slow_start:
                    self.limit = min(self.cap, self.limit + 1)
                else:
                    self.limit = min(self.cap, self.limit + 1 / self.limit)
            self._ready.notify_all()

    def _cut(self, factor: float) -> None:
        now = self._clock()
        if now - self._last_cut < max(self._round_trip, MIN_ROUND_TRIP):
            return
        self._last_cut = now
        self._slow_start = False
        self.limit = max(1.0, self.limit * factor)
