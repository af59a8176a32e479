"""The Python API: `sync()` does what `dbt-pendo sync` does; the CLI only calls it."""
from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from rich.console import Console

from .config import SyncSpec, specs_for
from .dbt.artifacts import Manifest, ModelNode, RunResults, load_manifest
from .dbt.builds import last_build
from .dbt.compat import DbtTarget, build_adapter
from .dbt.origin import Origin, resolve as resolve_origin
from .dbt.project import current_manifest, project_file, target_path
from .dbt.selection import Selection, selected_ids
from .dbt.state import STATE_TABLE, Journal, ModelSnapshot, StateLocation, StateStore, SyncLock
from .dbt.warehouse import Warehouse
from .engine import ModelSync, SendOptions
from .errors import ConfigError, DbtError, DbtPendoError, PendoError, UsageError, WarehouseError
from .exposures import ExposureFile, Owner as ExposureOwner, SyncedModel, owner_from
from .exposures import render as render_exposures
from .fieldcheck import column_kind, field_problems, missing_fields_error, read_as_text
from .outputs import REJECTED_FILE, RESULTS_FILE, RejectedFile, write_results
from .pendo.client import PendoClient, RetryPolicy
from .pendo.fields import nested_column
from .pendo.settings import PendoSettings
from .report import ConsoleReport
from .results import ERROR, PLANNED, SKIPPED, ModelResult, SyncResults
from .validate import (Problem, block_problems, column_problems, declared_column_problems,
                       field_check_problems, problem_from, run_problem)

PLAN_FILE = "pendo_sync_plan.json"


@dataclass(frozen=True)
class Project:
    """Where the dbt project, its profile and artifacts are, and what is selected."""

    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target: str | None = None
    vars: Mapping[str, Any] | None = None
    selection: Selection = field(default_factory=Selection)
    manifest: Path | None = None
    target_path: str | None = None
    state_schema: str | None = None

    def dbt_target(self) -> DbtTarget:
        """The same settings as dbt command-line flags."""
        return DbtTarget(self.project_dir.resolve(), self.profiles_dir, self.target, self.vars)

    def artifacts(self) -> Path:
        """The folder of manifest.json and of this tool's output files."""
        return target_path(self.project_dir.resolve(), self.target_path)


@dataclass
class _Plan:
    """The models a run syncs, and those it skips with a reason."""

    manifest: Manifest
    specs: list[tuple[SyncSpec, ModelNode]]
    skipped: list[ModelResult]
    run_results: RunResults | None = None  # the one that decided which models built, if any


def _selected_models(project: Project) -> tuple[Manifest, list[ModelNode]]:
    """The manifest (parsed when needed) and its selected models with a pendo block."""
    target = project.dbt_target()
    artifacts = project.artifacts()
    if project.manifest is not None:
        manifest = load_manifest(project.manifest)
    else:
        manifest = current_manifest(target, artifacts, reparse=bool(project.target or project.vars))
    chosen = selected_ids(project.selection, target, artifacts, project.manifest)
    return manifest, [m for m in manifest.pendo_models() if chosen is None or m.unique_id in chosen]


