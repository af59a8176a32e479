"""`dbt-pendo ls`: the configured syncs, from the manifest."""

from __future__ import annotations

from typing import Any

import click

from .params import SharedOptions, artifact_options, dbt_options, selection_options
from .table import print_table


@click.command(name="ls")
@dbt_options
@selection_options
@artifact_options
@SharedOptions.state_schema
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, JSON for machines.",
)
def ls_command(output: str, **params: Any) -> None:
    """List the configured syncs (from the manifest; no warehouse or Pendo call)."""
    import json

    from ..api import ls

    rows = ls(**params)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        "dbt-pendo syncs",
        ("model", "object", "id_column", "fields", "relation", "state_table"),
        [
            (
                r["model"],
                r["object"],
                r["id_column"],
                ", ".join(f"{c} -> {f}" for c, f in r["fields"].items()),
                str(r["relation"]),
                r["state_table"],
            )
            for r in rows
        ],
    )
