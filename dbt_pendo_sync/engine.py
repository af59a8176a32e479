"""One model's sync: rows -> payloads -> batches -> Pendo's answers -> results.

The engine knows neither click, dbt internals nor which target it sends to: it gets rows
from a RowSource, builds them with the target's RecordBuilder, sends them through a Channel
(the target's sender, or a dry run's preview), and fires report events (report_events.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import PendoError
from .pendo.answers import BatchOutcome
from .pendo.sender import Sender
from .records import Record, payload_of
from .report_events import BatchSent, Fire, ModelProgress, RowUndelivered
from .results import ModelResult
from .rows import RowShape
from .targets.base import RecordBuilder, TargetSpec
from .vocab import Undelivered


class RowSource(Protocol):
    """Rows of one model to send, in the shape its builder reads (rows.py).

    Rows come in ascending state-key order (the warehouse's), so the journal can record
    progress as ranges of keys; a row whose key is null is invalid and never confirmed.
    """

    def duplicate_ids(self) -> set[str]:
        """Ids that occur on more than one row (all of those rows are invalid)."""

    def chunks(self) -> Iterator[Sequence[tuple]]:
        """The rows, in chunks."""


class ProgressJournal(Protocol):
    """Where confirmed progress is recorded (the warehouse state), batch by batch, as each
    batch is answered (not necessarily in key order)."""

    def record(self, batch: int, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Rows with keys lo..hi (batch number `batch`) were answered; those with keys in
        `skipped` were not confirmed. Batches are numbered in key order from 0, and no key
        lies between those of two consecutive batches, so consecutive ones make one range."""

    def intend(self, keys: Sequence[str]) -> None:
        """Rows with these keys are about to be sent: recorded before this returns."""

    def withdraw(self, keys: Sequence[str]) -> None:
        """Rows with these keys were intended but surely not delivered: not confirmed."""


@dataclass
class _Batch:
    """Records sent in one call, with the range of state keys they (and invalid rows among
    them) cover."""

    lo: str | None = None  # the first key covered; None while the batch covers none
    hi: str = ""  # the last key covered (set with lo)
    number: int = 0  # its place in key order among the model's batches (set when submitted)
    records: list[Record] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def cover(self, key: str | None) -> None:
        if key is not None:
            if self.lo is None:
                self.lo = key
            self.hi = key


@dataclass(frozen=True)
class Channel:
    """Where a model's batches go, and how: from up to `threads` threads at once when
    `concurrent`, each journaled before it goes out when `write_ahead` (targets/base.py
    Capabilities, as the delivery allows them)."""

    sender: Sender
    concurrent: bool
    write_ahead: bool
    threads: int


class ModelSync:
    """Runs one model: reads, builds, sends in batches, and accounts for every row."""

    def __init__(
        self,
        spec: TargetSpec,
        source: RowSource,
        build: RecordBuilder,
        channel: Channel,
        journal: ProgressJournal,
        fire: Fire,
        result: ModelResult,
    ) -> None:
        self.spec = spec
        self.source = source
        self.fire = fire
        self.sender = channel.sender
        self.channel = channel
        self.journal = journal
        self.threads = max(1, channel.threads)
        self.result = result
        self._build = build
        self._ahead: list[_Batch] = []  # batches waiting for their intent (write-ahead senders)
        self._submitted = 0  # batches submitted so far: the next one's number

    def run(self) -> None:
        """Send the source's rows; Pendo auth/reachability errors propagate to stop the run."""
        duplicates = self.source.duplicate_ids()
        batch = _Batch()
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="pendo-send") as pool:
            inflight: dict[Future[BatchOutcome], _Batch] = {}  # calls not collected, in key order
            try:
                for chunk in self.source.chunks():
                    built = self._build_many(chunk, duplicates)
                    if built is not None:
                        batch = self._add(pool, inflight, batch, *built)
                        self.fire(ModelProgress(self.spec, self.result))
                        continue
                    for row in chunk:
                        key = RowShape.key_of(row)
                        batch.cover(key)
                        rid, record = self._accept(row, duplicates)
                        if record is None or rid is None:
                            if key is not None:
                                batch.invalid.append(key)
                            continue
                        batch.records.append(record)
                        batch.ids.append(rid)
                        batch.keys.append(key)
                        if len(batch.records) >= self.spec.batch_size:
                            self._submit(pool, inflight, batch)
                            batch = _Batch()
                    self.fire(ModelProgress(self.spec, self.result))
                if batch.records or batch.invalid:
                    self._submit(pool, inflight, batch)
                if self._ahead:
                    self._send_ahead(pool)
                self._collect_answered(inflight, most=0)
            finally:
                for future in inflight:
                    future.cancel()
        self.fire(ModelProgress(self.spec, self.result))

    def _build_many(
        self, chunk: Sequence[tuple], duplicates: set[str]
    ) -> tuple[list[str], list[str], list[Record]] | None:
        """A chunk's (keys, ids, records) built at once, when every row of it is valid;
        None sends it through `_accept` row by row (which says why a row is invalid)."""
        built = self._build.many(chunk)
        if built is None:
            return None
        ids, records = built
        keys = [RowShape.key_of(row) for row in chunk]
        if None in keys or (duplicates and not duplicates.isdisjoint(ids)):
            return None
        return keys, ids, records

    def _add(
        self,
        pool: ThreadPoolExecutor,
        inflight: dict[Future[BatchOutcome], _Batch],
        batch: _Batch,
        keys: list[str],
        ids: list[str],
        records: list[Record],
    ) -> _Batch:
        """Valid rows into batches, in order, each full batch submitted; the batch being filled."""
        start = 0
        while start < len(keys):
            end = min(len(keys), start + self.spec.batch_size - len(batch.records))
            batch.cover(keys[start])
            batch.cover(keys[end - 1])
            batch.keys += keys[start:end]
            batch.ids += ids[start:end]
            batch.records += records[start:end]
            start = end
            if len(batch.records) >= self.spec.batch_size:
                self._submit(pool, inflight, batch)
                batch = _Batch()
        return batch

    def _accept(self, row: Sequence[Any], duplicates: set[str]) -> tuple[str | None, Record | None]:
        rid, record, reason = self._build.build(row)
        if reason is None and rid in duplicates:
            reason = "id occurs on more than one row of the model"
        if reason is not None:
            values = self._build.values(row)
            raw = dict(zip((self.spec.id_column, *self._build.shape.fields), values, strict=False))
            self._undelivered(Undelivered.INVALID, rid, reason, raw)
            return rid, None
        return rid, record

    def _submit(
        self, pool: ThreadPoolExecutor, inflight: dict[Future[BatchOutcome], _Batch], batch: _Batch
    ) -> None:
        batch.number = self._submitted
        self._submitted += 1
        if self.channel.write_ahead:
            self._ahead.append(batch)
            if len(self._ahead) >= self.threads:
                self._send_ahead(pool)
            return
        inflight[self._start(pool, batch)] = batch
        self._collect_answered(inflight, most=self.threads)

    def _collect_answered(self, inflight: dict[Future[BatchOutcome], _Batch], most: int) -> None:
        """Collect every call answered so far, waiting for answers while more than `most`
        are not. Each is collected (and journaled) as it is answered, whatever the calls
        before it in key order are doing: a run killed while one call is slow (retrying)
        sends again only the calls in flight. Those answered together go in key order, a
        failed one (which stops the run) after the others."""
        while True:
            answered = sorted((f for f in inflight if f.done()), key=_failed)
            for future in answered:
                self._collect(inflight.pop(future), future)
            if len(inflight) <= most:
                return
            wait(inflight, return_when=FIRST_COMPLETED)

    def _send_ahead(self, pool: ThreadPoolExecutor) -> None:
        """A group of batches (one per thread) journaled as sent, sent together, and all
        answered before the next group: a run killed meanwhile leaves only these in doubt,
        and takes them as sent rather than risk sending one twice. When the group ends, what
        surely did not reach Pendo has its intent withdrawn, so the next run sends it: calls
        Pendo answered with a failure or that never reached it, and the batches a stopping
        run did not send (after a call's fatal error, or Ctrl-C)."""
        group, self._ahead = self._ahead, []
        sent: list[Future[BatchOutcome]] = []
        starting = 0  # 1 while a call is being started: stopped then, that call is in doubt
        try:
            self.journal.intend([key for batch in group for key in batch.keys])
            for batch in group:
                starting = 1
                sent.append(self._start(pool, batch))
                starting = 0
            wait(sent, return_when=FIRST_EXCEPTION)
        except BaseException:  # interrupted (Ctrl-C): no answer is collected, so all is settled here
            _stop(sent)
            unstarted = [key for batch in group[len(sent) + starting :] for key in batch.keys]
            self._withdraw(unstarted + _unsent(group, sent, answered=True))
            raise
        _stop(sent)  # after a call's error, the calls not started yet are not made
        self._withdraw(_unsent(group, sent, answered=False))
        errors = [error for f in sent if not f.cancelled() and (error := f.exception()) is not None]
        for batch, future in zip(group, sent, strict=True):
            if not future.cancelled() and future.exception() is None:
                self._collect(batch, future)
        if errors:
            raise errors[0]

    def _withdraw(self, keys: list[str]) -> None:
        if keys:
            self.journal.withdraw(keys)

    def _start(self, pool: ThreadPoolExecutor, batch: _Batch) -> Future[BatchOutcome]:
        """The batch's call, in a thread of the pool or made here; its future holds the
        outcome or the error either way."""
        future: Future[BatchOutcome] = Future()
        if not batch.records:
            future.set_result(BatchOutcome())
        elif self.channel.concurrent:
            future = pool.submit(self.sender.send, batch.records, batch.ids)
        else:
            try:
                future.set_result(self.sender.send(batch.records, batch.ids))
            except Exception as exc:  # raised when collected, as from a thread
                future.set_exception(exc)
        return future

    def _collect(self, batch: _Batch, future: Future[BatchOutcome]) -> None:
        outcome = future.result()
        counts = self.result.counts
        counts.sent += len(batch.records)
        counts.updated += len(outcome.confirmed)
        payloads = (
            dict(zip(batch.ids, map(payload_of, batch.records), strict=True))
            if outcome.missing or outcome.rejected or outcome.failed
            else {}
        )
        for rid in outcome.missing:
            self._undelivered(
                Undelivered.MISSING,
                rid,
                f"Pendo has no {self.spec.object} with this id (update-only: unknown ids are not created)",
                payloads.get(rid),
            )
        for category, entries in (
            (Undelivered.REJECTED, outcome.rejected),
            (Undelivered.FAILED, outcome.failed),
        ):
            for rid, reason in entries:
                self._undelivered(category, rid, reason, payloads.get(rid))
        if batch.lo is not None:
            skipped = batch.invalid
            if len(outcome.confirmed) < len(batch.records):
                confirmed = set(outcome.confirmed)
                skipped = skipped + [
                    k for rid, k in zip(batch.ids, batch.keys, strict=True) if rid not in confirmed
                ]
            self.journal.record(batch.number, batch.lo, batch.hi, skipped)
        if batch.records and self.sender.delivers:
            self.fire(BatchSent(self.spec, len(batch.records), outcome, self.result))
        self.fire(ModelProgress(self.spec, self.result))

    def _undelivered(self, category: Undelivered, rid: str | None, reason: str, payload: Any) -> None:
        counts = self.result.counts
        counts.add(category)
        self.result.add_sample(category, rid, reason)
        self.fire(RowUndelivered(self.spec, category, rid, reason, payload))


