"""ModelSync with a fake row source and journal, its report events kept in a list, and the
real senders' shapes: every row is accounted for, each batch is journaled as it is answered,
a preview confirms nothing."""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import orjson
import pytest

from dbt_pendo_sync.engine import Channel, ModelSync
from dbt_pendo_sync.errors import PendoAuthError, PendoError, PendoUnreachableError
from dbt_pendo_sync.ledger.journal import Answered, AnsweredRuns, _Intent, drain
from dbt_pendo_sync.pendo.answers import BatchOutcome
from dbt_pendo_sync.pendo.bodies import records_body
from dbt_pendo_sync.pendo.fields import Coercion
from dbt_pendo_sync.pendo.sender import PreviewSender
from dbt_pendo_sync.report_events import BatchSent, ReportEvent, RowUndelivered
from dbt_pendo_sync.results import ModelResult
from dbt_pendo_sync.rows import RowShape
from dbt_pendo_sync.targets.metadata import ColumnRule, MetadataSpec
from dbt_pendo_sync.targets.metadata.records import MetadataBuilder
from dbt_pendo_sync.vocab import NullPolicy, Undelivered


def _spec(batch_size: int = 2) -> MetadataSpec:
    return MetadataSpec(
        model="people",
        unique_id="model.p.people",
        properties_file="models/people.yml",
        object="visitor",
        id_column="id",
        fields=None,
        column_rules={"plan": ColumnRule()},
        batch_size=batch_size,
        nulls=NullPolicy.SKIP,
    )


class Rows:
    """A RowSource of (state key, id, plan) rows, in key order."""

    fields: Sequence[str] = ("plan",)
    clear: Sequence[bool] = (False,)

    def __init__(self, rows: list[tuple], duplicates: set[str] | None = None) -> None:
        self.rows = rows
        self.duplicates = duplicates or set()

    def duplicate_ids(self) -> set[str]:
        return self.duplicates

    def chunks(self) -> Iterator[Sequence[tuple]]:
        yield self.rows[:3]
        yield self.rows[3:]


class Fired(list[ReportEvent]):
    """The report events ModelSync fired (its `fire` is this list's append), in order."""

    @property
    def undelivered_rows(self) -> list[tuple[Undelivered, str | None, str]]:
        return [(e.category, e.record_id, e.reason) for e in self if isinstance(e, RowUndelivered)]

    @property
    def batches(self) -> int:
        return sum(isinstance(e, BatchSent) for e in self)


class Journal:
    def __init__(self, log: list | None = None) -> None:
        self.ranges: list[tuple[str, str, list[str]]] = []
        self.batches: list[int] = []  # the number of each batch recorded
        self.log = log if log is not None else []

    def record(self, batch: int, lo: str, hi: str, skipped: Sequence[str]) -> None:
        self.ranges.append((lo, hi, list(skipped)))
        self.batches.append(batch)

    def intend(self, keys: Sequence[str]) -> None:
        self.log.append(("intend", list(keys)))

    def withdraw(self, keys: Sequence[str]) -> None:
        self.log.append(("withdraw", list(keys)))


class Pendo:
    """A Sender answering like Pendo: unknown ids missing, the rest confirmed."""

    concurrent = True  # how the test's channel sends (a target's capabilities)
    delivers = True
    write_ahead = False

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.sent: list[dict] = []

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        self.sent += records
        ids = [r["visitorId"] for r in records]
        return BatchOutcome(
            confirmed=[i for i in ids if i in self.known], missing=[i for i in ids if i not in self.known]
        )


def _build(rows: Rows) -> MetadataBuilder:
    """The builder the pipeline gives a metadata model of these rows (no conversions)."""
    return MetadataBuilder(_spec().id_key, RowShape(tuple(rows.fields)), rows.clear)


def _channel(sender: Any, threads: int) -> Channel:
    """The channel a delivery gives this sender (the test's senders say how they send)."""
    concurrent, write_ahead = getattr(sender, "concurrent", False), getattr(sender, "write_ahead", False)
    return Channel(sender, concurrent, write_ahead, threads)


def _run(rows: Rows, sender: Any, journal: Journal | None = None) -> tuple[ModelResult, Fired, Journal]:
    result = ModelResult(model="people", unique_id="model.p.people", object="visitor")
    fired, journal = Fired(), journal or Journal()
    ModelSync(_spec(), rows, _build(rows), _channel(sender, 2), journal, fired.append, result).run()
    return result, fired, journal


