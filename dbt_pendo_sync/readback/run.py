"""One `dbt-pendo audit` run: the selection, Pendo's client, the warehouse, each model's audit,
then `pendo_audit_results.json` and what is shown (a table, or JSON lines)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..dbt.compat import build_adapter
from ..dbt.warehouse import Warehouse
from ..errors import ConfigError
from ..logs import library_logs_silenced, new_invocation_id
from ..outputs import write_whole
from ..pendo.client import PendoClient
from ..pendo.policy import RetryPolicy
from ..pendo.settings import PendoSettings
from ..report_events import ReportEvent
from ..selection import selection_for, with_origin
from ..settings import ProjectArgs
from .audit import Auditing, AuditOptions, ModelAudit, audit_model

AUDIT_FILE = "pendo_audit_results.json"
AUDIT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AuditResults:
    """Every selected model's audit, and where the results file is."""

    models: list[ModelAudit]
    options: AuditOptions
    invocation_id: str
    path: Path | None = None

    @property
    def ok(self) -> bool:
        """No model drifted beyond --max-drift, and none failed."""
        return all(m.status in ("ok", "skipped") for m in self.models)


def run_audit(
    project: ProjectArgs, options: AuditOptions, env: Mapping[str, str] | None = None
) -> AuditResults:
    """Audit the selected models; the results file written."""
    project, _ = with_origin(project, env)
    selection = selection_for(project)
    settings = PendoSettings.from_env(env, key_required=True)
    client = PendoClient(settings, RetryPolicy())
    results = AuditResults([], options, new_invocation_id())
    try:
        with library_logs_silenced():
            _audit_all(project, selection, client, results)
    finally:
        client.close()
    path = project.artifacts() / AUDIT_FILE
    write_whole(path, json.dumps(audit_document(results), indent=2, default=str), results.invocation_id)
    return AuditResults(results.models, options, results.invocation_id, path)


def _audit_all(project: ProjectArgs, selection: Any, client: PendoClient, results: AuditResults) -> None:
    if not selection.models:
        return
    warehouse = Warehouse(build_adapter(project.dbt_target(), selection.manifest.path))
    problems = [p for m in selection.models for p in m.name_problems(warehouse, project.state_schema)]
    if problems:
        raise ConfigError(problems=problems)

    def fire(event: ReportEvent) -> None:
        """The audit shows its models' results, not the sync's report events."""

    with warehouse.connection():
        run = Auditing(warehouse, client, results.options, project.state_schema, fire)
        for selected in selection.models:
            results.models.append(audit_model(selected, run))


def model_json(audit: ModelAudit) -> dict[str, Any]:
    """A model's entry in the results file (and its JSON log line)."""
    tally = asdict(audit.tally)
    fields = tally.pop("fields")
    return {
        "model": audit.model,
        "unique_id": audit.unique_id,
        "object": audit.object,
        "status": audit.status,
        "message": audit.message,
        **tally,
        "drift_pct": round(audit.drift_pct, 3),
        "fixed": audit.fixed,
        "seconds": audit.seconds,
        "fields": fields,
    }


def audit_document(results: AuditResults) -> dict[str, Any]:
    """pendo_audit_results.json (schemas/pendo_audit_results.schema.json)."""
    return {
        "metadata": {
            "schema_version": AUDIT_SCHEMA_VERSION,
            "dbt_pendo_sync_version": __version__,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "invocation_id": results.invocation_id,
        },
        "ok": results.ok,
        "options": asdict(results.options),
        "models": [model_json(m) for m in results.models],
    }
