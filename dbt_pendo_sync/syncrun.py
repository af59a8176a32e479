"""One `dbt-pendo sync` run from settings to files: the selection, the report around it, Pendo's
client and the delivery (sync or preview), the models through the pipeline, and the results
and rejected rows put in place at the end."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from .dbt.artifacts import Manifest
from .delivery import UNKNOWN_TYPES, Delivery, Previewing, Sending
from .logs import library_logs_silenced
from .outputs import REJECTED_FILE, RESULTS_FILE, RejectedFile, write_results
from .pendo.client import PendoClient
from .pendo.settings import PendoSettings, track_settings
from .pipeline import Run, sync_models
from .report import Report, make_report
from .report_events import (
    FilesWritten,
    Fire,
    ModelSkipped,
    Note,
    ReportBus,
    Retry,
    RunWarning,
    Summary,
)
from .results import SyncResults
from .selection import Selection, only_built, selection_for, with_origin
from .settings import OutputOptions, ProjectArgs, SyncOptions
from .targets import registry

PLAN_FILE = "pendo_sync_plan.json"


def run_sync(
    project: ProjectArgs,
    options: SyncOptions,
    output: OutputOptions,
    *,
    console: Console | None = None,
    env: Mapping[str, str] | None = None,
) -> SyncResults:
    """Sync (or preview) the selected models; what happened to every model."""
    report = make_report(console, output.log_format, quiet=output.quiet, debug=output.debug)
    dry_run = options.dry_run
    with ExitStack() as stack:
        stack.enter_context(library_logs_silenced())
        stack.enter_context(report.running(dry_run=dry_run))  # run_finished last, even on errors
        project, origin = with_origin(project, env)
        selection = selection_for(project)
        # The integration key is needed only where a selected target calls with it.
        needs_key = not dry_run and any(
            registry.for_spec(m.spec).capabilities.needs_key for m in selection.models
        )
        settings = PendoSettings.from_env(env, key_required=needs_key)
        build_note = None if options.sync_all else only_built(selection)
        artifacts = project.artifacts()
        results = SyncResults(
            models=list(selection.skipped),
            dry_run=dry_run,
            fail_pct=options.fail_on_rejected,
            invocation_id=report.invocation_id,
        )
        context = _run_context(selection.manifest, settings.base_url, origin.context())
        rejected = None if dry_run else RejectedFile(artifacts / REJECTED_FILE, report.invocation_id)
        fire = _report_bus(report, rejected, stack).fire
        for note in (origin.note(), build_note):
            if note:
                fire(Note(note))
        for warning in selection.warnings:
            fire(RunWarning(warning))
        client = _client(settings, options, fire, stack)
        track = None if dry_run else track_settings(env)
        delivery = _delivery(client, _client(track, options, fire, stack), options, fire)
        delivery.read_ahead(m.spec for m in selection.models)
        for skipped in selection.skipped:
            fire(ModelSkipped(skipped))
        run = Run(project.dbt_target(), project.state_schema, fire, delivery)
        try:
            sync_models(selection.models, selection.manifest, run, results)
        except BaseException as exc:
            results.stop(exc)
            raise
        finally:
            # A run that stopped before it reached the warehouse (e.g. another process holds
            # DuckDB's file) writes nothing: the files in place are another run's. One that
            # stopped later (Pendo unreachable, Ctrl-C) shows its summary and files as well.
            if dry_run:
                context["field_types_known"] = delivery.knows_field_types
            if run.started:
                _write_files(fire, artifacts, results, context, selection, rejected)
    return results


def _report_bus(report: Report, rejected: RejectedFile | None, stack: ExitStack) -> ReportBus:
    """The run's report events to the report, then to the rejected file when the run has one
    (which is discarded when the run ends, unless _write_files published it)."""
    if rejected is None:
        return ReportBus(report)
    stack.callback(rejected.discard)
    return ReportBus(report, rejected)


def _write_files(
    fire: Fire,
    artifacts: Path,
    results: SyncResults,
    context: dict[str, Any],
    selection: Selection,
    rejected: RejectedFile | None,
) -> None:
    """The run's results (or selection) and rejected files, then the summary and the files named."""
    name = RESULTS_FILE if rejected is not None else PLAN_FILE
    written = [write_results(artifacts / name, results, context, _dbt_metadata(selection))]
    if rejected is not None:
        written.append(rejected.publish())
    fire(Summary(results))
    fire(FilesWritten(tuple(written)))


def _run_context(manifest: Manifest, base_url: str, origin: dict[str, Any]) -> dict[str, Any]:
    """What the results file says of the run beside its models: the manifest, Pendo, origin."""
    return {
        "manifest": {
            "path": str(manifest.path),
            "generated_at": manifest.generated_at,
            "invocation_id": manifest.invocation_id,
        },
        "pendo_base_url": base_url,
        **origin,
    }


def _client(
    settings: PendoSettings | None, options: SyncOptions, fire: Fire, stack: ExitStack
) -> PendoClient | None:
    """A client for these settings (None without a key), closed when the run ends; its
    retries are fired as Retry report events."""
    if settings is None or settings.key is None:
        return None
    client = PendoClient(
        settings, options.retry, on_retry=lambda notice: fire(Retry(notice)), max_in_flight=options.threads
    )
    stack.callback(client.close)
    return client


def _delivery(
    client: PendoClient | None, track: PendoClient | None, options: SyncOptions, fire: Fire
) -> Delivery:
    """Sending for a sync (with the integration key when a metadata model needs it, and the
    Track Event secret when set), Previewing for a dry run."""
    if not options.dry_run:
        return Sending(client, options, fire, track)
    if client is None:
        fire(
            Note(
                f"PENDO_INTEGRATION_KEY is not set: {UNKNOWN_TYPES}; set the key for an "
                "exact preview (a dry run only reads Pendo's field list)"
            )
        )
    return Previewing(client, options, fire)


def _dbt_metadata(selection: Selection) -> dict[str, Any]:
    """metadata.dbt of the results file: the dbt invocations behind this run."""
    return {
        "manifest_generated_at": selection.manifest.generated_at,
        "manifest_invocation_id": selection.manifest.invocation_id,
        "run_results_invocation_id": selection.run_results.invocation_id if selection.run_results else None,
        "adapter_type": selection.manifest.adapter_type,
    }