ROWS = [("a", "a", "pro"), ("b", "b", None), ("c", None, "free"), ("d", "d", "pro"), ("e", "e", "free")]


def test_every_row_is_sent_invalid_or_missing_and_every_batch_is_journaled():
    pendo = Pendo(known={"a", "b", "d"})
    result, fired, journal = _run(Rows(ROWS), pendo)
    assert [r["visitorId"] for r in pendo.sent] == ["a", "b", "d", "e"]
    assert pendo.sent[1] == {"visitorId": "b", "values": {}}  # nulls: skip sends nothing
    c = result.counts
    assert (c.sent, c.updated, c.missing, c.invalid) == (4, 3, 1, 1)
    assert fired.undelivered_rows[0] == (Undelivered.INVALID, None, "id is null")
    # each batch as it is answered (the second may be first); c invalid, e missing
    assert sorted(journal.ranges) == [("a", "b", []), ("c", "e", ["c", "e"])]
    assert sorted(journal.batches) == [0, 1]
    assert fired.batches == 2


def test_duplicate_ids_are_invalid_and_never_sent():
    pendo = Pendo(known={"a", "b", "d", "e"})
    result, fired, _ = _run(Rows(ROWS, duplicates={"d"}), pendo)
    assert "d" not in [r["visitorId"] for r in pendo.sent]
    assert (
        Undelivered.INVALID,
        "d",
        "id occurs on more than one row of the model",
    ) in fired.undelivered_rows
    assert result.counts.invalid == 2


SEVEN = [(f"k{i}", f"v{i}", "pro") for i in range(1, 8)]


class Held(Pendo):
    """Holds the call of the batch with id `at` until the journal has `after` other batches
    (or 10 s went by); the other calls are answered at once."""

    def __init__(self, at: str, after: int, error: BaseException | None = None) -> None:
        super().__init__(known={f"v{i}" for i in range(1, 8)})
        self.at, self.error = at, error
        self.journal = Releasing(after)

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        if self.at in ids:
            self.journal.released.wait(timeout=10)
            if self.error is not None:
                raise self.error
        return super().send(records, ids)


