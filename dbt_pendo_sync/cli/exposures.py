"""`dbt-pendo exposures`: dbt exposures for the synced models."""

from __future__ import annotations

from typing import Any

import click

from .params import dbt_options, selection_options


@click.command(name="exposures")
@dbt_options
@selection_options
@click.option(
    "--owner",
    "owner",
    default=None,
    metavar="NAME",
    help="Owner name of the exposures (default: the models' meta.owner, else their "
    "dbt group's owner, else dbt-pendo-sync).",
)
@click.option("--owner-email", default=None, metavar="EMAIL", help="Owner email of the exposures.")
@click.option(
    "--write",
    "write",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Write the YAML to PATH (relative to the project dir), e.g. "
    "models/pendo_exposures.yml, instead of printing it.",
)
def exposures_command(**params: Any) -> None:
    """Generate dbt exposures for the synced models, so Pendo shows downstream of them in dbt
    docs and `dbt ls --select +exposure:pendo_visitor_metadata` (from the manifest; no
    warehouse or Pendo call)."""
    from ..api import exposures

    result = exposures(**params)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    if result.path is None:
        click.echo(result.text, nl=False)
    elif result.names:
        click.echo(
            f"Wrote exposures {', '.join(result.names)} to {result.path}; check with: "
            f"{result.check_command()}"
        )
    else:
        click.echo(f"Wrote an empty exposures list to {result.path}")
