"""`dbt-pendo audit`: for each selected model whose target can be read back, Pendo's values
of its fields copied into the warehouse and compared with the model's rows; with `fix`, the
drifted records' state is forgotten so that the next sync corrects exactly those."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..dbt.warehouse import Warehouse
from ..delivery import Sending
from ..errors import DbtPendoError, PendoError
from ..ledger.store import Ledger
from ..pendo.client import PendoClient
from ..report_events import Fire
from ..results import ModelResult
from ..selection import SelectedModel
from ..settings import SyncOptions
from ..targets import registry
from ..targets.base import ModelRun, ReadBack
from .compare import Judged, Source, Tally, compare_all, no_state
from .copy import IdList, PendoCopy


@dataclass(frozen=True)
class AuditOptions:
    """What an audit compares and what it does about drift."""

    sample: int | None = None  # compare this many records per model (None: all)
    max_drift: float = 0.0  # percent of compared records that may differ
    fix: bool = False  # forget the drifted records' state
    settle_minutes: int = 120  # records synced more recently are not judged


@dataclass
class ModelAudit:
    """One model's audit."""

    model: str
    unique_id: str
    object: str
    status: str = "ok"  # ok, drift, error, skipped
    message: str | None = None
    tally: Tally = field(default_factory=Tally)
    fixed: int = 0  # records whose state was forgotten (--fix)
    seconds: float = 0.0

    @property
    def drift_pct(self) -> float:
        return 100.0 * self.tally.drifted / self.tally.compared if self.tally.compared else 0.0


@dataclass
class Auditing:
    """What every model of one audit shares."""

    warehouse: Warehouse
    client: PendoClient
    options: AuditOptions
    state_schema: str | None
    fire: Fire


def audit_model(selected: SelectedModel, run: Auditing) -> ModelAudit:
    """One model's audit; an error that concerns only this model is its status."""
    spec = selected.spec
    audit = ModelAudit(spec.model, spec.unique_id, spec.object)
    started = time.monotonic()
    try:
        _audit(selected, run, audit)
    except PendoError:
        raise  # the key or Pendo itself: the whole audit stops
    except DbtPendoError as exc:
        audit.status, audit.message = "error", str(exc)
    finally:
        audit.seconds = round(time.monotonic() - started, 3)
    return audit


def _audit(selected: SelectedModel, run: Auditing, audit: ModelAudit) -> None:
    spec, node, w = selected.spec, selected.node, run.warehouse
    result = ModelResult(spec.model, spec.unique_id, spec.object)
    delivery = Sending(run.client, SyncOptions(), run.fire)
    read = registry.for_spec(spec).read_back(spec, ModelRun(node, w, delivery, run.fire, result))
    if read is None:
        audit.status, audit.message = "skipped", f"Pendo's {spec.object} records are not read back"
        return
    ledger = Ledger(w, selected.state_location(run.state_schema))
    copy, drifted = PendoCopy(ledger, node, read.fields), IdList(ledger, node, "fix_")
    copy.create()
    try:
        relation = _sampled(w, read, str(w.relation(node)), run.options.sample)
        # Every record (a sample compares fewer, but Pendo's order is not the warehouse's).
        copy.read(run.client, read.kind)
        source = Source(relation, _state(ledger, node.unique_id), run.options.settle_minutes)
        audit.tally = compare_all(w, copy, read, source, Judged(drifted=drifted if run.options.fix else None))
        if drifted.count:
            drifted.load_spooled()
            audit.fixed = ledger.forget_records(node, drifted.table)
    finally:
        copy.drop()
        drifted.drop()
    audit.status = "drift" if audit.drift_pct > run.options.max_drift else "ok"


def _sampled(w: Warehouse, read: ReadBack, relation: str, sample: int | None) -> str:
    """The model's relation, or (sampled) its rows of the first `sample` ids in the
    warehouse's order of their text."""
    if sample is None:
        return relation
    rid = f"cast({w.quote(read.id_column)} as {w.macro('type_string')})"
    where = f"{w.quote(read.id_column)} is not null"
    sql = w.macro(
        "pendo_sync_select_first", columns=rid, relation=relation, where=where, order_by="1", n=int(sample)
    )
    ids = [str(value) for (value,) in w.query(sql)]
    if not ids:
        return f"(select * from {relation} where 1 = 0)"
    return f"(select * from {relation} where {rid} in ({', '.join(map(w.literal, ids))}))"


def _state(ledger: Ledger, model_id: str) -> str:
    """SQL of the model's state rows (record_id, synced_at), empty when there is no state."""
    w = ledger.warehouse
    if not ledger.exists():
        return no_state(w)
    return f"select record_id, synced_at from {ledger.state} where model_id = {w.literal(model_id)}"
