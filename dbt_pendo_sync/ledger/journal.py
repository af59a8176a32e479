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


class Journal:
    """Records sync progress from a thread of its own, on a connection of its own.

    The main thread's connection is busy streaming the snapshot; the journal writes beside
    it, coalescing answered ranges and flushing about once a second, skips before ranges,
    and keeps the lock's heartbeat going. Intents (`intend`) are written at once, and the
    caller waits for them; a withdrawn intent is a skip, so the merge does not take it as sent
    (every queued item is written before `close` returns, and the merge comes after).
    """

    def __init__(self, store: StateStore, model: ModelNode, lock: SyncLock) -> None:
        self._store = store
        self._lock = lock
        self._model_id = model.unique_id
        self._queue: queue.Queue[tuple[str | None, str | None, list[str]] | _Intent | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pendo-journal", daemon=True)
        self._thread.start()

    def record(self, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Rows with keys lo..hi were answered; those with keys in `skipped` were not confirmed."""
        self._raise_if_failed()
        self._queue.put((lo, hi, list(skipped)))

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
        self._queue.put((None, None, list(keys)))

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
                    lo, hi, skipped, intents, done = self._drain()
                    self._flush(w, mid, lo, hi, skipped)
                    for intent in intents:
                        self._insert(w, mid, "sent", intent.keys)
                        intent.written.set()
                    if time.monotonic() - beat >= self._lock.beat_every:
                        self._lock.heartbeat(w)
                        beat = time.monotonic()
        except BaseException as exc:  # reported to the main thread by record()/close()
            self._error = exc

    def _drain(self) -> tuple[str | None, str | None, list[str], list[_Intent], bool]:
        """Everything recorded within one flush interval, coalesced into one range; an intent
        ends the interval at once (its sender waits)."""
        lo = hi = None
        skipped: list[str] = []
        intents: list[_Intent] = []
        deadline = time.monotonic() + JOURNAL_FLUSH_SECONDS
        while True:
            timeout = 0.0 if intents else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return lo, hi, skipped, intents, False
            if item is None:
                return lo, hi, skipped, intents, True
            if isinstance(item, _Intent):
                intents.append(item)
                continue
            if item[0] is not None:  # a range answered (a withdrawal has none)
                lo = item[0] if lo is None else lo
                hi = item[1]
            skipped.extend(item[2])

    def _flush(self, w: Warehouse, mid: str, lo: str | None, hi: str | None, skipped: list[str]) -> None:
        j = self._store.journal
        self._insert(w, mid, "skip", skipped)
        if lo is not None and hi is not None:
            w.execute(
                f"insert into {j} (model_id, kind, lo, hi) values "
                f"({mid}, 'range', {w.literal(lo)}, {w.literal(hi)})"
            )

    def _insert(self, w: Warehouse, mid: str, kind: str, keys: list[str]) -> None:
        """One journal row of `kind` per key (lo = hi = the key), 1,000 to a statement."""
        j = self._store.journal
        for start in range(0, len(keys), 1000):
            values = ", ".join(
                f"({mid}, '{kind}', {k}, {k})" for k in map(w.literal, keys[start : start + 1000])
            )
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")
