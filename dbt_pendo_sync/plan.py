"""Which models a run covers: the project and its artifacts, dbt's selection, the pendo
blocks (validated), and the models skipped with a reason (disabled, ephemeral, not built)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import SyncSpec, specs_for
from .dbt.artifacts import Manifest, ModelNode, RunResults, load_manifest
from .dbt.builds import last_build
from .dbt.compat import DbtTarget
from .dbt.origin import Origin
from .dbt.origin import resolve as resolve_origin
from .dbt.project import current_manifest, target_path
from .dbt.selection import Selection, selected_ids
from .results import ModelResult
from .vocab import ModelStatus

# Why an ephemeral model is not synced, and the fix (a skip reason, and a validate problem).
EPHEMERAL_PROBLEM = "ephemeral models are not built in the warehouse"
EPHEMERAL_FIX = "materialize it as a table or view to sync it"


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
class Plan:
    """The models a run syncs, and those it skips with a reason."""

    manifest: Manifest
    specs: list[tuple[SyncSpec, ModelNode]]
    skipped: list[ModelResult]
    run_results: RunResults | None = None  # the one that decided which models built, if any
    warnings: list[str] = field(default_factory=list)  # dbt's, about the selection


def project_from(
    project_dir: str | Path,
    profiles_dir: str | Path | None,
    target: str | None,
    vars: Mapping[str, Any] | None,
    select: Sequence[str],
    exclude: Sequence[str],
    selector: str | None,
    manifest: str | Path | None,
    target_path: str | None,
    state_schema: str | None,
) -> Project:
    """A Project from the API's (and CLI's) arguments."""
    return Project(
        project_dir=Path(project_dir),
        profiles_dir=Path(profiles_dir) if profiles_dir else None,
        target=target,
        vars=vars,
        selection=Selection(tuple(select), tuple(exclude), selector),
        manifest=Path(manifest) if manifest else None,
        target_path=target_path,
        state_schema=state_schema,
    )


def with_origin(
    project: Project,
    state: str | Path | None,
    dbt_cloud_run_id: int | None,
    dbt_cloud_job_id: int | None,
    env: Mapping[str, str] | None,
) -> tuple[Project, Origin]:
    """The project reading the manifest of --state DIR or of a dbt Cloud run (downloaded into
    the target path), when one is given; no dbt parse happens then, as with --manifest."""
    origin = resolve_origin(
        manifest=project.manifest,
        state=state,
        dbt_cloud_run_id=dbt_cloud_run_id,
        dbt_cloud_job_id=dbt_cloud_job_id,
        target_dir=project.artifacts(),
        env=env,
    )
    return replace(project, manifest=origin.manifest), origin


def selected_models(project: Project) -> tuple[Manifest, list[ModelNode], list[str]]:
    """The manifest (parsed when needed), its selected models with a pendo block, and dbt's
    warnings about the selection."""
    target = project.dbt_target()
    artifacts = project.artifacts()
    if project.manifest is not None:
        manifest = load_manifest(project.manifest)
    else:
        manifest = current_manifest(target, artifacts, reparse=bool(project.target or project.vars))
    chosen, warnings = selected_ids(project.selection, target, artifacts, project.manifest)
    return (
        manifest,
        [m for m in manifest.pendo_models() if chosen is None or m.unique_id in chosen],
        warnings,
    )


def plan_for(project: Project) -> Plan:
    """The selected models to sync, their validated blocks, and the ones skipped (ephemeral,
    and disabled when nothing narrows the selection)."""
    manifest, models, warnings = selected_models(project)
    specs = specs_for(models)  # every selected block is validated before any warehouse work
    plan = Plan(manifest, [], [], warnings=warnings)
    for spec, model in zip(specs, models, strict=True):
        if model.materialized == "ephemeral":
            plan.skipped.append(
                skipped(spec.model, spec.unique_id, spec.object, f"{EPHEMERAL_PROBLEM}; {EPHEMERAL_FIX}")
            )
        else:
            plan.specs.append((spec, model))
    if project.selection.everything:  # disabled models are in no selection
        for model in manifest.disabled_pendo_models():
            block = model.pendo_block()
            kind = block.get("object", "?") if isinstance(block, dict) else "?"
            plan.skipped.append(
                skipped(model.name, model.unique_id, kind, "model is disabled (enabled: false)")
            )
    return plan


def only_built(plan: Plan) -> str | None:
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
            plan.skipped.append(skipped(spec.model, spec.unique_id, spec.object, why))
    plan.specs = kept
    return build.note


def skipped(model: str, unique_id: str, kind: str, why: str) -> ModelResult:
    """The result of a model not synced, with the reason."""
    return ModelResult(model=model, unique_id=unique_id, object=kind, status=ModelStatus.SKIPPED, message=why)