def _plan(project: Project) -> _Plan:
    manifest, models = _selected_models(project)
    specs = specs_for(models)  # every selected block is validated before any warehouse work
    plan = _Plan(manifest, [], [])
    for spec, model in zip(specs, models):
        if model.materialized == "ephemeral":
            plan.skipped.append(_skipped(spec.model, spec.unique_id, spec.object,
                                         "ephemeral models are not built in the warehouse; "
                                         "materialize it as a table or view to sync it"))
        else:
            plan.specs.append((spec, model))
    if project.selection.everything:  # disabled models are in no selection
        for model in manifest.disabled_pendo_models():
            block = model.pendo_block()
            kind = block.get("object", "?") if isinstance(block, dict) else "?"
            plan.skipped.append(_skipped(model.name, model.unique_id, kind,
                                         "model is disabled (enabled: false)"))
    return plan


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
    project, _ = _with_origin(_project(project_dir, profiles_dir, target, vars, select, exclude,
                                       selector, manifest, target_path, state_schema),
                              state, dbt_cloud_run_id, dbt_cloud_job_id, env)
    plan = _plan(project)
    rows = []
    for spec, model in plan.specs:
        location = _state_location(spec, model, state_schema)
        rows.append({"model": spec.model, "object": spec.object, "id_column": spec.id_column,
                     "fields": _field_mapping(spec), "relation": model.relation_name,
                     "state_table": f"{location.schema}.{STATE_TABLE}", "file": spec.properties_file})
    return rows


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
) -> list[Problem]:
    """Every problem the selected syncs would meet, each with its fix ([] when clean).

    Checks the pendo blocks (schema), the models' columns (the relation's real columns when
    built, else the declared ones) and, unless `offline`, the key and Pendo's fields.
    """
    project = _project(project_dir, profiles_dir, target, vars, select, exclude, selector,
                       manifest, target_path, None)
    _, models = _selected_models(project)
    problems: list[Problem] = []
    specs = []
    for model in models:
        spec, found = block_problems(model)
        problems += found
        if spec is not None:
            specs.append((spec, model))
    pendo_fields = None if offline or not specs else _pendo_fields(specs, problems, env)
    if specs:
        warehouse = Warehouse(build_adapter(project.dbt_target()))
        with warehouse.connection():
            for spec, model in specs:
                problems += _model_problems(spec, model, warehouse, pendo_fields, create_fields)
    return problems


def _pendo_fields(specs: list[tuple[SyncSpec, ModelNode]], problems: list[Problem],
                  env: Mapping[str, str] | None) -> dict[str, dict[str, str]] | None:
    """Pendo's custom fields per object the specs sync to; None (and a problem) when the key
    or Pendo stands in the way."""
    settings = PendoSettings.from_env(env, key_required=False)
    if settings.key is None:
        problems.append(run_problem("PENDO_INTEGRATION_KEY is not set, so Pendo's fields "
                                    "cannot be checked", "export the key, or pass --offline"))
        return None
    client = PendoClient(settings, RetryPolicy(attempts=3, time_budget=60))
    try:
        key_problem = client.key_problem()
        if key_problem:
            problems.append(run_problem(key_problem, "create a key with write access in Pendo "
                                        "(Settings > Integrations > Integration Keys)"))
        return {kind: client.custom_fields(kind) for kind in sorted({s.object for s, _ in specs})}
    except PendoError as exc:
        what, _, fix = str(exc).partition(": ")
        problems.append(run_problem(what, fix or "check PENDO_BASE_URL / PENDO_REGION"))
        return None
    finally:
        client.close()


def _model_problems(spec: SyncSpec, model: ModelNode, warehouse: Warehouse,
                    pendo_fields: dict[str, dict[str, str]] | None, create_fields: bool) -> list[Problem]:
    try:
        column_types = {c.name: c.data_type for c in warehouse.columns(model)}
    except WarehouseError as exc:
        return [problem_from(model.name, model.properties_file, str(exc)),
                *declared_column_problems(spec, model)]
    mapping, problems = column_problems(spec, model, column_types)
    if mapping is not None and pendo_fields is not None:
        problems += field_check_problems(spec, mapping, column_types, pendo_fields[spec.object],
                                         create_fields)
    return problems


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
    plan = _plan(_project(project_dir, profiles_dir, target, vars, select, exclude, selector,
                          manifest, target_path, None))
    synced = [SyncedModel(name=spec.model, package=model.package_name, object=spec.object,
                          id_column=spec.id_column, fields=_field_mapping(spec),
                          version=model.version, owner=_model_owner(model, plan.manifest))
              for spec, model in plan.specs]
    chosen = ExposureOwner(name=owner or None, email=owner_email or None) if owner or owner_email else None
    result = render_exposures(synced, root_package=plan.manifest.project_name, owner=chosen)
    notes = [] if synced else ["no selected model has a pendo block: the exposures list is empty"]
    if write is None:
        return replace(result, notes=tuple(notes))
    path = Path(write) if Path(write).is_absolute() else Path(project_dir) / write
    if path.suffix not in (".yml", ".yaml"):
        raise UsageError(f"--write {write}: dbt reads properties only from .yml or .yaml files")
    if not _in_source_paths(Path(project_dir), path):
        notes.append(f"{path} is outside the project's model (and other resource) paths, where "
                     "dbt does not read YAML: write it under models/, e.g. models/pendo_exposures.yml")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(result.text, encoding="utf-8")
    partial.replace(path)
    return replace(result, path=path, notes=tuple(notes))