def _failed(call: Future[BatchOutcome]) -> bool:
    """Whether an ended call failed (raised)."""
    return call.exception() is not None


def _stop(calls: Sequence[Future[BatchOutcome]]) -> None:
    """Cancel the calls not started yet and wait for the others to end."""
    for call in calls:
        call.cancel()
    wait(calls)


def _unsent(group: Sequence[_Batch], sent: Sequence[Future[BatchOutcome]], answered: bool) -> list[str]:
    """Keys of the started batches of a group (`sent`: the calls of its first batches) that
    surely did not reach Pendo: cancelled, or whose call failed with nothing sent
    (PendoError.unsent); with `answered`, also the records an answer did not confirm (else
    the answer is collected, which skips those). A call still running (a second Ctrl-C
    stopped the wait) may have reached Pendo: its keys stay intended, as after a kill."""
    keys: list[str] = []
    for batch, call in zip(group, sent, strict=False):
        if call.cancelled():
            keys += batch.keys
        elif not call.done():
            continue
        elif (error := call.exception()) is not None:
            if isinstance(error, PendoError) and error.unsent:
                keys += batch.keys
        elif answered:
            confirmed = set(call.result().confirmed)
            keys += [k for rid, k in zip(batch.ids, batch.keys, strict=True) if rid not in confirmed]
    return keys
