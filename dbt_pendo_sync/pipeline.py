"""A run's planned models through the warehouse and Pendo, one after the other: columns,
field checks, ledger, snapshot and diff, then the engine, with a delivery (sync or preview)
deciding where records go and what is recorded."""

from __future__ import annotations

import datetime as dt
import gc
import time
from dataclasses import dataclass
from typing import Protocol

from .config import ModelSpec, SyncSpec
from .dbt.artifacts import Manifest, ModelNode
from .dbt.compat import DbtTarget, build_adapter
from .dbt.warehouse import Warehouse
from .delivery import Delivery
from .engine import MetadataBuilder, ModelSync, RecordBuilder
from .errors import ConfigError, DbtError, DbtPendoError, PendoError, RemovalsError, SegmentGoneError
from .events import RunEvents
from .fieldcheck import field_problems, missing_field_problems, read_as_text, unsendable
from .ledger.snapshot import ModelSnapshot, RecordSQL, SnapshotColumns
from .ledger.store import StateStore
from .pendo.fields import Converter, refused_column, warehouse_id_kind
from .pendo.sender import Sender
from .plan import PlannedModel
from .results import Counts, ModelResult, SyncResults
from .settings import SyncOptions
from .targets.events import (
    FUTURE_DAYS,
    EventBuilder,
    EventSpec,
    EventWindow,
    nothing_in_window,
    resolve_columns,
)
from .targets.segments import SegmentSender, SegmentSpec, build_membership
from .vocab import ChangeKind, ModelStatus, OnRemove


@dataclass
class Run:
    """What every model of one run shares."""

    target: DbtTarget
    state_schema: str | None
    report: RunEvents
    delivery: Delivery
    started: bool = False  # the run got as far as the warehouse: its files are its own to write


@dataclass(frozen=True)
class Columns:
    """A model's columns resolved against its relation and Pendo's fields, once per run.

    Columns go by their written names (warehouse.WarehouseColumn), `real` gives the names
    the SQL quotes."""

    id_column: str
    mapping: dict[str, str]  # {column: Pendo field}
    types: dict[str, str]  # {column: the adapter's type}
    pendo_types: dict[str, str] | None  # {field: Pendo's type}; None when unknown (a preview)
    real: dict[str, str]  # {column: its real name in the warehouse}


def sync_models(planned: list[PlannedModel], manifest: Manifest, run: Run, results: SyncResults) -> None:
    """Sync each model in turn on one warehouse connection, appending its result."""
    if not planned:
        run.started = True
        skipped = len(results.models)  # each with its reason, reported as it was skipped
        run.report.note(
            f"nothing to sync: all {skipped} selected model(s) with a pendo block were skipped"
            if skipped
            else "no selected model has a pendo block: nothing to sync"
        )
        return
    warehouse = Warehouse(build_adapter(run.target, manifest.path))
    built_for = manifest.adapter_type
    if built_for and built_for != warehouse.adapter_type:
        raise DbtError(
            f"the manifest {manifest.path} was written for a {built_for} target, but the "
            f"profile's target is {warehouse.adapter_type}: run dbt for this target first, or "
            "pass the matching --target"
        )
    problems = [p for model in planned for p in model.name_problems(warehouse, run.state_schema)]
    if problems:  # before the connection opens: no statement has run
        raise ConfigError(problems=problems)
    # Objects alive now (dbt's manifest, adapter and imports: millions) are left out of the
    # garbage collector's full passes while rows stream, which otherwise rescan them every
    # few hundred thousand records (measured: half the GC time of a 300k-row sync).
    gc.freeze()
    try:
        with warehouse.connection():
            run.started = True
            if warehouse.session_note:
                run.report.debug(warehouse.session_note, adapter_type=warehouse.adapter_type)
            for model in planned:
                _sync_one(model, warehouse, run, results)
    finally:
        gc.unfreeze()