def _model_owner(model: ModelNode, manifest: Manifest) -> ExposureOwner | None:
    """The model's `meta.owner`, else the owner of its dbt group."""
    return owner_from(model.meta.get("owner")) or (
        owner_from(manifest.group_owners.get(model.group)) if model.group else None)


def _in_source_paths(project_dir: Path, path: Path) -> bool:
    """Whether dbt parses YAML at `path`: inside one of the project's resource paths."""
    try:
        data = yaml.safe_load(project_file(project_dir).read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError):
        return True  # dbt itself will say what is wrong with the project
    folders = []
    for key, default in (("model-paths", ["models"]), ("seed-paths", ["seeds"]),
                         ("snapshot-paths", ["snapshots"]), ("analysis-paths", ["analyses"]),
                         ("macro-paths", ["macros"]), ("test-paths", ["tests"])):
        value = data.get(key, default) if isinstance(data, dict) else default
        folders += value if isinstance(value, list) else default
    resolved = path.resolve()
    return any(resolved.is_relative_to((project_dir / str(f)).resolve()) for f in folders)


def _project(project_dir: str | Path, profiles_dir: str | Path | None, target: str | None,
             vars: Mapping[str, Any] | None, select: Sequence[str], exclude: Sequence[str],
             selector: str | None, manifest: str | Path | None, target_path: str | None,
             state_schema: str | None) -> Project:
    return Project(project_dir=Path(project_dir), profiles_dir=Path(profiles_dir) if profiles_dir else None,
                   target=target, vars=vars, selection=Selection(tuple(select), tuple(exclude), selector),
                   manifest=Path(manifest) if manifest else None, target_path=target_path,
                   state_schema=state_schema)


def _with_origin(project: Project, state: str | Path | None, dbt_cloud_run_id: int | None,
                 dbt_cloud_job_id: int | None, env: Mapping[str, str] | None) -> tuple[Project, Origin]:
    """The project reading the manifest of --state DIR or of a dbt Cloud run (downloaded into
    the target path), when one is given; no dbt parse happens then, as with --manifest."""
    origin = resolve_origin(manifest=project.manifest, state=state, dbt_cloud_run_id=dbt_cloud_run_id,
                            dbt_cloud_job_id=dbt_cloud_job_id, target_dir=project.artifacts(), env=env)
    return replace(project, manifest=origin.manifest), origin


def _only_built(plan: _Plan) -> str | None:
    """Move the models whose last dbt build failed or was skipped (run_results.json next to
    the manifest, see dbt/builds.py) to the skipped ones; a note when that file was ignored."""
    build = last_build(plan.manifest)
    plan.run_results = build.run_results
    kept = []
    for spec, model in plan.specs:
        why = build.problem(model)
        if why is None:
            kept.append((spec, model))
        else:
            plan.skipped.append(_skipped(spec.model, spec.unique_id, spec.object, why))
    plan.specs = kept
    return build.note


