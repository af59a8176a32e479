"""Client-side pacing: a shared request rate, learned from Pendo's 429 answers.

Pendo limits calls per second. Until it first answers 429, calls go as fast as the window of
calls in flight lets them (concurrency.py), or at the --max-rps ceiling. The pacer keeps the
times of the calls it let go over the last SPAN, less one per 429: the calls Pendo accepted,
as Pendo counts them. A 429 sets the pace a little under that count, and from then on a call
waits both for its turn at that rate and for room in the last SPAN (so the calls accepted
just before the 429 are not followed by a burst Pendo refuses too). The pace then grows
slowly, to find out whether the limit rose.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable

SPAN = 1.0  # seconds over which calls are counted: Pendo limits calls per second
BURST = 0.25  # seconds after a first 429 when the refusals of calls already sent come back
MARGIN = 0.99  # the pace after a 429: this share of the calls Pendo accepted over SPAN
GROWTH = 0.003  # calls per second added to the pace per accepted call (0.3% of it per second)
# Fewer calls than this over SPAN say nothing of a rate limit (Pendo's is reported near 100 a
# second): a 429 then is retried after its Retry-After and sets no pace, which would otherwise
# be a handful of calls a second, learned from a sender that had barely started.
MIN_CALLS = 10


class Pacer:
    """Spaces request starts across all sending threads (an adaptive token schedule).

    `ceiling` is the most calls per second ever sent (0: none, so no pacing until Pendo
    answers 429). On a 429 the rate becomes MARGIN times the calls Pendo accepted over the last
    SPAN (at least `floor`, at most MARGIN times the rate). The refusals of the same burst
    (within BURST: calls sent just before the first 429, refused too) only refine that count;
    later ones within SPAN are stragglers of the same excess, no cut of their own. Each
    accepted call brings the rate up by GROWTH, up to the ceiling.
    """

    def __init__(
        self,
        ceiling: float = 0.0,
        floor: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = float(ceiling) if ceiling > 0 else math.inf
        self.floor = min(float(floor), self.ceiling)
        self.rate = self.ceiling
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._sent: deque[float] = deque()  # start times of the calls of the last SPAN not refused
        self._last_cut = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this thread may start its next request (every attempt asks)."""
        with self._lock:
            now = self._clock()
            self._forget(now)
            start = now
            if self.rate < math.inf:
                start = max(now, self._next)
                room = max(1, math.floor(self.rate * SPAN))
                if len(self._sent) >= room:  # the call that must leave the span first
                    start = max(start, self._sent[len(self._sent) - room] + SPAN)
                self._next = start + 1.0 / self.rate
            self._sent.append(start)
        if start > now:
            self._sleep(start - now)

    def throttled(self) -> None:
        """Pendo answered 429: that call was not accepted; pace a little under what was."""
        with self._lock:
            now = self._clock()
            self._forget(now)
            started = bisect.bisect_right(self._sent, now)  # the others wait for their turn
            if started:
                del self._sent[started - 1]
                started -= 1
            accepted = started / SPAN
            if started + 1 < MIN_CALLS:
                return
            if now - self._last_cut < BURST:  # the same burst: what was accepted is clearer now
                self.rate = max(self.floor, min(self.rate, MARGIN * accepted))
            if now - self._last_cut < SPAN:
                return
            self._last_cut = now
            self.rate = max(self.floor, MARGIN * min(self.rate, accepted))

    def succeeded(self) -> None:
        """Pendo accepted a call: let the pace grow a little."""
        if self.rate < self.ceiling:
            with self._lock:
                self.rate = min(self.ceiling, self.rate + GROWTH)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - SPAN:
            self._sent.popleft()
