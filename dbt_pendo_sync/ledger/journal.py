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
from .lock import SyncLock
from .store import StateStore

JOURNAL_FLUSH_SECONDS = 1.0


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


def ranges_of(answered: Sequence[Answered]) -> list[tuple[str, str]]:
    """The key ranges of the answered batches, one per run of consecutive batch numbers
    (no key lies between two consecutive batches), in key order."""
    ranges: list[tuple[str, str]] = []
    last = -2
    for item in sorted(answered, key=lambda a: a.batch):
        if item.batch == last + 1:
            ranges[-1] = (ranges[-1][0], item.hi)
        else:
            ranges.append((item.lo, item.hi))
        last = item.batch
    return ranges


class Journal:
    """Records sync progress from a thread of its own, on a connection of its own.

    The main thread's connection is busy streaming the snapshot; the journal writes beside
    it, flushing about once a second, skips before ranges, and keeps the lock's heartbeat
    going. Batches are recorded as they are answered, in any order: a slow batch holds back
    no other one; those of one flush with consecutive numbers make one range. Intents
    (`intend`) are written at once, and the caller waits for them; a withdrawn intent is a
    skip, so the merge does not take it as sent (every queued item is written before `close`
    returns, and the merge comes after).
    """

    def __init__(self, store: StateStore, model: ModelNode, lock: SyncLock) -> None:
        self._store = store
        self._lock = lock
        self._model_id = model.unique_id
        self._queue: queue.Queue[Answered | _Withdrawn | _Intent | None] = queue.Queue()
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
                beat = time.monotonic()
                while not done:
                    answered, skipped, intents, done = self._drain()
                    self._flush(w, mid, answered, skipped)
                    for intent in intents:
                        self._insert(w, mid, "sent", intent.keys)
                        intent.written.set()
                    if time.monotonic() - beat >= self._lock.beat_every:
                        self._lock.heartbeat(w)
                        beat = time.monotonic()
        except BaseException as exc:  # reported to the main thread by record()/close()
            self._error = exc

    def _drain(self) -> tuple[list[Answered], list[str], list[_Intent], bool]:
        """Everything recorded within one flush interval: the batches answered, the keys not
        confirmed (theirs and the withdrawn), the intents. An intent ends the interval at
        once (its sender waits)."""
        answered: list[Answered] = []
        skipped: list[str] = []
        intents: list[_Intent] = []
        deadline = time.monotonic() + JOURNAL_FLUSH_SECONDS
        while True:
            timeout = 0.0 if intents else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
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

    def _flush(self, w: Warehouse, mid: str, answered: list[Answered], skipped: list[str]) -> None:
        """Skips first, then the ranges in one statement: a run killed between the two has
        its answered keys sent again, never a skipped one taken as confirmed."""
        j = self._store.journal
        self._insert(w, mid, "skip", skipped)
        ranges = ranges_of(answered)
        if ranges:
            values = ", ".join(f"({mid}, 'range', {w.literal(lo)}, {w.literal(hi)})" for lo, hi in ranges)
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")

    def _insert(self, w: Warehouse, mid: str, kind: str, keys: list[str]) -> None:
        """One journal row of `kind` per key (lo = hi = the key), 1,000 to a statement."""
        j = self._store.journal
        for start in range(0, len(keys), 1000):
            values = ", ".join(
                f"({mid}, '{kind}', {k}, {k})" for k in map(w.literal, keys[start : start + 1000])
            )
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")
