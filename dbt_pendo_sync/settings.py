"""The settings of a run, built once: what it is about (ProjectArgs) and how it runs
(SyncOptions, OutputOptions). The CLI builds them from its options, whose defaults it reads
from here; the API from its keyword arguments; everything below takes the records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dbt.compat import DbtTarget
from .dbt.project import target_path
from .dbt.selection import Selection
from .errors import ConfigError
from .pendo.policy import RetryPolicy
from .sqlnames import schema_name_problem


@dataclass(frozen=True)
class ProjectArgs:
    """The dbt project, its profile, what is selected, and which artifacts say what built."""

    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target: str | None = None
    vars: Mapping[str, Any] | None = None
    selection: Selection = field(default_factory=Selection)
    manifest: Path | None = None  # a manifest.json to use instead of parsing
    state: Path | None = None  # dbt's --state: a folder of manifest.json and run_results.json
    dbt_cloud_run_id: int | None = None
    dbt_cloud_job_id: int | None = None
    target_path: str | None = None
    state_schema: str | None = None  # where our sync tables live (default: each model's schema)

    def __post_init__(self) -> None:
        why = schema_name_problem(self.state_schema) if self.state_schema else None
        if why:  # the CLI checks --state-schema itself, naming the option or its variable
            raise ConfigError(f"state_schema: {why}")

    @classmethod
    def build(cls, project_dir: str | Path = ".", **kwargs: Any) -> ProjectArgs:
        """From the API's (and CLI's) keyword arguments: paths as str, selection as sequences."""
        select: Sequence[str] = kwargs.pop("select", ()) or ()
        exclude: Sequence[str] = kwargs.pop("exclude", ()) or ()
        selector: str | None = kwargs.pop("selector", None)
        paths = {
            name: Path(kwargs[name]) for name in ("profiles_dir", "manifest", "state") if kwargs.get(name)
        }
        kwargs.update(paths)
        return cls(
            project_dir=Path(project_dir),
            selection=Selection(tuple(select), tuple(exclude), selector),
            **kwargs,
        )

    def dbt_target(self) -> DbtTarget:
        """The same settings as dbt command-line flags."""
        return DbtTarget(self.project_dir.resolve(), self.profiles_dir, self.target, self.vars)

    def artifacts(self) -> Path:
        """The folder of manifest.json and of this tool's output files."""
        return target_path(self.project_dir.resolve(), self.target_path)


@dataclass(frozen=True)
class SyncOptions:
    """How a sync runs: what it sends, how fast and how hard it tries, when it fails."""

    dry_run: bool = False
    create_missing: bool = False  # upsert: Pendo creates unknown visitors/accounts
    create_fields: bool = False
    full_resync: bool = False
    show: int = 5  # dry run: payloads shown per model
    sync_all: bool = False  # also models whose last dbt build failed
    threads: int = 48  # the most calls in flight; how many are is found from Pendo's answers
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fail_on_rejected: float | None = None  # percent of a model's rows
    lock_wait: float = 90.0  # longer than lock_stale_after: a dead run's claim is waited out
    lock_stale_after: float = 60.0
    max_removals: float = 20.0  # percent of a model's synced records one run may clear or remove
    allow_removals: bool = False  # this run may clear or remove more than max_removals
    adopt: bool = False  # new records Pendo holds equal already are recorded, not sent


@dataclass(frozen=True)
class OutputOptions:
    """What a run prints: `log_format` default, text, json or debug (as dbt's)."""

    quiet: bool = False
    log_format: str = "default"
    debug: bool = False
