"""The Python API: `sync()` does what `dbt-pendo sync` does (and `ls()`, `validate()`,
`exposures()` what their commands do); the CLI only calls these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from .config import SyncSpec
from .dbt.state import STATE_TABLE
from .engine import SendOptions
from .errors import UsageError
from .exposures import ExposureFile, SyncedModel, in_source_paths, model_owner
from .exposures import Owner as ExposureOwner
from .exposures import render as render_exposures
from .logs import library_logs_silenced
from .outputs import REJECTED_FILE, RESULTS_FILE, RejectedFile, write_results
from .pendo.client import PendoClient, RetryPolicy
from .pendo.settings import PendoSettings
from .pipeline import UNKNOWN_TYPES, Run, state_location, sync_models
from .plan import Plan, only_built, plan_for, project_from, selected_models, with_origin
from .report import ConsoleReport
from .results import SyncResults
from .validate import Validation, validate_models

PLAN_FILE = "pendo_sync_plan.json"
DEFAULT_RETRY = RetryPolicy()


def ls(
    project_dir: str | Path = ".",
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    manifest: str | Path | None = None,
    target_path: str | None = None,
    state_schema: str | None = None,
    state: str | Path | None = None,
    dbt_cloud_run_id: int | None = None,
    dbt_cloud_job_id: int | None = None,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The configured syncs (model, object, id column, field mapping, relation, state table),
    from the manifest alone: no warehouse or Pendo call (`state` and the dbt Cloud ids pick
    the manifest as for `sync`)."""
    project, _ = with_origin(
        project_from(
            project_dir,
            profiles_dir,
            target,
            vars,
            select,
            exclude,
            selector,
            manifest,
            target_path,
            state_schema,
        ),
        state,
        dbt_cloud_run_id,
        dbt_cloud_job_id,
        env,
    )
    plan = plan_for(project)
    rows = []
    for spec, model in plan.specs:
        location = state_location(spec, model, state_schema)
        rows.append(
            {
                "model": spec.model,
                "object": spec.object,
                "id_column": spec.id_column,
                "fields": _field_mapping(spec),
                "relation": model.relation_name,
                "state_table": f"{location.schema}.{STATE_TABLE}",
                "file": spec.properties_file,
            }
        )
    return rows


def _field_mapping(spec: SyncSpec) -> dict[str, str]:
    """{column: Pendo field} as configured: "*" stands for every other column, and a
    column left out maps to "(excluded)"."""
    mapping = dict(spec.fields) if spec.fields is not None else {"*": "(every other column)"}
    for column, rule in spec.column_rules.items():
        if rule.exclude:
            mapping[column] = "(excluded)"
        elif rule.field:
            mapping[column] = rule.field
    return mapping


def validate(
    project_dir: str | Path = ".",
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    manifest: str | Path | None = None,
    target_path: str | None = None,
    offline: bool = False,
    create_fields: bool = False,
    env: Mapping[str, str] | None = None,
) -> Validation:
    """The selected models checked, and every problem their syncs would meet, with fixes.

    Checks the pendo blocks (schema), the models' columns (the relation's real columns when
    built, else the declared ones) and, unless `offline`, the key and Pendo's fields.
    """
    project = project_from(
        project_dir, profiles_dir, target, vars, select, exclude, selector, manifest, target_path, None
    )
    _, models, warnings = selected_models(project)
    with library_logs_silenced():
        checked = validate_models(
            models, project.dbt_target(), offline=offline, create_fields=create_fields, env=env
        )
    return replace(checked, warnings=tuple(warnings))