def _sync_one(planned: PlannedModel, warehouse: Warehouse, run: Run, results: SyncResults) -> None:
    """One model, its result appended as it starts (so a run that stops keeps its counts so
    far); an error that concerns only this model is recorded and the run goes on."""
    spec = planned.spec
    result = ModelResult(
        model=spec.model,
        unique_id=spec.unique_id,
        object=spec.object,
        relation=str(warehouse.relation(planned.node)),
        full_resync=run.delivery.options.full_resync,
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    results.models.append(result)
    started = time.monotonic()
    try:
        _sync_model(planned, warehouse, run, result)
    except KeyboardInterrupt:
        result.status = ModelStatus.INTERRUPTED
        result.message = (
            "interrupted: what Pendo confirmed is kept in the sync state; the next run sends the rest"
        )
        raise
    except PendoError as exc:  # stops the whole run, which reports it
        result.status, result.message = ModelStatus.ERROR, str(exc)
        raise
    except DbtPendoError as exc:
        result.status, result.message = ModelStatus.ERROR, str(exc)
    finally:
        result.seconds = round(time.monotonic() - started, 3)
        if result.status not in (ModelStatus.ERROR, ModelStatus.INTERRUPTED):
            result.settle()
            result.status = run.delivery.settled or result.status
        run.report.model_finished(result)


def _sync_model(planned: PlannedModel, warehouse: Warehouse, run: Run, result: ModelResult) -> None:
    spec, delivery = planned.spec, run.delivery
    if isinstance(spec, EventSpec):
        _sync_events(planned, spec, warehouse, run, result)
        return
    if isinstance(spec, SegmentSpec):
        _sync_segment(planned, spec, warehouse, run, result)
        return
    columns = _columns(spec, planned, warehouse, delivery)
    store = _store(planned, warehouse, run, result)
    snapshot = _frozen(store, planned, _read(spec, columns), delivery)
    converters = _converters(spec, columns)
    in_warehouse = snapshot.record_json is not None
    result.records_built_by = "warehouse" if in_warehouse else "python"
    build = MetadataBuilder(
        spec.id_key, snapshot.fields, snapshot.clear, converters, snapshot.departed, in_warehouse
    )
    _send(spec, planned, snapshot, run, result, build)


class InsideLock(Protocol):
    """What a model's target does inside the model's lock, around its send: every read and
    write of the model's ledger rows happens while the lock is held."""

    def before(self) -> Sender:
        """Read what the send needs from the ledger (before the snapshot); the sender."""

    def after(self) -> None:
        """Record what the send made, also when it stopped early."""


def _send(
    spec: ModelSpec,
    planned: PlannedModel,
    snapshot: ModelSnapshot,
    run: Run,
    result: ModelResult,
    build: RecordBuilder,
    hooks: InsideLock | None = None,
) -> None:
    """Freeze and diff the model, then send what changed (through the hooks' sender, else
    the delivery's), inside the delivery's ledger."""
    delivery = run.delivery
    with delivery.ledger(snapshot.store, planned.node, snapshot) as journal:
        run.report.model_started(spec, snapshot.relation)
        sender = hooks.before() if hooks is not None else None
        try:
            snapshot.create()
            _count(snapshot, result)
            _check_removals(spec, result, delivery.options)
            sender = sender if sender is not None else delivery.sender(spec, result)
            ModelSync(
                spec, snapshot, run.report, sender, result, journal, build, delivery.options.threads
            ).run()
        finally:
            if hooks is not None:
                hooks.after()


def _sync_segment(
    planned: PlannedModel,
    spec: SegmentSpec,
    warehouse: Warehouse,
    run: Run,
    result: ModelResult,
    *,
    gone: str | None = None,
) -> None:
    """A segment's members: new rows added, departed members removed (_SegmentLedger keeps
    the segment's id). A segment deleted in Pendo (`gone`: its id) is created again with
    every member, once per run."""
    node = planned.node
    found = {c.written: c.name for c in warehouse.columns(node)}
    id_column = found[spec.member_column(list(found))]
    store = _store(planned, warehouse, run, result)
    state_exists = run.delivery.state_exists(store)
    read = SnapshotColumns(kind=spec.object, id_column=id_column, mapping={}, departed=True)
    snapshot = _frozen(store, planned, read, run.delivery, state_exists=state_exists)
    ledger = _SegmentLedger(spec, node, store, run, result, state_exists, gone)
    try:
        _send(spec, planned, snapshot, run, result, build_membership, ledger)
    except SegmentGoneError as exc:
        if gone is not None:
            raise
        run.report.warn(
            f"{spec.model}: segment '{spec.segment}' ({exc.segment_id}) no longer exists in Pendo: "
            "it is created again with every member of the model"
        )
        result.counts = Counts()
        _sync_segment(planned, spec, warehouse, run, result, gone=exc.segment_id)
        return
    c = result.counts
    if c.removed and c.removed == c.unchanged + c.changed + c.removed and not c.new:
        run.report.note(f"{spec.model}: the model is empty: segment '{spec.segment}' emptied")
    elif ledger.segment_id is None and not c.new:
        run.report.note(f"{spec.model}: the model is empty: segment '{spec.segment}' not created")


@dataclass
class _SegmentLedger:
    """A segment model's id of its segment, read and kept inside the model's lock: the id
    kept with the state, else the API-made segment of the block's name (adopted, and said
    so), else none (the first call creates the segment). A run that waited for the lock
    finds the id the run before it kept, so two runs of a new model make one segment."""

    spec: SegmentSpec
    node: ModelNode
    store: StateStore
    run: Run
    result: ModelResult
    state_exists: bool
    gone: str | None  # the id of a segment deleted in Pendo: not to be used again
    known: str | None = None
    segment_id: str | None = None
    sender: Sender | None = None

    def before(self) -> Sender:
        delivery, spec = self.run.delivery, self.spec
        known = self.store.target_id(self.node) if self.state_exists else None
        self.known = None if known == self.gone else known
        self.segment_id = self.known or delivery.find_segment(spec.segment)
        if self.known is None and delivery.sends:
            self.store.forget(self.node)  # members recorded for a segment not found: start over
        if self.known is None and self.segment_id is not None:
            self.result.adopted_segment_id = self.segment_id
            self.run.report.warn(
                f"{spec.model}: {'adopting' if delivery.sends else 'would adopt'} segment "
                f"'{spec.segment}' ({self.segment_id}) created elsewhere: this model's state knows "
                "no segment, and Pendo has one of this name made through the API. The model's "
                "visitors are added to it; members it has that the model lacks stay"
            )
        self.sender = delivery.sender(spec, self.result, self.segment_id)
        return self.sender

    def after(self) -> None:
        if not self.run.delivery.sends:
            return
        if isinstance(self.sender, SegmentSender) and self.sender.created:
            self.store.keep_target_id(self.node, self.sender.created)
            self.run.report.note(
                f"{self.spec.model}: created segment '{self.spec.segment}' ({self.sender.created})"
            )
        elif self.segment_id is not None and self.known is None:
            self.store.keep_target_id(self.node, self.segment_id)


def _sync_events(
    planned: PlannedModel, spec: EventSpec, warehouse: Warehouse, run: Run, result: ModelResult
) -> None:
    """An event model: only the rows inside Pendo's window are frozen and diffed; the rest
    are counted by why they are left out."""
    run.delivery.check_events(spec)
    found = warehouse.columns(planned.node)
    real = {c.written: c.name for c in found}
    columns = resolve_columns(spec, {c.written: c.data_type for c in found})
    window = EventWindow.around(dt.datetime.now(dt.timezone.utc), spec.max_age_days)
    timestamp = warehouse.quote(real[columns.sent["timestamp"]])
    before, after = window.conditions(
        timestamp, columns.timestamp_type, spec.zone(), f"cast({{}} as {columns.timestamp_type})"
    )
    ((rows, too_old, too_new, oldest, newest),) = warehouse.query(
        f"select count(*), coalesce(sum(case when {before} then 1 else 0 end), 0), "
        f"coalesce(sum(case when {after} then 1 else 0 end), 0), min({timestamp}), max({timestamp}) "
        f"from {warehouse.relation(planned.node)}"
    )
    result.counts.too_old, result.counts.too_new = int(too_old), int(too_new)
    if rows and too_old + too_new == rows:
        run.report.warn(nothing_in_window(spec, result.counts, oldest, newest))
    store = _store(planned, warehouse, run, result)
    # Events synced this long ago are before the window (a day ahead at most when sent).
    forget = (window.start - dt.timedelta(days=1 + FUTURE_DAYS)).replace(tzinfo=None)
    read = SnapshotColumns(
        kind=spec.object,
        id_column=real[columns.event_id] if columns.event_id else None,
        mapping={real[column]: tag for tag, column in columns.sent.items()},
        salt=f"{spec.event_name or ''}|{spec.conversion_salt}",
        where=f"not coalesce(({before}) or ({after}), false)",
        window_rows=int(rows) - result.counts.too_old - result.counts.too_new,
        immutable=True,
        keep_since=f"cast('{forget:%Y-%m-%d %H:%M:%S}' as {warehouse.macro('type_timestamp')})",
    )
    snapshot = _frozen(store, planned, read, run.delivery)
    _send(spec, planned, snapshot, run, result, EventBuilder(spec, columns, window))


def _columns(spec: SyncSpec, planned: PlannedModel, warehouse: Warehouse, delivery: Delivery) -> Columns:
    """The model's columns, checked against Pendo's fields before any write: conflicts and
    missing fields stop this model (unless missing fields are to be created)."""
    found = warehouse.columns(planned.node)
    types = {c.written: c.data_type for c in found}
    id_column, mapping = spec.resolve_columns(list(types))
    pendo_types = delivery.field_types(spec.object, spec.group)
    if pendo_types is not None:
        problems, missing = field_problems(spec, mapping, types, pendo_types)
        if problems:
            raise ConfigError(problems=problems)
        creates = (delivery.options.create_fields or spec.create_fields) and spec.group == "custom"
        if missing and not creates:  # agent fields are Pendo's own: they cannot be created
            raise ConfigError(problems=missing_field_problems(spec, mapping, missing))
        if missing:
            delivery.create_fields(spec.object, missing)
            pendo_types = delivery.field_types(spec.object, spec.group)
    return Columns(id_column, mapping, types, pendo_types, {c.written: c.name for c in found})


def _store(planned: PlannedModel, warehouse: Warehouse, run: Run, result: ModelResult) -> StateStore:
    """The model's state tables, named in its result."""
    store = StateStore(warehouse, planned.state_location(run.state_schema))
    result.state_table = str(store.state)
    return store


def _frozen(
    store: StateStore,
    planned: PlannedModel,
    read: SnapshotColumns,
    delivery: Delivery,
    *,
    state_exists: bool | None = None,
) -> ModelSnapshot:
    """The model's snapshot of `read`, diffed against the state when the delivery has one."""
    if state_exists is None:
        state_exists = delivery.state_exists(store)
    return ModelSnapshot(
        store, planned.node, read, full_resync=delivery.options.full_resync, state_exists=state_exists
    )


def _read(spec: SyncSpec, columns: Columns) -> SnapshotColumns:
    """What a metadata model's snapshot reads and fingerprints."""
    known, real = columns.pendo_types or {}, columns.real
    return SnapshotColumns(
        kind=spec.object,
        id_column=real[columns.id_column],
        mapping={real[c]: f for c, f in columns.mapping.items()},
        clear=frozenset(real[c] for c in columns.mapping if spec.clears_nulls(c)),
        as_text=frozenset(
            real[c]
            for c, f in columns.mapping.items()
            if read_as_text(columns.types.get(c, ""), known.get(f))
        ),
        salt=spec.conversion_salt,
        departed=spec.on_remove is OnRemove.CLEAR,
        records=RecordSQL(
            id_key=spec.id_key,
            id_kind=warehouse_id_kind(columns.types.get(columns.id_column, "")),
            kinds={  # None for every column when Pendo's types are unknown (known is empty)
                real[c]: spec.coercion(known.get(f), columns.types.get(c, "")).warehouse_kind(
                    columns.types.get(c, "")
                )
                for c, f in columns.mapping.items()
            },
        ),
    )


def _converters(spec: SyncSpec, columns: Columns) -> list[Converter]:
    """Per mapped column, the conversion to its Pendo field's type (generic when unknown)."""
    known = columns.pendo_types or {}
    converters = []
    for column, field_name in columns.mapping.items():
        column_type = columns.types.get(column, "")
        refused = unsendable(column_type)
        converters.append(
            refused_column(column_type, f"{refused.why}; {refused.fix}")
            if refused
            else spec.coercion(known.get(field_name), column_type).converter()
        )
    return converters


def _check_removals(spec: ModelSpec, result: ModelResult, options: SyncOptions) -> None:
    """Stop a model that would clear (on_remove: clear) or remove from its segment more than
    --max-removals percent of its synced records (a broken upstream model must not wipe
    Pendo), unless --allow-removals."""
    c = result.counts
    synced = c.unchanged + c.changed + c.removed
    if not c.removed or options.allow_removals or 100 * c.removed <= options.max_removals * synced:
        return
    verb, what = ("remove", "members") if isinstance(spec, SegmentSpec) else ("clear", "records")
    raise RemovalsError(
        f"{spec.where()}: this run would {verb} {c.removed:,} of the {synced:,} {what} synced before "
        f"({100 * c.removed / synced:.0f}% > --max-removals {options.max_removals:g}%); nothing was "
        "sent. If the model is right (check its last build), run once with --allow-removals"
    )


def _count(snapshot: ModelSnapshot, result: ModelResult) -> None:
    counts = snapshot.counts()
    result.counts.new, result.counts.changed = counts[ChangeKind.NEW], counts[ChangeKind.CHANGED]
    result.counts.unchanged = counts[ChangeKind.SAME]
    result.counts.removed = counts[ChangeKind.REMOVED]
    result.counts.frozen = snapshot.frozen
    # An event model's rows include those outside Pendo's window, counted before the snapshot.
    outside = result.counts.too_old + result.counts.too_new
    left = counts[ChangeKind.REMOVED] + counts[ChangeKind.DROPPED]
    result.counts.rows = sum(counts.values()) - left + outside