class Releasing(Journal):
    """A journal that lets a held call go once it has `after` batches."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.released = threading.Event()

    def record(self, batch: int, lo: str, hi: str, skipped: Sequence[str]) -> None:
        super().record(batch, lo, hi, skipped)
        if len(self.batches) >= self.after:
            self.released.set()


def test_each_batch_is_journaled_as_it_is_answered_while_an_earlier_one_is_held():
    """The first call is held until the three after it are journaled: a run killed meanwhile
    would send only the held batch again. Every row is still accounted for once."""
    pendo = Held(at="v1", after=3)
    result, fired, journal = _run(Rows(SEVEN), pendo, pendo.journal)
    assert journal.batches == [1, 2, 3, 0]
    assert journal.ranges == [("k3", "k4", []), ("k5", "k6", []), ("k7", "k7", []), ("k1", "k2", [])]
    assert (result.counts.sent, result.counts.updated, fired.batches) == (7, 7, 4)


def test_calls_answered_before_an_earlier_call_stops_the_run_are_journaled():
    """An earlier call's fatal error stops the run, but what Pendo answered meanwhile stays
    confirmed: the next run does not send it again."""
    pendo = Held(at="v1", after=3, error=PendoAuthError("refused"))
    with pytest.raises(PendoAuthError):
        _run(Rows(SEVEN), pendo, pendo.journal)
    assert pendo.journal.batches == [1, 2, 3]


def test_answered_batches_make_one_range_per_run_of_consecutive_batches():
    runs = AnsweredRuns(
        [Answered(3, "k7", "k7", []), Answered(0, "k1", "k2", []), Answered(4, "k8", "k9", [])]
    )
    assert runs.ranges() == [("k1", "k2"), ("k7", "k9")]  # batches 1 and 2 not answered yet
    runs.add(Answered(1, "k3", "k4", ["k4"]))
    assert runs.ranges() == [("k1", "k4"), ("k7", "k9")]
    runs.add(Answered(2, "k5", "k6", []))
    assert runs.ranges() == [("k1", "k9")]


class Once(Pendo):
    """A sender whose sends must not repeat (Track Events); it logs each send."""

    write_ahead = True

    def __init__(self, known: set[str], log: list) -> None:
        super().__init__(known)
        self.log = log

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        self.log.append(("send", list(ids)))
        return super().send(records, ids)


def test_answered_batches_are_written_as_they_come_not_once_an_interval_is_over():
    """The journal thread takes what is queued and writes it, without waiting for more to
    come (a run killed in that wait would resend what Pendo answered): with an hour to wait
    for a first item, a queued answer is drained at once, with every answer queued by then."""
    items: queue.Queue = queue.Queue()
    first, second = Answered(3, "k5", "k6", []), Answered(1, "k1", "k2", ["k2"])
    items.put(first)
    items.put(second)
    drained: list = []
    thread = threading.Thread(target=lambda: drained.append(drain(items, wait=3600.0)), daemon=True)
    thread.start()
    thread.join(timeout=60)  # a drain that waited out its interval would take the hour
    assert drained == [([first, second], ["k2"], [], False)]
    items.put(None)
    assert drain(items, wait=3600.0) == ([], [], [], True)


def test_answers_are_gathered_until_the_gap_since_the_last_write_is_over_but_never_an_intent():
    """Within JOURNAL_GAP_SECONDS of the last write, answers are gathered into one write;
    an intent (whose sender waits) ends the gathering at once."""
    items: queue.Queue = queue.Queue()
    answer = Answered(0, "k1", "k2", [])
    items.put(answer)
    drained: list = []
    gather_until = time.monotonic() + 3600.0
    thread = threading.Thread(target=lambda: drained.append(drain(items, 3600.0, gather_until)), daemon=True)
    thread.start()
    intent = _Intent(["k3"])
    items.put(intent)  # whether the drain took the answer yet or not, it waits for more
    thread.join(timeout=60)
    assert drained == [([answer], [], [intent], False)]


def test_a_send_that_must_not_repeat_is_journaled_before_it_goes_out():
    """Every key is journaled as sent before its send, one group of batches per thread at a
    time: a run killed then takes the group as sent, never sends it again."""
    log: list = []
    rows = [(f"k{i}", f"v{i}", "pro") for i in range(1, 8)]
    result, _, journal = _run(Rows(rows), Once({f"v{i}" for i in range(1, 8)}, log), Journal(log))
    assert log[0] == ("intend", ["k1", "k2", "k3", "k4"])  # 2 threads, batches of 2
    assert sorted(log[1:3]) == [("send", ["v1", "v2"]), ("send", ["v3", "v4"])]
    assert log[3] == ("intend", ["k5", "k6", "k7"])
    assert sorted(log[4:]) == [("send", ["v5", "v6"]), ("send", ["v7"])]
    assert result.counts.updated == 7
    assert journal.ranges[-1] == ("k7", "k7", [])


class Failing(Once):
    """Fails the batch holding id `at` with `error`; the other batches go through."""

    def __init__(self, log: list, at: str, error: BaseException) -> None:
        super().__init__({f"v{i}" for i in range(1, 8)}, log)
        self.at, self.error = at, error

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        if self.at in ids:
            self.log.append(("send", list(ids)))
            raise self.error
        return super().send(records, ids)


@pytest.mark.parametrize(
    ("error", "withdrawn"),
    [
        (PendoAuthError("refused", unsent=True), ["k3", "k4"]),  # answered, or never connected
        (PendoUnreachableError("no answer came"), []),  # may have reached Pendo: taken as sent
    ],
    ids=["unsent", "maybe-sent"],
)
def test_a_call_that_stops_the_run_withdraws_its_intent_only_when_surely_unsent(
    error: PendoError, withdrawn: list[str]
):
    log: list = []
    journal = Journal(log)
    with pytest.raises(type(error)):
        _run(Rows(SEVEN), Failing(log, "v3", error), journal)
    assert log[0] == ("intend", ["k1", "k2", "k3", "k4"])
    withdrawals = [entry for entry in log if entry[0] == "withdraw"]
    assert withdrawals == ([("withdraw", withdrawn)] if withdrawn else [])
    assert journal.ranges == [("k1", "k2", [])]  # the other call of the group was answered
    assert not any(entry == ("intend", ["k5", "k6", "k7"]) for entry in log)  # next group never went


def test_a_run_interrupted_while_starting_a_group_withdraws_only_the_batches_not_started():
    """Ctrl-C while the group's 2nd call is being made (here: in this thread): that call is in
    doubt and stays intended; the 3rd batch never started and is withdrawn."""
    log: list = []
    sender = Failing(log, "v3", KeyboardInterrupt())
    sender.concurrent = False
    result = ModelResult(model="people", unique_id="model.p.people", object="visitor")
    with pytest.raises(KeyboardInterrupt):
        rows = Rows(SEVEN)
        ModelSync(
            _spec(), rows, _build(rows), _channel(sender, 3), Journal(log), Fired().append, result
        ).run()
    assert log == [
        ("intend", ["k1", "k2", "k3", "k4", "k5", "k6"]),
        ("send", ["v1", "v2"]),
        ("send", ["v3", "v4"]),
        ("withdraw", ["k5", "k6"]),
    ]


def test_a_run_interrupted_while_its_intent_is_written_withdraws_the_whole_group():
    """Ctrl-C while the journal writes the group's intent (which may be written all the
    same): nothing of the group was sent, so all of it is withdrawn."""
    log: list = []

    class Interrupted(Journal):
        def intend(self, keys: Sequence[str]) -> None:
            super().intend(keys)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(Rows(SEVEN), Once({f"v{i}" for i in range(1, 8)}, log), Interrupted(log))
    assert log == [("intend", ["k1", "k2", "k3", "k4"]), ("withdraw", ["k1", "k2", "k3", "k4"])]


def test_a_preview_keeps_the_first_payloads_and_confirms_nothing():
    preview = PreviewSender(show=3)
    result, fired, journal = _run(Rows(ROWS), preview)
    assert [r["visitorId"] for r in preview.sample] == ["a", "b", "d"]
    assert result.counts.sent == 4 and result.counts.updated == 0
    assert fired.batches == 0  # no Pendo answer to report
    assert all(skipped for _, _, skipped in journal.ranges)  # nothing confirmed


def test_a_chunk_built_a_column_at_a_time_is_the_records_built_row_by_row():
    converters = [Coercion("string").converter(), Coercion("float").converter(), Coercion("time").converter()]
    build = MetadataBuilder("visitorId", RowShape(("plan", "mrr", "seen")), [False, True, False], converters)
    seen = dt.datetime(2024, 5, 6, 7, 8, 9)
    chunk = [
        ("k1", "v1", "pro", Decimal("12.50"), seen),
        ("k2", 7, None, None, None),  # an int id, a skipped null, a cleared null
        ("k3", "v3", "x" * 1500, 3.25, dt.date(2024, 1, 2)),
    ]
    ids, records = build.many(chunk) or ([], [])
    assert list(zip(ids, records, strict=True)) == [
        (rid, record) for rid, record, _ in map(build.build, chunk)
    ]
    assert records[1] == {"visitorId": "7", "values": {"mrr": None}}

    invalid = [*chunk, ("k4", "v4", "x" * 1501, 1.0, seen)]  # text over Pendo's limit
    assert build.many(invalid) is None
    assert (
        build.build(invalid[-1])[2]
        == "field plan: text of 1501 characters is over Pendo's 1500 (set truncate_text: true to cut it)"
    )


def test_records_the_warehouse_wrote_are_sent_as_its_texts_under_their_ids():
    build = MetadataBuilder("visitorId", RowShape(("plan",), record_json=True), [False])
    texts = ['{"visitorId":"v1","values":{"plan":"pro"}}', '{"visitorId":"7","values":{}}']
    chunk = [("k1", "v1", texts[0], None), ("k2", 7, texts[1], None)]  # a text id, a whole one
    assert build.many(chunk) == (["v1", "7"], texts)
    assert [build.build(row)[:2] for row in chunk] == [("v1", texts[0]), ("7", texts[1])]
    assert orjson.loads(records_body(texts)) == [orjson.loads(t) for t in texts]
    mixed = [texts[0], {"visitorId": "v2", "values": {"plan": None}}]  # one row Python built
    assert orjson.loads(records_body(mixed)) == [orjson.loads(texts[0]), mixed[1]]
    # A row the warehouse could not write (its text null) sends the chunk row by row.
    assert build.many([*chunk, ("k3", " ", None, "pro")]) is None
    assert build.build(("k3", " ", None, "pro"))[2] == "id is blank"
