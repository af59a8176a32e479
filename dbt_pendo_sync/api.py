"""The Python API: `sync()` does what `dbt-pendo sync` does (and `ls()`, `validate()`,
`audit()`, `exposures()` what their commands do); the CLI only calls these.

Each takes the project's keyword arguments (`ProjectKwargs`: profiles_dir, target, vars,
select, exclude, selector, manifest, state, dbt_cloud_run_id, dbt_cloud_job_id, target_path,
state_schema) and its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from rich.console import Console

from .errors import UsageError
from .exposures import ExposureFile, SyncedModel, in_source_paths, model_owner
from .exposures import Owner as ExposureOwner
from .exposures import render as render_exposures
from .ledger.store import STATE_TABLE
from .logs import library_logs_silenced, new_invocation_id
from .outputs import write_whole
from .pendo.policy import RetryPolicy
from .readback.audit import AuditOptions
from .readback.run import AuditResults, run_audit
from .results import SyncResults
from .selection import selected_models, selection_for, with_origin
from .settings import OutputOptions, ProjectArgs, SyncOptions
from .syncrun import run_sync
from .targets import registry
from .targets.base import TargetSpec
from .validate import Validation, validate_models

if TYPE_CHECKING:
    from typing_extensions import Unpack


class ProjectKwargs(TypedDict, total=False):
    """The keyword arguments that say which project, profile, selection and artifacts."""

    profiles_dir: str | Path | None
    target: str | None
    vars: Mapping[str, Any] | None
    select: Sequence[str]
    exclude: Sequence[str]
    selector: str | None
    manifest: str | Path | None
    state: str | Path | None
    dbt_cloud_run_id: int | None
    dbt_cloud_job_id: int | None
    target_path: str | None
    state_schema: str | None


def ls(
    project_dir: str | Path = ".", *, env: Mapping[str, str] | None = None, **project: Unpack[ProjectKwargs]
) -> list[dict[str, Any]]:
    """The configured syncs (model, object, id column, field mapping, relation, state table),
    from the manifest alone: no warehouse or Pendo call (`state` and the dbt Cloud ids pick
    the manifest as for `sync`)."""
    args, _ = with_origin(ProjectArgs.build(project_dir, **project), env)
    selection = selection_for(args)
    rows = []
    for selected in selection.models:
        spec = selected.spec
        rows.append(
            {
                "model": spec.model,
                "object": spec.object,
                "id_column": spec.id_column,
                "fields": _field_mapping(spec),
                "relation": selected.node.relation_name,
                "state_table": f"{selected.state_location(args.state_schema).schema}.{STATE_TABLE}",
                "file": spec.properties_file,
            }
        )
    return rows


def _field_mapping(spec: TargetSpec) -> dict[str, str]:
    """{column: where it goes in Pendo} as configured, in its target's terms."""
    return registry.for_spec(spec).mapping(spec)


def validate(
    project_dir: str | Path = ".",
    *,
    offline: bool = False,
    create_fields: bool = False,
    env: Mapping[str, str] | None = None,
    **project: Unpack[ProjectKwargs],
) -> Validation:
    """The selected models checked, and every problem their syncs would meet, with fixes.

    Checks the pendo blocks (schema), the models' columns (the relation's real columns when
    built) and, unless `offline`, the key and Pendo's fields.
    """
    args, _ = with_origin(ProjectArgs.build(project_dir, **project), env)
    manifest, models, warnings = selected_models(args)
    with library_logs_silenced():
        checked = validate_models(
            models,
            args.dbt_target(),
            offline=offline,
            create_fields=create_fields,
            env=env,
            manifest_path=manifest.path,
            state_schema=args.state_schema,
        )
    return replace(checked, warnings=tuple(warnings))


def exposures(
    project_dir: str | Path = ".",
    *,
    owner: str | None = None,
    owner_email: str | None = None,
    write: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **project: Unpack[ProjectKwargs],
) -> ExposureFile:
    """dbt `exposures:` YAML with one exposure per Pendo object that the selected syncs feed,
    from the manifest alone (as `ls`). With `write`, the file is written there (relative to
    the project dir when relative, folders created)."""
    args, _ = with_origin(ProjectArgs.build(project_dir, **project), env)
    selection = selection_for(args)
    synced = [
        SyncedModel(
            name=p.spec.model,
            package=p.node.package_name,
            exposure=registry.for_spec(p.spec).exposure(p.spec.object),
            sentence=registry.for_spec(p.spec).describe(p.spec),
            version=p.node.version,
            owner=model_owner(p.node, selection.manifest),
        )
        for p in selection.models
    ]
    chosen = ExposureOwner(name=owner or None, email=owner_email or None) if owner or owner_email else None
    order = [t.exposure(kind) for t in registry.targets() for kind in t.objects]
    result = render_exposures(synced, root_package=selection.manifest.project_name, owner=chosen, order=order)
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
    write_whole(path, result.text, new_invocation_id())
    return replace(result, path=path, notes=tuple(notes))


def audit(
    project_dir: str | Path = ".",
    *,
    sample: int | None = None,
    max_drift: float = 0.0,
    fix: bool = False,
    settle_minutes: int = 120,
    env: Mapping[str, str] | None = None,
    **project: Unpack[ProjectKwargs],
) -> AuditResults:
    """Pendo's values of the selected models' fields compared with their rows, as a sync
    would send them (every record, or `sample` per model); records synced within
    `settle_minutes` are counted apart. With `fix`, the drifted records' state is forgotten
    so that the next sync corrects them. Writes target/pendo_audit_results.json."""
    options = AuditOptions(sample=sample, max_drift=max_drift, fix=fix, settle_minutes=settle_minutes)
    return run_audit(ProjectArgs.build(project_dir, **project), options, env)


class SyncKwargs(ProjectKwargs, total=False):
    """`sync()`'s keyword arguments: the project's, then SyncOptions' and OutputOptions' fields
    (their defaults are the records')."""

    dry_run: bool
    create_missing: bool
    create_fields: bool
    full_resync: bool
    adopt: bool
    show: int
    sync_all: bool
    threads: int
    retry: RetryPolicy
    fail_on_rejected: float | None
    lock_wait: float
    lock_stale_after: float
    quiet: bool
    log_format: str
    debug: bool


def sync(
    project_dir: str | Path = ".",
    *,
    console: Console | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Unpack[SyncKwargs],
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
    given: dict[str, Any] = dict(kwargs)
    options = SyncOptions(**_take(given, SyncOptions))
    output = OutputOptions(**_take(given, OutputOptions))
    return run_sync(ProjectArgs.build(project_dir, **given), options, output, console=console, env=env)


def _take(given: dict[str, Any], record: type) -> dict[str, Any]:
    """The keyword arguments that are fields of `record`, removed from `given`."""
    return {f.name: given.pop(f.name) for f in fields(record) if f.name in given}
