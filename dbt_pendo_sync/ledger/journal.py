"""Confirmed progress of a running sync, written to the journal table beside the sends."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence

from ..dbt.artifacts import ModelNode
from ..dbt.warehouse import Warehouse
from ..errors import WarehouseError
from .lock import SyncLock
from .store import StateStore

JOURNAL_FLUSH_SECONDS = 1.0


class Journal:
    """Records sync progress from a thread of its own, on a connection of its own.

    The main thread's connection is busy streaming the snapshot; the journal writes beside
    it, coalescing answered ranges and flushing about once a second, skips before ranges,
    and keeps the lock's heartbeat going.
    """

    def __init__(self, store: StateStore, model: ModelNode, lock: SyncLock) -> None:
        self._store = store
        self._lock = lock
        self._model_id = model.unique_id
        self._queue: queue.Queue[tuple[str, str, list[str]] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pendo-journal", daemon=True)
        self._thread.start()

    def record(self, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Rows with keys lo..hi were answered; those with keys in `skipped` were not confirmed."""
        self._raise_if_failed()
        self._queue.put((lo, hi, list(skipped)))

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
                while not done:
                    lo, hi, skipped, done = self._drain()
                    if lo is not None and hi is not None:
                        self._flush(w, mid, lo, hi, skipped)
                    self._lock.heartbeat(w)
        except BaseException as exc:  # reported to the main thread by record()/close()
            self._error = exc

    def _drain(self) -> tuple[str | None, str | None, list[str], bool]:
        """Everything recorded within one flush interval, coalesced into one range."""
        lo = hi = None
        skipped: list[str] = []
        deadline = time.monotonic() + JOURNAL_FLUSH_SECONDS
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return lo, hi, skipped, False
            if item is None:
                return lo, hi, skipped, True
            lo = item[0] if lo is None else lo
            hi = item[1]
            skipped.extend(item[2])

    def _flush(self, w: Warehouse, mid: str, lo: str, hi: str, skipped: list[str]) -> None:
        j = self._store.journal
        for start in range(0, len(skipped), 1000):
            values = ", ".join(
                f"({mid}, 'skip', {k}, {k})" for k in map(w.literal, skipped[start : start + 1000])
            )
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")
        w.execute(
            f"insert into {j} (model_id, kind, lo, hi) values "
            f"({mid}, 'range', {w.literal(lo)}, {w.literal(hi)})"
        )
