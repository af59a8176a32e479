"""The user's dbt project on disk: its target path, and a manifest that is up to date."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, DbtError
from .artifacts import Manifest, load_manifest, load_run_results
from .compat import DbtTarget, run_dbt

_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py", ".md"}
_SKIP_DIRS = {"dbt_packages", "dbt_modules", "logs", "node_modules", "__pycache__"}


def project_file(project_dir: Path) -> Path:
    """dbt_project.yml of the project; ConfigError when the folder is not a dbt project."""
    path = project_dir / "dbt_project.yml"
    if not path.is_file():
        raise ConfigError(
            f"no dbt_project.yml in {project_dir}: run from your dbt project or pass "
            "--project-dir (or set DBT_PROJECT_DIR)"
        )
    return path


def target_path(project_dir: Path, override: str | None = None) -> Path:
    """Where dbt writes artifacts: --target-path, DBT_TARGET_PATH, dbt_project.yml, else target/."""
    chosen = override or os.environ.get("DBT_TARGET_PATH")
    if not chosen:
        try:
            data = yaml.safe_load(project_file(project_dir).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{project_dir / 'dbt_project.yml'} is not valid YAML: {exc}") from None
        chosen = data.get("target-path") if isinstance(data, dict) else None
    path = Path(chosen or "target")
    return path if path.is_absolute() else project_dir / path


def _newest_source_mtime(project_dir: Path, skip: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".") and Path(root, d) != skip]
        for name in files:
            if Path(name).suffix in _SOURCE_SUFFIXES:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    """True when manifest.json is missing or older than any project file."""
    if not manifest.is_file():
        return True
    return _newest_source_mtime(project_dir, manifest.parent) > manifest.stat().st_mtime


def _parsed_for(target: DbtTarget, manifest: Manifest) -> bool:
    """True when the manifest is of the --target and --vars this run was given: always when
    it was given neither (the manifest is taken as dbt left it); else only when the
    run_results.json beside it is of the same dbt invocation and records that target and
    those vars (`dbt build --target prod` then `dbt-pendo sync --target prod` parse once)."""
    if not target.target and not target.vars:
        return True
    try:
        last = load_run_results(manifest.path.parent / "run_results.json")
    except DbtError:
        return False
    if last is None or not last.invocation_id or last.invocation_id != manifest.invocation_id:
        return False
    if target.target and last.target != target.target:
        return False
    return not target.vars or _canonical(last.vars) == _canonical(target.vars)


def _canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def current_manifest(target: DbtTarget, artifacts: Path) -> Manifest:
    """The project's manifest, running `dbt parse` when it is missing, older than a project
    file, or of another --target or --vars than this run's."""
    project_file(target.project_dir)
    path = artifacts / "manifest.json"
    if not manifest_is_stale(target.project_dir, path):
        manifest = load_manifest(path)
        if _parsed_for(target, manifest):
            return manifest
    run_dbt(["parse", "--target-path", str(artifacts)], target)
    return load_manifest(path)
