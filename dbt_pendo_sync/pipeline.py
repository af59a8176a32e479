"""A sync run's models through the warehouse and Pendo, one after the other: columns, field
checks, state, lock, snapshot and diff, the engine, then the state merge."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from .config import SyncSpec
from .dbt.artifacts import Manifest, ModelNode
from .dbt.compat import DbtTarget, build_adapter
from .dbt.state import Journal, ModelSnapshot, StateLocation, StateStore, SyncLock
from .dbt.warehouse import Warehouse
from .engine import ModelSync, SendOptions
from .errors import ConfigError, DbtError, DbtPendoError, PendoError
from .fieldcheck import field_problems, missing_field_problems, read_as_text, unsendable
from .pendo.client import PendoClient
from .pendo.fields import refused_column
from .report import ConsoleReport
from .results import ModelResult, SyncResults
from .vocab import ChangeKind, ModelStatus

# What a dry run that cannot read Pendo's fields shows instead.
UNKNOWN_TYPES = (
    "Pendo's field types are unknown, so the preview shows values with their warehouse JSON "
    "types (120, true, text), while a sync converts each to its Pendo field's type (120 into a "
    'text field is sent as "120")'
)


@dataclass
class Run:
    """What every model of one run shares."""

    target: DbtTarget
    state_schema: str | None
    client: PendoClient | None  # None only on a dry run without a key (field types unknown)
    report: ConsoleReport
    options: SendOptions
    dry_run: bool = False
    full_resync: bool = False
    lock_wait: float = 10.0
    lock_stale_after: float = 60.0
    create_fields: bool = False
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    started: bool = False  # the run got as far as the warehouse: its files are its own to write


def sync_models(
    specs: list[tuple[SyncSpec, ModelNode]], manifest: Manifest, run: Run, results: SyncResults
) -> None:
    """Sync each model in turn on one warehouse connection, appending its result."""
    if not specs:
        run.started = True
        run.report.note("no selected model has a pendo block: nothing to sync")
        return
    warehouse = Warehouse(build_adapter(run.target))
    built_for = manifest.adapter_type
    if built_for and built_for != warehouse.adapter_type:
        raise DbtError(
            f"the manifest {manifest.path} was written for a {built_for} target, but the "
            f"profile's target is {warehouse.adapter_type}: run dbt for this target first, or "
            "pass the matching --target"
        )
    with warehouse.connection():
        run.started = True
        for spec, model in specs:
            _sync_one(spec, model, warehouse, run, results)


def state_location(spec: SyncSpec, model: ModelNode, state_schema: str | None) -> StateLocation:
    """Where a model's state lives: its block's state_schema, else the run's, else its schema."""
    schema = spec.state_schema or state_schema or model.schema
    if not schema:
        raise ConfigError(f"{spec.where()}: no schema to keep sync state in; set state_schema")
    return StateLocation(model.database, schema)


