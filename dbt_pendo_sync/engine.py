"""One model's sync: rows -> payloads -> batches -> Pendo's answers -> results.

The engine knows neither click nor dbt internals: it gets rows from a RowSource, sends
through a PendoClient (or nothing, on a dry run), and reports through an EventSink.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Sequence

from .config import SyncSpec
from .pendo.answers import BatchOutcome
from .pendo.client import PendoClient
from .pendo.fields import InvalidValue, record_id, to_json_value
from .results import ModelResult

DRY_RUN_SAMPLE = 5


class RowSource(Protocol):
    """Rows of one model: the id first, then one value per field, in `fields` order."""

    relation: str
    fields: Sequence[str]

    def duplicate_ids(self) -> set[str]:
        """Ids that occur on more than one row (all of those rows are invalid)."""

    def chunks(self) -> Iterator[Sequence[tuple]]:
        """The rows, in chunks."""


class EventSink(Protocol):
    """Where the engine reports progress and rows it did not deliver."""

    def model_started(self, spec: SyncSpec, relation: str) -> None: ...
    def progress(self, spec: SyncSpec, result: ModelResult) -> None: ...
    def undelivered(self, spec: SyncSpec, category: str, record_id: str | None,
                    reason: str, payload: Any) -> None: ...


@dataclass(frozen=True)
class SendOptions:
    """How records go out: concurrency and whether Pendo may create unknown records."""

    threads: int = 4
    create: bool = False


def _build(spec: SyncSpec, fields: Sequence[str], row: tuple) -> tuple[str | None, dict | None, str | None]:
    """(id, record, None) for a good row; (id or None, None, reason) for an invalid one."""
    try:
        rid = record_id(row[0])
    except InvalidValue as exc:
        return None, None, str(exc)
    values: dict[str, Any] = {}
    for name, value in zip(fields, row[1:]):
        if value is None:
            continue  # a null never overwrites what Pendo has
        try:
            values[name] = to_json_value(value)
        except InvalidValue as exc:
            return rid, None, f"field {name}: {exc}"
    return rid, {spec.id_key: rid, "values": values}, None


class ModelSync:
    """Runs one model: reads, builds, sends in batches, and accounts for every row."""

    def __init__(self, spec: SyncSpec, source: RowSource, sink: EventSink,
                 client: PendoClient | None, options: SendOptions = SendOptions()) -> None:
        self.spec = spec
        self.source = source
        self.sink = sink
        self.client = client
        self.options = options
        self.result = ModelResult(model=spec.model, unique_id=spec.unique_id,
                                  object=spec.object, relation=source.relation)

    def run(self) -> ModelResult:
        """Sync the whole model; Pendo auth/reachability errors propagate to stop the run."""
        started = time.monotonic()
        self.result.started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.sink.model_started(self.spec, self.source.relation)
        try:
            self._run()
        finally:
            self.result.seconds = round(time.monotonic() - started, 3)
        self.result.settle()
        return self.result

    def _run(self) -> None:
        duplicates = self.source.duplicate_ids()
        batch: list[dict] = []
        with ThreadPoolExecutor(max_workers=max(1, self.options.threads),
                                thread_name_prefix="pendo-send") as pool:
            inflight: deque[tuple[list[dict], Future]] = deque()
            try:
                for chunk in self.source.chunks():
                    for row in chunk:
                        record = self._accept(row, duplicates)
                        if record is None:
                            continue
                        batch.append(record)
                        if len(batch) >= self.spec.batch_size:
                            self._submit(pool, inflight, batch)
                            batch = []
                    self.sink.progress(self.spec, self.result)
                if batch:
                    self._submit(pool, inflight, batch)
                while inflight:
                    self._collect(*inflight.popleft())
            finally:
                for _, future in inflight:
                    future.cancel()
        self.sink.progress(self.spec, self.result)

    def _accept(self, row: tuple, duplicates: set[str]) -> dict | None:
        self.result.counts.read += 1
        rid, record, reason = _build(self.spec, self.source.fields, row)
        if reason is None and rid in duplicates:
            reason = "id occurs on more than one row of the model"
        if reason is not None:
            raw = dict(zip((self.spec.id_column, *self.source.fields), row))
            self._undelivered("invalid", rid, reason, raw)
            return None
        return record

    def _submit(self, pool: ThreadPoolExecutor, inflight: deque, batch: list[dict]) -> None:
        if self.client is None:
            self._plan(batch)
            return
        client, kind, id_key, create = self.client, self.spec.object, self.spec.id_key, self.options.create
        inflight.append((batch, pool.submit(client.write_values, kind, batch, id_key, create)))
        while len(inflight) > 2 * max(1, self.options.threads):
            self._collect(*inflight.popleft())

    def _plan(self, batch: list[dict]) -> None:
        """Dry run: count what would be sent and keep a few payloads to show."""
        self.result.counts.sent += len(batch)
        room = DRY_RUN_SAMPLE - len(self.result.payload_sample)
        self.result.payload_sample.extend(batch[:max(0, room)])

    def _collect(self, batch: list[dict], future: Future) -> None:
        outcome: BatchOutcome = future.result()
        counts = self.result.counts
        counts.sent += len(batch)
        counts.updated += len(outcome.confirmed)
        payloads = {r[self.spec.id_key]: r for r in batch}
        for rid in outcome.missing:
            self._undelivered("missing", rid, f"Pendo has no {self.spec.object} with this id "
                              "(update-only: unknown ids are not created)", payloads.get(rid))
        for category, entries in (("rejected", outcome.rejected), ("failed", outcome.failed)):
            for rid, reason in entries:
                self._undelivered(category, rid, reason, payloads.get(rid))
        self.sink.progress(self.spec, self.result)

    def _undelivered(self, category: str, rid: str | None, reason: str, payload: Any) -> None:
        counts = self.result.counts
        setattr(counts, category, getattr(counts, category) + 1)
        self.result.add_sample(category, rid, reason)
        self.sink.undelivered(self.spec, category, rid, reason, payload)