def exposures(
    project_dir: str | Path = ".",
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    manifest: str | Path | None = None,
    target_path: str | None = None,
    owner: str | None = None,
    owner_email: str | None = None,
    write: str | Path | None = None,
) -> ExposureFile:
    """dbt `exposures:` YAML with one exposure per Pendo object that the selected syncs feed,
    from the manifest alone (as `ls`). With `write`, the file is written there (relative to
    the project dir when relative, folders created)."""
    plan = plan_for(
        project_from(
            project_dir, profiles_dir, target, vars, select, exclude, selector, manifest, target_path, None
        )
    )
    synced = [
        SyncedModel(
            name=spec.model,
            package=model.package_name,
            object=spec.object,
            id_column=spec.id_column,
            fields=_field_mapping(spec),
            version=model.version,
            owner=model_owner(model, plan.manifest),
        )
        for spec, model in plan.specs
    ]
    chosen = ExposureOwner(name=owner or None, email=owner_email or None) if owner or owner_email else None
    result = render_exposures(synced, root_package=plan.manifest.project_name, owner=chosen)
    notes = [] if synced else ["no selected model has a pendo block: the exposures list is empty"]
    if write is None:
        return replace(result, notes=tuple(notes))
    path = Path(write) if Path(write).is_absolute() else Path(project_dir) / write
    if path.suffix not in (".yml", ".yaml"):
        raise UsageError(f"--write {write}: dbt reads properties only from .yml or .yaml files")
    if not in_source_paths(Path(project_dir), path):
        notes.append(
            f"{path} is outside the project's model (and other resource) paths, where "
            "dbt does not read YAML: write it under models/, e.g. models/pendo_exposures.yml"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(result.text, encoding="utf-8")
    partial.replace(path)
    return replace(result, path=path, notes=tuple(notes))


def sync(
    project_dir: str | Path = ".",
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    manifest: str | Path | None = None,
    target_path: str | None = None,
    dry_run: bool = False,
    create_missing: bool = False,
    create_fields: bool = False,
    full_resync: bool = False,
    show: int = 5,
    sync_all: bool = False,
    state: str | Path | None = None,
    dbt_cloud_run_id: int | None = None,
    dbt_cloud_job_id: int | None = None,
    state_schema: str | None = None,
    threads: int = 4,
    retry: RetryPolicy = DEFAULT_RETRY,
    fail_on_rejected: float | None = None,
    lock_wait: float = 10.0,
    lock_stale_after: float = 60.0,
    quiet: bool = False,
    log_format: str = "default",
    debug: bool = False,
    console: Console | None = None,
    env: Mapping[str, str] | None = None,
) -> SyncResults:
    """Sync the selected models into Pendo; return what happened to every model.

    Raises a DbtPendoError subclass for conditions that stop the whole run (bad config,
    Pendo refusing the key, dbt failing); rows and models that fail are in the results.

    Models whose last dbt build failed or was skipped (run_results.json next to the manifest)
    are skipped, unless `sync_all`. `state` reads manifest.json and run_results.json from that
    folder; `dbt_cloud_run_id` / `dbt_cloud_job_id` (its latest successful run) download them
    from dbt Cloud (DBT_CLOUD_API_TOKEN, DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_HOST) into
    <target path>/dbt_cloud_run_<id>/; the warehouse is read with the local profile.

    `log_format` (default, text, json, debug), `quiet` and `debug` choose what is printed, as
    the CLI's flags do; the results carry the run's `invocation_id`.
    """
    report = ConsoleReport(console=console, quiet=quiet, log_format=log_format, debug=debug)
    with ExitStack() as stack:
        stack.enter_context(library_logs_silenced())
        stack.enter_context(report.running(dry_run=dry_run))  # run_finished last, even on errors
        settings = PendoSettings.from_env(env, key_required=not dry_run)
        project = project_from(
            project_dir,
            profiles_dir,
            target,
            vars,
            select,
            exclude,
            selector,
            manifest,
            target_path,
            state_schema,
        )
        project, origin = with_origin(project, state, dbt_cloud_run_id, dbt_cloud_job_id, env)
        plan = plan_for(project)
        build_note = None if sync_all else only_built(plan)
        artifacts = project.artifacts()
        results = SyncResults(
            models=list(plan.skipped),
            dry_run=dry_run,
            fail_pct=fail_on_rejected,
            invocation_id=report.invocation_id,
        )
        context = {
            "manifest": {
                "path": str(plan.manifest.path),
                "generated_at": plan.manifest.generated_at,
                "invocation_id": plan.manifest.invocation_id,
            },
            "pendo_base_url": settings.base_url,
            **origin.context(),
        }
        rejected = None if dry_run else RejectedFile(artifacts / REJECTED_FILE, report.invocation_id)
        if rejected is not None:
            stack.callback(rejected.discard)  # unless published below
        report.rejected = rejected
        for note in (origin.note(), build_note):
            if note:
                report.note(note)
        for warning in plan.warnings:
            report.warn(warning)
        if dry_run and settings.key is None:
            report.note(
                f"PENDO_INTEGRATION_KEY is not set: {UNKNOWN_TYPES}; set the key for an "
                "exact preview (a dry run only reads Pendo's field list)"
            )
        for skipped in plan.skipped:
            report.model_skipped(skipped)
        client = None if settings.key is None else PendoClient(settings, retry, on_retry=report.retry)
        if client is not None:
            stack.callback(client.close)
        run = Run(
            project.dbt_target(),
            project.state_schema,
            client,
            report,
            SendOptions(threads=threads, create=create_missing, show=show if dry_run else 0),
            dry_run=dry_run,
            full_resync=full_resync,
            lock_wait=lock_wait,
            lock_stale_after=lock_stale_after,
            create_fields=create_fields,
        )
        written: list[Path] = []
        try:
            sync_models(plan.specs, plan.manifest, run, results)
        except BaseException as exc:
            results.stop(exc)
            raise
        finally:
            # A run that stopped before it reached the warehouse (e.g. another process holds
            # DuckDB's file) writes nothing: the files in place are another run's.
            if dry_run:
                context["field_types_known"] = run.client is not None
            if run.started:
                written.append(
                    write_results(
                        artifacts / (PLAN_FILE if dry_run else RESULTS_FILE),
                        results,
                        context,
                        _dbt_metadata(plan),
                    )
                )
                if rejected is not None:
                    written.append(rejected.publish())
        report.summary(results)
        report.files(*written)
    return results


def _dbt_metadata(plan: Plan) -> dict[str, Any]:
    """metadata.dbt of the results file: the dbt invocations behind this run."""
    return {
        "manifest_generated_at": plan.manifest.generated_at,
        "manifest_invocation_id": plan.manifest.invocation_id,
        "run_results_invocation_id": plan.run_results.invocation_id if plan.run_results else None,
        "adapter_type": plan.manifest.adapter_type,
    }