def _sync_one(spec: SyncSpec, model: ModelNode, warehouse: Warehouse, run: Run, results: SyncResults) -> None:
    """One model, its result appended as it starts (so a run that stops keeps its counts so
    far); an error that concerns only this model is recorded and the run goes on."""
    result = ModelResult(
        model=spec.model,
        unique_id=spec.unique_id,
        object=spec.object,
        relation=str(warehouse.relation(model)),
        full_resync=run.full_resync,
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    results.models.append(result)
    started = time.monotonic()
    try:
        _sync_model(spec, model, warehouse, run, result)
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
            if run.dry_run:
                result.status = ModelStatus.PLANNED
        run.report.model_finished(result)


def _sync_model(
    spec: SyncSpec, model: ModelNode, warehouse: Warehouse, run: Run, result: ModelResult
) -> None:
    column_types = {c.name: c.data_type for c in warehouse.columns(model)}
    id_column, mapping = spec.resolve_columns(list(column_types))
    if run.client is not None:  # a dry run with a key reads the fields too: an exact preview
        _check_fields(spec, mapping, column_types, run, run.client)
    store = StateStore(warehouse, state_location(spec, model, run.state_schema))
    result.state_table = str(store.state)
    converters = _converters(spec, mapping, column_types, run)
    snapshot = _snapshot(
        spec,
        model,
        store,
        id_column,
        mapping,
        column_types,
        run,
        state_exists=not run.dry_run or store.exists(),
    )
    if run.dry_run:
        _plan_model(spec, snapshot, run, result, converters)
        return
    store.ensure()
    lock = SyncLock(store, model, wait=run.lock_wait, stale_after=run.lock_stale_after).acquire()
    try:
        journal = Journal(store, model, lock)
        completed = False
        try:
            store.recover(model, snapshot.table)
            run.report.model_started(spec, snapshot.relation)
            snapshot.create()
            _count(snapshot, result)
            ModelSync(spec, snapshot, run.report, run.client, result, journal, run.options, converters).run()
            completed = True
        finally:
            try:
                journal.close()
            finally:
                # What Pendo confirmed is kept even when the run stops early; dropped records
                # are forgotten only after a complete pass. A failed merge leaves the journal
                # and snapshot for the next run to recover.
                if store.warehouse.table_exists(snapshot.table):
                    store.merge(
                        model,
                        snapshot.table,
                        replace_all=run.full_resync and completed,
                        forget_dropped=completed,
                    )
                    snapshot.drop()
    finally:
        lock.release()


def _check_fields(
    spec: SyncSpec, mapping: dict[str, str], column_types: dict[str, str], run: Run, client: PendoClient
) -> None:
    """Stop this model before any write when Pendo's fields cannot take its columns
    (or create the missing ones, when asked)."""
    if spec.object not in run.fields:
        try:
            run.fields[spec.object] = client.custom_fields(spec.object)
        except PendoError as exc:
            if not run.dry_run:
                raise
            run.client = None  # a preview goes on without Pendo: field types unknown
            run.report.warn(f"{exc}; {UNKNOWN_TYPES}")
            return
    known = run.fields[spec.object]
    problems, missing = field_problems(spec, mapping, column_types, known)
    if problems:
        raise ConfigError(problems=problems)
    if not missing:
        return
    if not (run.create_fields or spec.create_fields):
        raise ConfigError(problems=missing_field_problems(spec, mapping, missing))
    if run.dry_run:
        run.report.note(
            f"would create Pendo {spec.object} fields: " + ", ".join(f"{n} ({t})" for n, t in missing.items())
        )
    else:
        client.create_fields(spec.object, missing)
        run.report.note(
            f"created Pendo {spec.object} fields: " + ", ".join(f"{n} ({t})" for n, t in missing.items())
        )
    known.update({name: "float" if typ == "number" else typ for name, typ in missing.items()})


def _snapshot(
    spec: SyncSpec,
    model: ModelNode,
    store: StateStore,
    id_column: str,
    mapping: dict[str, str],
    column_types: dict[str, str],
    run: Run,
    *,
    state_exists: bool,
) -> ModelSnapshot:
    known = run.fields.get(spec.object, {})
    return ModelSnapshot(
        store,
        model,
        spec.object,
        id_column,
        mapping,
        full_resync=run.full_resync,
        state_exists=state_exists,
        clear=[c for c in mapping if spec.clears_nulls(c)],
        salt=spec.conversion_salt,
        as_text=[c for c, f in mapping.items() if read_as_text(column_types.get(c, ""), known.get(f))],
    )


def _converters(spec: SyncSpec, mapping: dict[str, str], column_types: dict[str, str], run: Run) -> list:
    """Per mapped column, the conversion to its Pendo field's type (generic when unknown)."""
    known = run.fields.get(spec.object, {})
    converters = []
    for column, field_name in mapping.items():
        column_type = column_types.get(column, "")
        refused = unsendable(column_type)
        converters.append(
            refused_column(column_type, f"{refused.why}; {refused.fix}")
            if refused
            else spec.coercion(known.get(field_name), column_type).converter()
        )
    return converters


def _count(snapshot: ModelSnapshot, result: ModelResult) -> None:
    counts = snapshot.counts()
    result.counts.new, result.counts.changed = counts[ChangeKind.NEW], counts[ChangeKind.CHANGED]
    result.counts.unchanged = counts[ChangeKind.SAME]
    result.counts.rows = sum(counts.values())


def _plan_model(
    spec: SyncSpec, snapshot: ModelSnapshot, run: Run, result: ModelResult, converters: list
) -> None:
    """Dry run: the same snapshot and diff, nothing sent, no state written."""
    run.report.model_started(spec, snapshot.relation)
    snapshot.create()
    try:
        _count(snapshot, result)
        ModelSync(spec, snapshot, run.report, None, result, options=run.options, converters=converters).run()
    finally:
        snapshot.drop()
