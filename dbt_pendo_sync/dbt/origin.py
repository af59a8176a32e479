"""Where the artifacts of the build to sync come from: the project's target path (parsed when
stale), a given manifest.json, a `--state` folder, or a dbt Cloud run downloaded into the
target path. Whichever it is, run_results.json is read from the manifest's folder."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .cloud import CloudRun, DbtCloudSettings, download_run


@dataclass(frozen=True)
class Origin:
    """The manifest to use (None: the project's own, parsed when stale) and its story."""

    manifest: Path | None = None
    cloud_run: CloudRun | None = None

    def note(self) -> str | None:
        """One line naming the dbt Cloud run synced (never the token)."""
        run = self.cloud_run
        if run is None:
            return None
        job = f" of job {run.job_id}" if run.job_id is not None else ""
        return (
            f"syncing what dbt Cloud run {run.run_id}{job} built: status {run.status}, "
            f"finished at {run.finished_at or 'unknown'} (artifacts in {run.manifest.parent})"
        )

    def context(self) -> dict[str, Any]:
        """For pendo_sync_results.json."""
        run = self.cloud_run
        if run is None:
            return {}
        return {
            "dbt_cloud_run": {
                "run_id": run.run_id,
                "job_id": run.job_id,
                "status": run.status,
                "finished_at": run.finished_at,
            }
        }


def resolve(
    *,
    manifest: str | Path | None,
    state: str | Path | None,
    dbt_cloud_run_id: int | None,
    dbt_cloud_job_id: int | None,
    target_dir: Path,
    env: Mapping[str, str] | None = None,
) -> Origin:
    """The manifest the run uses; downloads the dbt Cloud run's artifacts when asked."""
    if dbt_cloud_run_id is not None and dbt_cloud_job_id is not None:
        raise UsageError(
            "give --dbt-cloud-run-id (DBT_CLOUD_RUN_ID) or --dbt-cloud-job-id "
            "(DBT_CLOUD_JOB_ID), not both: a run id names one run, a job id its "
            "latest successful run"
        )
    cloud = dbt_cloud_run_id is not None or dbt_cloud_job_id is not None
    given = [
        name
        for name, value in (
            ("--manifest", manifest),
            ("--state", state),
            ("--dbt-cloud-run-id/--dbt-cloud-job-id", cloud or None),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} each name the artifacts to sync: give one of them")
    if state is not None:
        return Origin(manifest=_state_manifest(Path(state)))
    if cloud:
        run = _download(DbtCloudSettings.from_env(env), target_dir, dbt_cloud_run_id, dbt_cloud_job_id)
        return Origin(manifest=run.manifest, cloud_run=run)
    return Origin(manifest=Path(manifest) if manifest is not None else None)


def _state_manifest(state: Path) -> Path:
    if not state.is_dir():
        raise UsageError(
            f"--state {state}: no such folder; pass the folder of the artifacts of "
            "the dbt run to sync (a copy of its target/)"
        )
    path = state / "manifest.json"
    if not path.is_file():
        raise UsageError(
            f"--state {state}: there is no manifest.json in it; pass the folder of "
            "the artifacts of the dbt run to sync (a copy of its target/)"
        )
    return path


def _download(
    settings: DbtCloudSettings, target_dir: Path, run_id: int | None, job_id: int | None
) -> CloudRun:
    """The run's artifacts in <target>/dbt_cloud_run_<run id>/ (a job's run id is known only
    once dbt Cloud has named its latest successful run, so that download is moved there)."""
    if run_id is not None:
        return download_run(settings, target_dir / f"dbt_cloud_run_{run_id}", run_id=run_id)
    staging = target_dir / f"dbt_cloud_job_{job_id}.download"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        run = download_run(settings, staging, job_id=job_id)
        final = target_dir / f"dbt_cloud_run_{run.run_id}"
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return replace(
        run,
        manifest=final / run.manifest.name,
        run_results=final / run.run_results.name if run.run_results else None,
    )
