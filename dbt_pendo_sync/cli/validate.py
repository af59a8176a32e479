"""`dbt-pendo validate`: every check of a sync, without syncing."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import EXIT_FAILED
from .params import SharedOptions, dbt_options, option, selection_options
from .table import print_table


@click.command(name="validate")
@dbt_options
@selection_options
@SharedOptions.state_schema
@option(
    "--offline",
    is_flag=True,
    envvar="DBT_PENDO_OFFLINE",
    help="Check without calling Pendo (no key or field checks).",
)
@option(
    "--create-fields",
    "create_fields",
    is_flag=True,
    help="Treat fields Pendo lacks as ones a sync with --create-fields "
    "would create, so they are not problems (validate itself writes nothing).",
)
def validate_command(**params: Any) -> None:
    """Check the selected syncs before running them: pendo blocks, columns in the warehouse,
    and (unless --offline) the key and Pendo's fields. Exit 0 clean, 1 problems."""
    from ..api import validate

    checked = validate(**params)
    for warning in checked.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if not checked.models:
        click.echo("validate: no selected model has a pendo block: nothing to check")
        return
    problems = checked.problems
    if not problems:
        click.echo(
            f"validate: no problems found in {len(checked.models)} model(s)"
            + (" (offline: Pendo not checked)" if params["offline"] else "")
        )
        return
    print_table(
        f"dbt-pendo validate: {len(problems)} problem(s)",
        ("model", "file", "problem", "fix"),
        [(p.model, p.file, p.problem, p.fix) for p in problems],
        overflow="fold",
    )
    sys.exit(EXIT_FAILED)
