"""dbt adapters built offline, for the SQL they render: a fixture project whose profile
needs no server (dummy credentials; dbt connects only on a first query, and rendering runs
none), through dbt-pendo-sync's own build_adapter, as a sync builds the user's adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbt_pendo_sync.dbt.compat import DbtTarget, build_adapter, release_adapter
from dbt_pendo_sync.dbt.warehouse import Warehouse
from dbt_pendo_sync.ledger.dialect import Merge

# One profile target per adapter that has no server here: sqlserver, synapse, fabric,
# databricks, redshift.
RENDERED_PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "rendered_project"


@contextmanager
def offline_warehouse(project: Path = RENDERED_PROJECT, target: str | None = None) -> Iterator[Warehouse]:
    """A Warehouse over the adapter of `project`'s profile (its `target`). dbt keeps one
    adapter registered at a time: render with it before another is built."""
    adapter = build_adapter(DbtTarget(project, target=target))
    try:
        yield Warehouse(adapter)
    finally:
        release_adapter(adapter)


def sample_merge(w: Warehouse, database: str, schema: str) -> Merge:
    """A merge as Ledger.merge makes one, of the ledger's tables in `database`.`schema`:
    changed rows confirmed, the records that left the model forgotten."""
    return Merge(
        state=w.table(database, schema, "pendo_sync_state"),
        journal=w.table(database, schema, "pendo_sync_journal"),
        snapshot=w.table(database, schema, "pendo_sync_snap_x"),
        model_id=w.literal("model.p.m"),
        confirmed="s.__change <> 'same'",
        now=w.macro("current_timestamp"),
        replace_all=False,
        forget_dropped=True,
        dropped="s.__change = 'dropped'",
    )
