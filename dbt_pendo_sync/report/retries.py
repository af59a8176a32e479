"""Retries told by the client's send threads, gathered into waves: calls that fail within a
moment of each other (Pendo down, or answering 503 to every call) make one line that says
why, how many calls wait and when the next attempt goes, at most one every RETRY_LINE_EVERY
seconds, so an outage is neither silent nor a line per call."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..pendo.client import RetryNotice

GATHER = 0.5  # seconds a wave's first retry waits for the others before its line
RETRY_LINE_EVERY = 5.0  # seconds at least between two lines


@dataclass(frozen=True)
class RetryWave:
    """Calls waiting to be tried again: why (the most common reason among them), how many,
    and the seconds until the soonest next attempt (None: attempts under way)."""

    why: str
    status: int | None
    calls: int
    next_in: float | None

    def message(self) -> str:
        """`Pendo unreachable (connection refused): retrying 12 calls, next attempt in 8 s`."""
        text = f"Pendo {self.why}: retrying {self.calls:,} call{'' if self.calls == 1 else 's'}"
        if self.next_in is not None:
            text += f", next attempt in {self.next_in:.{0 if self.next_in >= 10 else 1}f} s"
        return text


def why(notice: RetryNotice) -> str:
    """A retry's reason in words: `answered 503`, `unreachable (connection refused)`."""
    if notice.status == 429:
        return "answered 429 (rate limit)"
    if notice.status:
        return f"answered {notice.status}"
    return f"unreachable ({notice.cause or notice.error or 'connection error'})"


class RetryWaves:
    """Notices from any thread in, one `say(wave)` per wave out (from a timer thread)."""

    def __init__(
        self, say: Callable[[RetryWave], None], gather: float = GATHER, every: float = RETRY_LINE_EVERY
    ) -> None:
        self._say = say
        self._gather = gather
        self._every = every
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[RetryNotice, float]] = {}  # calling thread -> notice, when due
        self._timer: threading.Timer | None = None
        self._last_line = -every

    def add(self, notice: RetryNotice) -> None:
        """A call is tried again (told from the thread making it); its wave's line is due
        GATHER seconds after the wave's first retry, and RETRY_LINE_EVERY after the last line."""
        now = time.monotonic()
        with self._lock:
            self._waiting[threading.get_ident()] = (notice, now + notice.wait)
            if self._timer is None:
                delay = max(self._gather, self._last_line + self._every - now)
                self._timer = threading.Timer(delay, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def drop(self) -> None:
        """Forget the wave being gathered: its calls have ended (the model finished, or the
        run), so a line about them would come too late."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiting.clear()

    def _flush(self) -> None:
        with self._lock:
            if threading.current_thread() is not self._timer:  # dropped meanwhile
                return
            self._timer = None
            now = time.monotonic()
            self._last_line = now
            notices = [n for n, _ in self._waiting.values()]
            due = [at - now for _, at in self._waiting.values() if at > now]
            self._waiting.clear()
            reason, _ = Counter(why(n) for n in notices).most_common(1)[0]
            status = next((n.status for n in notices if why(n) == reason), None)
            self._say(RetryWave(reason, status, len(notices), min(due) if due else None))
