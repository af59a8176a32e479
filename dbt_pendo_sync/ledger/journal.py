"""Confirmed progress of a running sync, written to the journal table beside the sends."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..dbt.artifacts import ModelNode
from ..dbt.warehouse import Warehouse
from ..errors import WarehouseError
from .lock import LedgerLock
from .store import Ledger

# The longest the journal thread waits for something to write (its lock heartbeat's tick);
# what is answered is written as soon as it is recorded, with whatever else is queued by then.
JOURNAL_WAIT_SECONDS = 1.0
# The least time between two writes of answered batches: answers that come within it are
# gathered into one write (a write per answer would cost a 1M-row sync a few CPU seconds).
JOURNAL_GAP_SECONDS = 0.05
# And at least this many times the last write's own time: where a write is slow (Spark: most
# of a second), the journal keeps to a third of its time writing instead of writing without
# pause beside the run's own work.
JOURNAL_GAP_PER_WRITE = 2.0
# Range rows the journal may hold beyond one per run of answered batches before it compacts
# them: the merge looks each changed row up among them, so their number is the merge's cost.
SPARE_RANGES = 32


@dataclass
class _Intent:
    """Keys about to be sent, and the signal that they are written."""

    keys: list[str]
    written: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Answered:
    """A batch answered: its number (batches are numbered in key order), its keys lo..hi,
    and those of its keys that were not confirmed."""

    batch: int
    lo: str
    hi: str
    skipped: list[str]


@dataclass(frozen=True)
class _Withdrawn:
    """Keys intended but surely not delivered."""

    keys: list[str]


@dataclass(frozen=True)
class _Run:
    """Batches first..last, all answered, and the keys lo..hi they cover."""

    first: int
    last: int
    lo: str
    hi: str


Queued = Answered | _Withdrawn | _Intent | None  # None: close


def drain(
    items: queue.Queue[Queued], wait: float, gather_until: float = 0.0
) -> tuple[list[Answered], list[str], list[_Intent], bool]:
    """Everything queued once something is (waiting up to `wait` seconds for it), and what
    comes until `gather_until` (time.monotonic(); not when an intent is queued, whose sender
    waits): the batches answered, the keys not confirmed (theirs and the withdrawn), the
    intents, and whether the journal is closing. Past `gather_until` it takes what is queued
    and no more: an answered batch not yet in the journal is one a killed run sends again."""
    answered: list[Answered] = []
    skipped: list[str] = []
    intents: list[_Intent] = []
    deadline = time.monotonic() + wait
    while True:
        if intents:
            timeout = 0.0
        elif answered or skipped:
            timeout = max(0.0, gather_until - time.monotonic())
        else:
            timeout = max(0.0, deadline - time.monotonic())
        try:
            item = items.get(timeout=timeout)
        except queue.Empty:
            return answered, skipped, intents, False
        if item is None:
            return answered, skipped, intents, True
        if isinstance(item, _Intent):
            intents.append(item)
        elif isinstance(item, _Withdrawn):
            skipped += item.keys
        else:
            answered.append(item)
            skipped += item.skipped


class AnsweredRuns:
    """Answered batches as runs of consecutive batch numbers, each run one key range (no key
    lies between two consecutive batches): the fewest ranges that cover them all."""

    def __init__(self, answered: Sequence[Answered] = ()) -> None:
        self._by_first: dict[int, _Run] = {}
        self._by_last: dict[int, _Run] = {}
        for item in answered:
            self.add(item)

    def add(self, item: Answered) -> None:
        """One more batch answered, joined to the runs either side of it."""
        run = _Run(item.batch, item.batch, item.lo, item.hi)
        before = self._by_last.pop(item.batch - 1, None)
        if before is not None:
            del self._by_first[before.first]
            run = _Run(before.first, run.last, before.lo, run.hi)
        after = self._by_first.pop(item.batch + 1, None)
        if after is not None:
            del self._by_last[after.last]
            run = _Run(run.first, after.last, run.lo, after.hi)
        self._by_first[run.first] = run
        self._by_last[run.last] = run

    def ranges(self) -> list[tuple[str, str]]:
        """The runs' key ranges, in key order."""
        return [(run.lo, run.hi) for _, run in sorted(self._by_first.items())]


