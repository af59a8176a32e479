"""Track Events as a target: only the rows inside Pendo's window are frozen and diffed (the
rest counted by why they are left out), each new row is sent once as one event, and the
words say what was left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from ...dbt.artifacts import ModelNode
from ...engine import Channel
from ...errors import Problem, problems_of
from ...exposures import Exposure, mapping_sentence
from ...ledger.snapshot import ModelSnapshot, SnapshotColumns
from ...ledger.store import Ledger
from ...report_events import RunWarning
from ...results import Counts, ModelResult
from ...schemas import load_schema
from ...wording import head_words, join, sent_words, undelivered_words
from ..base import Capabilities, FoundColumns, ModelRun, ModelSink, RecordBuilder, Target, TargetSpec
from .body import EventBuilder, EventSender
from .spec import MAX_AGE_DAYS, OBJECT, EventSpec, event_spec, resolve_columns
from .window import FUTURE_DAYS, EventWindow


class EventsSink(ModelSink):
    """One event model's sync."""

    def __init__(self, spec: EventSpec, run: ModelRun) -> None:
        self.spec = spec
        self.run = run
        self.window = EventWindow.around(dt.datetime.now(dt.timezone.utc), spec.max_age_days)

    def read(self) -> SnapshotColumns:
        spec, warehouse, result = self.spec, self.run.warehouse, self.run.result
        found = warehouse.columns(self.run.node)
        real = {c.written: c.name for c in found}
        columns = resolve_columns(spec, {c.written: c.data_type for c in found})
        timestamp = warehouse.quote(real[columns.sent["timestamp"]])
        before, after = self.window.conditions(
            timestamp, columns.timestamp_type, spec.zone(), f"cast({{}} as {columns.timestamp_type})"
        )
        ((rows, too_old, too_new, oldest, newest),) = warehouse.query(
            f"select count(*), coalesce(sum(case when {before} then 1 else 0 end), 0), "
            f"coalesce(sum(case when {after} then 1 else 0 end), 0), min({timestamp}), max({timestamp}) "
            f"from {warehouse.relation(self.run.node)}"
        )
        result.counts.too_old, result.counts.too_new = int(too_old), int(too_new)
        if rows and too_old + too_new == rows:
            self.run.fire(RunWarning(nothing_in_window(spec, result.counts, oldest, newest)))
        # Events synced this long ago are before the window (a day ahead at most when sent).
        forget = (self.window.start - dt.timedelta(days=1 + FUTURE_DAYS)).replace(tzinfo=None)
        return SnapshotColumns(
            kind=spec.object,
            id_column=real[columns.event_id] if columns.event_id else None,
            mapping={real[column]: tag for tag, column in columns.sent.items()},
            salt=f"{spec.event_name or ''}|{spec.conversion_salt}",
            # A row outside the window is left out; one of no time (null) stays, to be refused.
            # (A CASE, not coalesce() of a condition: T-SQL has no boolean values.)
            where=f"case when ({before}) or ({after}) then 0 else 1 end = 1",
            window_rows=int(rows) - result.counts.too_old - result.counts.too_new,
            immutable=True,
            keep_since=f"cast('{forget:%Y-%m-%d %H:%M:%S}' as {warehouse.macro('type_timestamp')})",
        )

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        return EventBuilder(self.spec, snapshot.shape, self.window)

    def before(self, ledger: Ledger) -> Channel:
        return self.run.delivery.channel(EVENTS.capabilities, EventSender, self.run.result)

    def after(self, ledger: Ledger) -> None:
        """Nothing to keep beside the state."""

    def finished(self) -> None:
        """The summary's notes say what was left out."""


def nothing_in_window(spec: EventSpec, counts: Counts, oldest: Any, newest: Any) -> str:
    """What to say when every row of an event model is outside Pendo's window, and the
    options (`oldest` and `newest` are the timestamp column's values as read)."""
    rows, column = counts.too_old + counts.too_new, spec.timestamp_column
    if counts.too_old == rows:
        what = (
            f"all {rows:,} rows are older than max_age_days {spec.max_age_days} (the newest "
            f"{column} is {newest}): Pendo does not process Track Events older than {MAX_AGE_DAYS} days"
        )
        if spec.max_age_days < MAX_AGE_DAYS:
            what += f" (max_age_days can be raised to {MAX_AGE_DAYS})"
    elif counts.too_new == rows:
        what = f"all {rows:,} rows are more than {FUTURE_DAYS} day ahead (the oldest {column} is {oldest})"
    else:
        what = (
            f"all {rows:,} rows are outside the window Pendo processes: {counts.too_old:,} older than "
            f"max_age_days {spec.max_age_days}, {counts.too_new:,} more than {FUTURE_DAYS} day ahead"
        )
    return (
        f"{spec.model}: {what}; no event was sent. If the model should hold recent events, rebuild it "
        f"(`dbt build -s {spec.model}`) and check that {column} is when each event happened (naive "
        f"times are read in {spec.timezone}, epoch numbers below 1e11 as seconds). Events older than "
        f"{MAX_AGE_DAYS} days cannot be sent to Pendo as Track Events"
    )


class EventsTarget(Target):
    """Track Events (`object: event`): each row one event, sent once."""

    objects = (OBJECT,)
    block_schema = load_schema("pendo_event_block.schema.json")
    # An event sent twice counts twice in Pendo: each call is journaled before it goes out.
    capabilities = Capabilities(
        concurrent=True, write_ahead=True, immutable_rows=True, needs_key=False, needs_track_secret=True
    )

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> EventSpec:
        return event_spec(model, block)

    def check(self, spec: TargetSpec, found: FoundColumns) -> list[Problem]:
        return problems_of(lambda: resolve_columns(cast(EventSpec, spec), found.types))

    def mapping(self, spec: TargetSpec) -> dict[str, str]:
        return cast(EventSpec, spec).body_mapping()

    def exposure(self, kind: str) -> Exposure:
        return Exposure("pendo_track_events", "Pendo Track Events", "Pendo Track Events, one per row")

    def describe(self, spec: TargetSpec) -> str:
        return mapping_sentence(spec.model, self.mapping(spec), "sends", " as a property")

    def sink(self, spec: TargetSpec, run: ModelRun) -> EventsSink:
        return EventsSink(cast(EventSpec, spec), run)

    def words(self, result: ModelResult, dry_run: bool, label: str | None, zeros: bool) -> str:
        """`120 rows, 100 to send; 100 sent, 100 delivered`."""
        c = result.counts
        if dry_run:
            return head_words(result) + sent_words(c, dry_run, zeros)
        delivered = join(f"{c.sent:,} sent", f"{c.updated:,} delivered", *undelivered_words(c, zeros, False))
        return head_words(result) + delivered

    def notes(self, result: ModelResult) -> list[str]:
        """What the model left out, and why."""
        c, notes = result.counts, []
        if c.too_old or c.too_new:
            notes.append(
                f"not sent, outside Pendo's window: {c.too_old:,} too old, {c.too_new:,} in the future"
            )
        if c.changed:
            notes.append(f"{c.changed:,} changed under an event id already sent (events are sent once)")
        return notes


EVENTS = EventsTarget()
