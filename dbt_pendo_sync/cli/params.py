"""The options several commands take, each defined once with its env var (dbt's names), and
the option class every command's options use."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click
import yaml
from click.core import ParameterSource

from ..manyvalues import ManyValues
from ..sqlnames import schema_name_problem

# The env vars of --debug (sync and emulator), also read before the options are parsed.
DEBUG_ENVVARS = ["DBT_PENDO_DEBUG", "DBT_DEBUG"]


def _parse_vars(ctx: click.Context, param: click.Parameter, value: str | None) -> dict | None:
    if not value:
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        raise click.BadParameter("expected a YAML mapping, e.g. --vars '{key: value}'")
    return parsed


def _schema_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    why = schema_name_problem(value) if value else None
    if why:
        raise click.BadParameter(why)
    return value


def _split(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part for item in value for part in item.split())


class _Option(click.Option):
    """An option that shows its environment variables in --help, and names the variable
    (not only the flag) when a bad value came from one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", bool(kwargs.get("envvar")))
        super().__init__(*args, **kwargs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)
        if (
            ctx is not None
            and self.name
            and ctx.get_parameter_source(self.name) == ParameterSource.ENVIRONMENT
        ):
            names = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or ())
            used = next((n for n in names if os.environ.get(n)), None)
            if used:
                return f"environment variable {used} (read for {self.opts[0]})"
        return hint


def option(*decls: str, **kwargs: Any) -> Callable:
    """click.option with our option class."""
    return click.option(*decls, cls=_Option, **kwargs)


def options(*decorators: Callable) -> Callable:
    """Several options as one decorator, in the order given (the order of --help)."""

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _cloud_id(flag: str, text: str) -> Callable:
    """A dbt Cloud id option; its env var is the flag in capitals (DBT_CLOUD_RUN_ID)."""
    envvar = flag.removeprefix("--").upper().replace("-", "_")
    return option(flag, envvar=envvar, default=None, type=click.IntRange(1), metavar="ID", help=text)


class SharedOptions:
    """The options several commands take, defined once (dbt's names and env vars)."""

    project_dir = option(
        "--project-dir",
        envvar="DBT_PROJECT_DIR",
        default=".",
        type=click.Path(file_okay=False),
        show_default=True,
        help="The dbt project (the folder of dbt_project.yml).",
    )
    profiles_dir = option(
        "--profiles-dir",
        envvar="DBT_PROFILES_DIR",
        default=None,
        type=click.Path(file_okay=False),
        help="Folder of profiles.yml (default: the project, else ~/.dbt).",
    )
    target = option(
        "--target",
        "-t",
        envvar="DBT_TARGET",
        default=None,
        help="The profile target to read the warehouse with.",
    )
    vars = option(
        "--vars", default=None, callback=_parse_vars, help="dbt variables as a YAML mapping, as for dbt."
    )
    select = click.option(
        "--select",
        "-s",
        cls=ManyValues,
        callback=_split,
        help="dbt selection syntax; several after one flag, as for dbt (-s a b), or repeat it.",
    )
    exclude = click.option(
        "--exclude",
        cls=ManyValues,
        callback=_split,
        help="dbt selection syntax for models to leave out (several, as for --select).",
    )
    selector = option("--selector", default=None, help="A selector from selectors.yml.")
    manifest = option(
        "--manifest",
        default=None,
        type=click.Path(dir_okay=False, exists=True),
        help="Use this manifest.json and skip dbt parsing.",
    )
    target_path = option(
        "--target-path",
        envvar="DBT_TARGET_PATH",
        default=None,
        help="Where dbt's artifacts and our results live (default: target).",
    )
    state = option(
        "--state",
        default=None,
        type=click.Path(file_okay=False, exists=True),
        help="Read manifest.json and run_results.json from this folder (the "
        "artifacts of the dbt run to sync) and skip dbt parsing.",
    )
    dbt_cloud_run_id = _cloud_id(
        "--dbt-cloud-run-id",
        "Sync what this dbt Cloud run built: its artifacts are downloaded (DBT_CLOUD_API_TOKEN, "
        "DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_HOST); the warehouse is read with the local profile.",
    )
    dbt_cloud_job_id = _cloud_id(
        "--dbt-cloud-job-id", "As --dbt-cloud-run-id, for this job's latest successful run."
    )
    state_schema = option(
        "--state-schema",
        envvar="DBT_PENDO_STATE_SCHEMA",
        default=None,
        callback=_schema_name,
        help="Schema of the sync state tables (default: each model's schema); letters, "
        "digits, _ and $, not starting with a digit.",
    )


dbt_options = options(
    SharedOptions.project_dir,
    SharedOptions.profiles_dir,
    SharedOptions.target,
    SharedOptions.vars,
    SharedOptions.target_path,
)
selection_options = options(
    SharedOptions.select, SharedOptions.exclude, SharedOptions.selector, SharedOptions.manifest
)
artifact_options = options(
    SharedOptions.state, SharedOptions.dbt_cloud_run_id, SharedOptions.dbt_cloud_job_id
)
