"""A run's selected models through the warehouse and Pendo, one after the other, the same
loop for every target: the target's sink checks the columns and says what to read, the
ledger freezes and diffs the model, and the engine sends what changed, with a delivery (sync
or preview) deciding where records go and what is recorded."""

from __future__ import annotations

import datetime as dt
import gc
import time
from dataclasses import dataclass

from .dbt.artifacts import Manifest
from .dbt.compat import DbtTarget, build_adapter
from .dbt.warehouse import Warehouse
from .delivery import Delivery
from .engine import ModelSync
from .errors import ConfigError, DbtError, DbtPendoError, PendoError, RemovalsError
from .ledger.snapshot import ModelSnapshot
from .ledger.store import Ledger
from .report_events import Debug, Fire, ModelFinished, ModelStarted, Note
from .results import Counts, ModelResult, SyncResults
from .selection import SelectedModel
from .settings import SyncOptions
from .targets import registry
from .targets.base import ModelRun, ModelSink, TargetSpec
from .vocab import ChangeKind, ModelStatus


@dataclass
class Run:
    """What every model of one run shares."""

    dbt_target: DbtTarget
    state_schema: str | None
    fire: Fire
    delivery: Delivery
    started: bool = False  # the run got as far as the warehouse: its files are its own to write


def sync_models(selected: list[SelectedModel], manifest: Manifest, run: Run, results: SyncResults) -> None:
    """Sync each model in turn on one warehouse connection, appending its result."""
    if not selected:
        run.started = True
        skipped = len(results.models)  # each with its reason, reported as it was skipped
        run.fire(
            Note(
                f"nothing to sync: all {skipped} selected model(s) with a pendo block were skipped"
                if skipped
                else "no selected model has a pendo block: nothing to sync"
            )
        )
        return
    warehouse = Warehouse(build_adapter(run.dbt_target, manifest.path))
    built_for = manifest.adapter_type
    if built_for and built_for != warehouse.adapter_type:
        raise DbtError(
            f"the manifest {manifest.path} was written for a {built_for} target, but the "
            f"profile's target is {warehouse.adapter_type}: run dbt for this target first, or "
            "pass the matching --target"
        )
    problems = [p for model in selected for p in model.name_problems(warehouse, run.state_schema)]
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
                run.fire(Debug(warehouse.session_note, {"adapter_type": warehouse.adapter_type}))
            for model in selected:
                _sync_one(model, warehouse, run, results)
    finally:
        gc.unfreeze()


def _sync_one(selected: SelectedModel, warehouse: Warehouse, run: Run, results: SyncResults) -> None:
    """One model, its result appended as it starts (so a run that stops keeps its counts so
    far); an error that concerns only this model is recorded and the run goes on."""
    spec = selected.spec
    result = ModelResult(
        model=spec.model,
        unique_id=spec.unique_id,
        object=spec.object,
        sends_once=registry.for_spec(spec).capabilities.immutable_rows,
        relation=str(warehouse.relation(selected.node)),
        full_resync=run.delivery.options.full_resync,
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    results.models.append(result)
    started = time.monotonic()
    try:
        _sync_model(selected, warehouse, run, result)
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
        run.fire(ModelFinished(result))


def _sync_model(selected: SelectedModel, warehouse: Warehouse, run: Run, result: ModelResult) -> None:
    """The model through its target's sink; a target may sync it again from the start once
    (a segment deleted in Pendo)."""
    spec, target = selected.spec, registry.for_spec(selected.spec)
    run.delivery.check(spec, target.capabilities)
    sink = target.sink(spec, ModelRun(selected.node, warehouse, run.delivery, run.fire, result))
    while True:
        try:
            _send(selected, sink, warehouse, run, result)
            break
        except DbtPendoError as exc:
            if not sink.start_over(exc):
                raise
            result.counts = Counts()
    sink.finished()


def _send(
    selected: SelectedModel, sink: ModelSink, warehouse: Warehouse, run: Run, result: ModelResult
) -> None:
    """Freeze and diff the model, then send what changed through the sink's channel, inside
    the delivery's ledger (the sink's hooks run inside the model's lock)."""
    spec, delivery = selected.spec, run.delivery
    read = sink.read()
    ledger = Ledger(warehouse, selected.state_location(run.state_schema))
    result.state_table = str(ledger.state)
    snapshot = ModelSnapshot(
        ledger,
        selected.node,
        read,
        full_resync=delivery.options.full_resync,
        state_exists=delivery.state_exists(ledger),
    )
    with delivery.ledger(ledger, selected.node, snapshot) as journal:
        run.fire(ModelStarted(spec, snapshot.relation))
        channel = sink.before(ledger)
        try:
            snapshot.create()
            sink.frozen(snapshot)
            _count(snapshot, result)
            _check_removals(spec, result, delivery.options)
            ModelSync(spec, snapshot, sink.builder(snapshot), channel, journal, run.fire, result).run()
        finally:
            sink.after(ledger)


def _check_removals(spec: TargetSpec, result: ModelResult, options: SyncOptions) -> None:
    """Stop a model that would clear (on_remove: clear) or remove from its segment more than
    --max-removals percent of its synced records (a broken upstream model must not wipe
    Pendo), unless --allow-removals."""
    c = result.counts
    synced = c.unchanged + c.changed + c.removed
    if not c.removed or options.allow_removals or 100 * c.removed <= options.max_removals * synced:
        return
    verb, what = registry.for_spec(spec).removals
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
    result.counts.adopted = counts[ChangeKind.ADOPTED]
    # An event model's rows include those outside Pendo's window, counted before the snapshot.
    outside = result.counts.too_old + result.counts.too_new
    left = counts[ChangeKind.REMOVED] + counts[ChangeKind.DROPPED]
    result.counts.rows = sum(counts.values()) - left + outside