def _skipped(model: str, unique_id: str, kind: str, why: str) -> ModelResult:
    return ModelResult(model=model, unique_id=unique_id, object=kind, status=SKIPPED, message=why)


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
    retry: RetryPolicy = RetryPolicy(),
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
        stack.enter_context(report.running(dry_run=dry_run))  # run_finished last, even on errors
        settings = PendoSettings.from_env(env, key_required=not dry_run)
        project = _project(project_dir, profiles_dir, target, vars, select, exclude, selector,
                           manifest, target_path, state_schema)
        project, origin = _with_origin(project, state, dbt_cloud_run_id, dbt_cloud_job_id, env)
        plan = _plan(project)
        build_note = None if sync_all else _only_built(plan)
        artifacts = project.artifacts()
        results = SyncResults(models=list(plan.skipped), dry_run=dry_run, fail_pct=fail_on_rejected,
                              invocation_id=report.invocation_id)
        context = {"manifest": {"path": str(plan.manifest.path),
                                "generated_at": plan.manifest.generated_at,
                                "invocation_id": plan.manifest.invocation_id},
                   "pendo_base_url": settings.base_url, **origin.context()}
        report.rejected = None if dry_run else stack.enter_context(RejectedFile(artifacts / REJECTED_FILE))
        for note in (origin.note(), build_note):
            if note:
                report.note(note)
        for skipped in plan.skipped:
            report.model_skipped(skipped)
        client = None if dry_run else PendoClient(settings, retry, on_retry=report.retry)
        if client is not None:
            stack.callback(client.close)
        results_path = artifacts / (PLAN_FILE if dry_run else RESULTS_FILE)
        try:
            run = _Run(project, client, report, SendOptions(threads=threads, create=create_missing,
                                                     show=show if dry_run else 0),
                       full_resync=full_resync, lock_wait=lock_wait, lock_stale_after=lock_stale_after,
                       create_fields=create_fields)
            _sync_models(plan, run, results)
        finally:
            write_results(results_path, results, context, _dbt_metadata(plan))
        report.summary(results)
        report.files(results_path, artifacts / REJECTED_FILE)
    return results


def _dbt_metadata(plan: _Plan) -> dict[str, Any]:
    """metadata.dbt of the results file: the dbt invocations behind this run."""
    return {"manifest_generated_at": plan.manifest.generated_at,
            "manifest_invocation_id": plan.manifest.invocation_id,
            "run_results_invocation_id": plan.run_results.invocation_id if plan.run_results else None,
            "adapter_type": plan.manifest.adapter_type}


@dataclass
class _Run:
    """What every model of one run shares."""

    project: Project
    client: PendoClient | None
    report: ConsoleReport
    options: SendOptions
    full_resync: bool = False
    lock_wait: float = 10.0
    lock_stale_after: float = 60.0
    create_fields: bool = False
    fields: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        return self.client is None


def _sync_models(plan: _Plan, run: _Run, results: SyncResults) -> None:
    if not plan.specs:
        run.report.note("no selected model has a pendo block: nothing to sync")
        return
    warehouse = Warehouse(build_adapter(run.project.dbt_target()))
    built_for = plan.manifest.adapter_type
    if built_for and built_for != warehouse.adapter_type:
        raise DbtError(
            f"the manifest {plan.manifest.path} was written for a {built_for} target, but the "
            f"profile's target is {warehouse.adapter_type}: run dbt for this target first, or "
            "pass the matching --target"
        )
    with warehouse.connection():
        for spec, model in plan.specs:
            results.models.append(_sync_one(spec, model, warehouse, run))


def _state_location(spec: SyncSpec, model: ModelNode, state_schema: str | None) -> StateLocation:
    """Where a model's state lives: its block's state_schema, else the run's, else its schema."""
    schema = spec.state_schema or state_schema or model.schema
    if not schema:
        raise ConfigError(f"{spec.where()}: no schema to keep sync state in; set state_schema")
    return StateLocation(model.database, schema)