class Journal:
    """Records sync progress from a thread of its own, on a connection of its own.

    The main thread's connection is busy streaming the snapshot; the journal writes beside
    it, skips before ranges, and keeps the lock's heartbeat going. Batches are written as
    they are answered (those of JOURNAL_GAP_SECONDS in one write), in any order: a run killed
    resends little more than the calls in flight; a slow batch holds back no other one; those queued
    together with consecutive numbers make one range, and the ranges are compacted now and
    then (`_flush`). Intents
    (`intend`) are written at once, and the caller waits for them; a withdrawn intent is a
    skip, so the merge does not take it as sent (every queued item is written before `close`
    returns, and the merge comes after).
    """

    def __init__(self, store: Ledger, model: ModelNode, lock: LedgerLock) -> None:
        self._store = store
        self._lock = lock
        self._model_id = model.unique_id
        self._queue: queue.Queue[Queued] = queue.Queue()
        self._answered = AnsweredRuns()  # every batch answered so far
        self._ranges: set[tuple[str, str]] = set()  # the range rows written (none twice)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pendo-journal", daemon=True)
        self._thread.start()

    def record(self, batch: int, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Rows with keys lo..hi (batch number `batch`, in key order) were answered; those
        with keys in `skipped` were not confirmed."""
        self._raise_if_failed()
        self._queue.put(Answered(batch, lo, hi, list(skipped)))

    def intend(self, keys: Sequence[str]) -> None:
        """Rows with these keys are about to be sent: written before this returns, so that a
        run killed while they are in flight takes them as sent (sends that must not repeat)."""
        self._raise_if_failed()
        intent = _Intent(list(keys))
        self._queue.put(intent)
        while not intent.written.wait(0.1):
            self._raise_if_failed()

    def withdraw(self, keys: Sequence[str]) -> None:
        """Rows with these keys were intended but surely not delivered: recorded as skipped,
        so the merge does not take them as sent and the next run sends them."""
        self._queue.put(_Withdrawn(list(keys)))

    def close(self) -> None:
        """Flush everything recorded, stop the thread, and raise any write failure."""
        self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise WarehouseError(f"cannot write the sync journal {self._store.journal}: {self._error}")

    def _run(self) -> None:
        w = self._store.warehouse
        try:
            with w.worker_connection("dbt-pendo-sync-journal"):
                mid = w.literal(self._model_id)
                done = False
                beat = written = time.monotonic()
                gap = JOURNAL_GAP_SECONDS
                while not done:
                    answered, skipped, intents, done = drain(self._queue, JOURNAL_WAIT_SECONDS, written + gap)
                    if answered or skipped:
                        started = time.monotonic()
                        self._flush(w, mid, answered, skipped)
                        written = time.monotonic()
                        gap = max(JOURNAL_GAP_SECONDS, JOURNAL_GAP_PER_WRITE * (written - started))
                    for intent in intents:
                        self._insert(w, mid, "sent", intent.keys)
                        intent.written.set()
                    if time.monotonic() - beat >= self._lock.beat_every:
                        self._lock.heartbeat(w)
                        beat = time.monotonic()
        except BaseException as exc:  # reported to the main thread by record()/close()
            self._error = exc

    def _flush(self, w: Warehouse, mid: str, answered: list[Answered], skipped: list[str]) -> None:
        """Skips first, then the ranges: a run killed between the two has its answered keys
        sent again, never a skipped one taken as confirmed. A range per run of the batches
        answered since the last flush; when the rows add up to SPARE_RANGES more than the
        runs of all batches answered so far, they are compacted."""
        self._insert(w, mid, "skip", skipped)
        for item in answered:
            self._answered.add(item)
        self._insert_ranges(w, mid, AnsweredRuns(answered).ranges())
        runs = self._answered.ranges()
        if len(self._ranges) > len(runs) + SPARE_RANGES:
            self._compact(w, mid, runs)

    def _compact(self, w: Warehouse, mid: str, runs: list[tuple[str, str]]) -> None:
        """The range rows made one per run: the runs are written, then every other range
        row deleted. Both sets of rows cover the same keys, so a run killed between the two
        loses nothing."""
        self._insert_ranges(w, mid, [r for r in runs if r not in self._ranges])
        kept = " or ".join(f"(lo = {w.literal(lo)} and hi = {w.literal(hi)})" for lo, hi in runs)
        where = f"model_id = {mid} and kind = 'range' and not ({kept})"
        self._store.dialect.delete(w, self._store.journal, where)
        self._ranges = set(runs)

    def _insert_ranges(self, w: Warehouse, mid: str, ranges: list[tuple[str, str]]) -> None:
        if ranges:
            values = ", ".join(f"({mid}, 'range', {w.literal(lo)}, {w.literal(hi)})" for lo, hi in ranges)
            w.execute(f"insert into {self._store.journal} (model_id, kind, lo, hi) values {values}")
            self._ranges.update(ranges)

    def _insert(self, w: Warehouse, mid: str, kind: str, keys: list[str]) -> None:
        """One journal row of `kind` per key (lo = hi = the key), 1,000 to a statement."""
        j = self._store.journal
        for start in range(0, len(keys), 1000):
            values = ", ".join(
                f"({mid}, '{kind}', {k}, {k})" for k in map(w.literal, keys[start : start + 1000])
            )
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")
