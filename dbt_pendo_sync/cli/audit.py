"""`dbt-pendo audit`: Pendo's values of the selected models' fields against their rows."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..errors import EXIT_FAILED
from .params import SharedOptions, artifact_options, dbt_options, option, selection_options
from .table import print_table


@click.command(name="audit")
@dbt_options
@selection_options
@artifact_options
@SharedOptions.state_schema
@option("--sample", type=click.IntRange(1), help="Compare this many records per model (the first by id).")
@option("--all", "all_records", is_flag=True, help="Compare every record (the default).")
@option(
    "--max-drift",
    type=click.FloatRange(0, 100),
    default=0.0,
    show_default=True,
    help="Exit 1 when more than this percent of a model's compared records differ from Pendo.",
)
@option("--fix", is_flag=True, help="Forget the drifted records' sync state: the next sync corrects them.")
@option(
    "--settle-minutes",
    type=click.IntRange(0),
    default=120,
    show_default=True,
    help="Records synced this recently are reported apart (Pendo shows a write after processing).",
)
@option(
    "--log-format",
    envvar=["DBT_PENDO_LOG_FORMAT", "DBT_LOG_FORMAT"],
    type=click.Choice(["default", "text", "json"], case_sensitive=False),
    default="default",
    show_default=True,
    help="default and text: a table; json: one JSON object per model, then the run's.",
)
def audit_command(**params: Any) -> None:
    """Compare Pendo's values with the selected models' rows, as a sync would send them.
    Exit 0 when no model drifts beyond --max-drift, 1 otherwise."""
    from ..api import audit
    from ..readback.run import model_json

    if params.pop("all_records") and params["sample"] is not None:
        raise click.UsageError("--sample and --all: pass one of them")
    log_format = params.pop("log_format").lower()
    results = audit(**params)
    if log_format == "json":
        for m in results.models:
            click.echo(json.dumps({"event": "audit_model", **model_json(m)}, default=str))
        summary = {"event": "audit_finished", "ok": results.ok, "models": len(results.models)}
        click.echo(json.dumps({**summary, "path": str(results.path)}))
    else:
        _show(results)
    if not results.ok:
        sys.exit(EXIT_FAILED)


def _show(results: Any) -> None:
    rows = [
        (
            m.model,
            m.object,
            m.status,
            *(
                str(getattr(m.tally, n))
                for n in ("records", "compared", "equal", "drifted", "absent", "recent")
            ),
            f"{m.drift_pct:.2f}",
            str(m.fixed),
        )
        for m in results.models
    ]
    columns = ("model", "object", "status", "records", "compared", "equal", "drifted", "absent", "recent")
    print_table("dbt-pendo audit", (*columns, "drift %", "fixed"), rows)
    for m in results.models:
        if m.message:
            click.echo(f"{m.model}: {m.message}")
        for name, counts in m.tally.fields.items():
            if counts.different:
                shown = "; ".join(
                    f"{e['id']}: {e['warehouse']!r} in the warehouse, {e['pendo']!r} in Pendo"
                    for e in counts.examples
                )
                click.echo(f"{m.model}.{name}: {counts.different} different ({shown})")
        if m.fixed:
            click.echo(
                f"{m.model}: forgot the state of {m.fixed} drifted record(s): the next sync sends them"
            )
    click.echo(f"wrote {results.path}")