def _sync_one(spec: SyncSpec, model: ModelNode, warehouse: Warehouse, run: _Run) -> ModelResult:
    """One model; an error that concerns only this model is recorded and the run goes on."""
    result = ModelResult(model=spec.model, unique_id=spec.unique_id, object=spec.object,
                         relation=str(warehouse.relation(model)), full_resync=run.full_resync,
                         started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    started = time.monotonic()
    try:
        _sync_model(spec, model, warehouse, run, result)
    except PendoError:
        raise
    except DbtPendoError as exc:
        result.status, result.message = ERROR, str(exc)
    finally:
        result.seconds = round(time.monotonic() - started, 3)
    if result.status != ERROR:
        result.settle()
        if run.dry_run:
            result.status = PLANNED
    run.report.model_finished(result)
    return result


def _sync_model(spec: SyncSpec, model: ModelNode, warehouse: Warehouse, run: _Run,
                result: ModelResult) -> None:
    column_types = {c.name: c.data_type for c in warehouse.columns(model)}
    id_column, mapping = spec.resolve_columns(list(column_types))
    if run.client is not None:
        _check_fields(spec, mapping, column_types, run)
    store = StateStore(warehouse, _state_location(spec, model, run.project.state_schema))
    result.state_table = str(store.state)
    converters = _converters(spec, mapping, column_types, run)
    snapshot = _snapshot(spec, model, store, id_column, mapping, column_types, run,
                         state_exists=not run.dry_run or store.exists())
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
            ModelSync(spec, snapshot, run.report, run.client, result, journal, run.options,
                      converters).run()
            completed = True
        finally:
            try:
                journal.close()
            finally:
                # What Pendo confirmed is kept even when the run stops early; dropped records
                # are forgotten only after a complete pass. A failed merge leaves the journal
                # and snapshot for the next run to recover.
                if store.warehouse.table_exists(snapshot.table):
                    store.merge(model, snapshot.table, replace_all=run.full_resync and completed,
                                forget_dropped=completed)
                    snapshot.drop()
    finally:
        lock.release()


def _check_fields(spec: SyncSpec, mapping: dict[str, str], column_types: dict[str, str],
                  run: _Run) -> None:
    """Stop this model before any write when Pendo's fields cannot take its columns
    (or create the missing ones, when asked)."""
    if spec.object not in run.fields:
        run.fields[spec.object] = run.client.custom_fields(spec.object)
    known = run.fields[spec.object]
    problems, missing = field_problems(spec, mapping, column_types, known)
    if problems:
        raise ConfigError("\n".join(f"{spec.where()}: {p.message}" for p in problems))
    if not missing:
        return
    if not (run.create_fields or spec.create_fields):
        raise missing_fields_error(spec, mapping, missing)
    run.client.create_fields(spec.object, missing)
    known.update({name: "float" if typ == "number" else typ for name, typ in missing.items()})
    run.report.note(f"created Pendo {spec.object} fields: "
                    + ", ".join(f"{n} ({t})" for n, t in missing.items()))


def _snapshot(spec: SyncSpec, model: ModelNode, store: StateStore, id_column: str,
              mapping: dict[str, str], column_types: dict[str, str], run: _Run, *,
              state_exists: bool) -> ModelSnapshot:
    known = run.fields.get(spec.object, {})
    return ModelSnapshot(store, model, spec.object, id_column, mapping, full_resync=run.full_resync,
                         state_exists=state_exists, clear=[c for c in mapping if spec.clears_nulls(c)],
                         salt=spec.conversion_salt,
                         as_text=[c for c, f in mapping.items()
                                  if read_as_text(column_types.get(c, ""), known.get(f))])


def _converters(spec: SyncSpec, mapping: dict[str, str], column_types: dict[str, str],
                run: _Run) -> list:
    """Per mapped column, the conversion to its Pendo field's type (generic when unknown)."""
    known = run.fields.get(spec.object, {})
    return [nested_column(column_types[column]) if column_kind(column_types.get(column, "")) == "nested"
            else spec.coercion(known.get(field), column_types.get(column, "")).converter()
            for column, field in mapping.items()]


def _count(snapshot: ModelSnapshot, result: ModelResult) -> None:
    counts = snapshot.counts()
    result.counts.new, result.counts.changed = counts["new"], counts["changed"]
    result.counts.unchanged = counts["same"]
    result.counts.rows = sum(counts.values())


def _plan_model(spec: SyncSpec, snapshot: ModelSnapshot, run: _Run, result: ModelResult,
                converters: list) -> None:
    """Dry run: the same snapshot and diff, nothing sent, no state written."""
    run.report.model_started(spec, snapshot.relation)
    snapshot.create()
    try:
        _count(snapshot, result)
        ModelSync(spec, snapshot, run.report, None, result, options=run.options,
                  converters=converters).run()
    finally:
        snapshot.drop()
