"""Which models a run covers: the project and its artifacts, dbt's selection, the pendo
blocks (validated), and the models skipped with a reason (disabled, ephemeral, not built)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .config import project_problems, specs_for
from .dbt.artifacts import Manifest, ModelNode, RunResults, load_manifest
from .dbt.builds import last_build
from .dbt.origin import Origin
from .dbt.origin import resolve as resolve_origin
from .dbt.project import current_manifest
from .dbt.selection import selected_ids
from .dbt.warehouse import Warehouse
from .errors import ConfigError, Problem
from .ledger.snapshot import snapshot_name
from .ledger.store import LedgerLocation
from .results import ModelResult
from .settings import ProjectArgs
from .targets.base import TargetSpec
from .vocab import ModelStatus

# Why an ephemeral model is not synced, and the fix (a skip reason, and a validate problem).
EPHEMERAL_PROBLEM = "ephemeral models are not built in the warehouse"
EPHEMERAL_FIX = "materialize it as a table or view to sync it"


@dataclass(frozen=True)
class SelectedModel:
    """A model a run syncs: its validated pendo block and its manifest node."""

    spec: TargetSpec
    node: ModelNode

    def state_location(self, run_state_schema: str | None) -> LedgerLocation:
        """Where its sync state lives: the block's state_schema, else the run's, else the
        model's own schema."""
        schema = self.spec.state_schema or run_state_schema or self.node.schema
        if not schema:
            raise ConfigError(f"{self.spec.where()}: no schema to keep sync state in; set state_schema")
        return LedgerLocation(self.node.database, schema)

    def name_problems(self, warehouse: Warehouse, run_state_schema: str | None) -> list[Problem]:
        """Why the names its sync puts into SQL cannot go there (the model's database,
        schema and alias; its state location and snapshot table): checked before any
        statement runs, as dbt would write them into SQL unescaped."""
        location = self.state_location(run_state_schema)
        try:
            warehouse.relation(self.node)
            warehouse.table(location.database, location.schema, snapshot_name(self.node))
        except ConfigError as exc:
            return [
                self.spec.problem(
                    f"its {exc}",
                    "rename it with letters, digits and _ only (the model's database, schema "
                    "and alias, and the state schema, all go into SQL)",
                )
            ]
        return []


@dataclass
class Selection:
    """The models a run syncs, and those it skips with a reason."""

    manifest: Manifest
    models: list[SelectedModel]
    skipped: list[ModelResult]
    run_results: RunResults | None = None  # the one that decided which models built, if any
    warnings: list[str] = field(default_factory=list)  # dbt's, about the selection


def with_origin(project: ProjectArgs, env: Mapping[str, str] | None) -> tuple[ProjectArgs, Origin]:
    """The project reading the manifest of --state DIR or of a dbt Cloud run (downloaded into
    the target path), when one is given; no dbt parse happens then, as with --manifest."""
    origin = resolve_origin(
        manifest=project.manifest,
        state=project.state,
        dbt_cloud_run_id=project.dbt_cloud_run_id,
        dbt_cloud_job_id=project.dbt_cloud_job_id,
        target_dir=project.artifacts(),
        env=env,
    )
    return replace(project, manifest=origin.manifest), origin


def selected_models(project: ProjectArgs) -> tuple[Manifest, list[ModelNode], list[str]]:
    """The manifest (parsed when needed), its selected models with a pendo block, and dbt's
    warnings about the selection; ConfigError when two of the project's models name one
    segment."""
    target = project.dbt_target()
    artifacts = project.artifacts()
    if project.manifest is not None:
        manifest = load_manifest(project.manifest)
    else:
        manifest = current_manifest(target, artifacts)
    project_problems(manifest.pendo_models())  # the whole project's, whatever is selected
    chosen, warnings = selected_ids(project.selection, target, artifacts, project.manifest)
    return (
        manifest,
        [m for m in manifest.pendo_models() if chosen is None or m.unique_id in chosen],
        warnings,
    )


def selection_for(project: ProjectArgs) -> Selection:
    """The selected models to sync, their validated blocks, and the ones skipped (ephemeral,
    and disabled when nothing narrows the selection)."""
    manifest, models, warnings = selected_models(project)
    specs = specs_for(models)  # every selected block is validated before any warehouse work
    selection = Selection(manifest, [], [], warnings=warnings)
    for spec, model in zip(specs, models, strict=True):
        if model.materialized == "ephemeral":
            selection.skipped.append(
                skipped(spec.model, spec.unique_id, spec.object, f"{EPHEMERAL_PROBLEM}; {EPHEMERAL_FIX}")
            )
        else:
            selection.models.append(SelectedModel(spec, model))
    if project.selection.everything:  # disabled models are in no selection
        for model in manifest.disabled_pendo_models():
            block = model.pendo_block()
            kind = block.get("object", "?") if isinstance(block, dict) else "?"
            selection.skipped.append(
                skipped(model.name, model.unique_id, kind, "model is disabled (enabled: false)")
            )
    return selection


def only_built(selection: Selection) -> str | None:
    """Move the models whose last dbt build failed or was skipped (run_results.json next to
    the manifest, see dbt/builds.py) to the skipped ones; a note when that file was ignored."""
    build = last_build(selection.manifest)
    selection.run_results = build.run_results
    kept = []
    for selected in selection.models:
        why = build.problem(selected.node)
        if why is None:
            kept.append(selected)
        else:
            spec = selected.spec
            selection.skipped.append(skipped(spec.model, spec.unique_id, spec.object, why))
    selection.models = kept
    return build.note


def skipped(model: str, unique_id: str, kind: str, why: str) -> ModelResult:
    """The result of a model not synced, with the reason."""
    return ModelResult(model=model, unique_id=unique_id, object=kind, status=ModelStatus.SKIPPED, message=why)
