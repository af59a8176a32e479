"""How the ledger changes its tables on a kind of warehouse; the SQL itself is rendered by
the user's adapter from the package's dispatched macros (macros/ledger.sql).

Two strategies, picked by the dispatched macro `pendo_sync_rewrites_tables`:

- `TransactionalDialect` (DuckDB, PostgreSQL, Snowflake, BigQuery, Databricks, and every
  adapter without an override): rows are removed with DELETE and changed with UPDATE, and
  the statements of one change run in one transaction (Warehouse.execute; on BigQuery, whose
  dbt adapter has no transactions, the merge macro is one script in BigQuery's own
  BEGIN TRANSACTION ... COMMIT TRANSACTION).
- `RewritingDialect` (plain Spark tables: parquet, no Delta or Iceberg): tables take INSERT
  INTO, but no DELETE, no UPDATE and no transactions, and Spark refuses an INSERT OVERWRITE
  of a datasource table it reads from. A table loses rows by being rewritten: the rows kept
  go into a new table `<name>__next` (CREATE TABLE ... AS), the old table is dropped and the
  new one renamed (dbt's rename_relation). A run that dies between the drop and the rename
  leaves `<name>__next` alone: `repair` renames it into place before the next run reads
  anything, and drops a `<name>__next` whose table is still there (the rewrite had not
  started; what it was to write is still in the journal). That order of steps, with its
  repair, is why the strategy is Python and only its SQL is macros.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..dbt.warehouse import Warehouse

NEXT_SUFFIX = "__next"


@dataclass(frozen=True)
class Merge:
    """A run's confirmed progress folded into the state (Ledger.merge builds it).

    `confirmed` is a predicate on the snapshot row `s`; `replace_all` rebuilds the model's
    state from this run alone; `forget_dropped` drops the state of the records whose
    snapshot row is `dropped` (a predicate on `s`: the record left the model); the model's
    journal rows are cleared last."""

    state: Any
    journal: Any
    snapshot: Any
    model_id: str  # a SQL literal
    confirmed: str
    now: str
    replace_all: bool
    forget_dropped: bool
    stays: str = "1 = 1"  # a condition on `s`: confirmed rows that stay in the state
    dropped: str = "1 = 0"  # a condition on `s`: the record left the model, its state goes

    def macro_args(self) -> dict[str, Any]:
        """The arguments of the merge macros (pendo_sync_merge, pendo_sync_state_after_merge)."""
        return {
            "state": self.state,
            "snapshot": self.snapshot,
            "model_id": self.model_id,
            "confirmed": self.confirmed,
            "now": self.now,
            "replace_all": self.replace_all,
            "forget_dropped": self.forget_dropped,
            "stays": self.stays,
            "dropped": self.dropped,
        }


class TransactionalDialect:
    """For warehouses with DELETE, UPDATE and transactions."""

    def create_table(self, w: Warehouse, relation: Any, columns: str) -> str:
        """A CREATE TABLE IF NOT EXISTS statement with these column definitions."""
        return w.macro("pendo_sync_create_table", relation=relation, columns=columns)

    def create_table_as(self, w: Warehouse, relation: Any, sql: str) -> None:
        """Create a table from a query."""
        w.execute(w.macro("pendo_sync_create_table_as", relation=relation, sql=sql))

    def delete(self, w: Warehouse, table: Any, where: str) -> None:
        """Remove the rows that match `where`."""
        w.execute(w.macro("pendo_sync_delete", relation=table, where=where))

    def heartbeat(self, w: Warehouse, lock: Any, model_id: str, owner: str, now: int) -> None:
        """Refresh a run's claim (`model_id`, `owner`: SQL literals)."""
        w.execute(w.macro("pendo_sync_heartbeat", lock=lock, model_id=model_id, owner=owner, now=now))

    def merge(self, w: Warehouse, m: Merge) -> None:
        """The merge, in one transaction: all of it happens or none of it."""
        w.execute(*w.statements("pendo_sync_merge", journal=m.journal, **m.macro_args()))

    def repair(self, w: Warehouse, tables: Iterable[Any]) -> None:
        """Finish what a run that died left half done (nothing: transactions roll back)."""


class RewritingDialect(TransactionalDialect):
    """For tables that take INSERT only: rows leave a table by a rewrite of it."""

    def delete(self, w: Warehouse, table: Any, where: str) -> None:
        self._rewrite(w, table, w.macro("pendo_sync_rows_kept", relation=table, where=where))

    def merge(self, w: Warehouse, m: Merge) -> None:
        """The state rewritten whole in one CREATE TABLE AS, swapped in, then the journal
        cleared.

        No transaction: the swap is the commit point. Before it, the old state and the whole
        journal are intact and the next run merges again; after it, a journal not yet
        cleared merges again to the same state (the merge is idempotent)."""
        self._rewrite(w, m.state, w.macro("pendo_sync_state_after_merge", **m.macro_args()))
        self.delete(w, m.journal, f"model_id = {m.model_id}")

    def repair(self, w: Warehouse, tables: Iterable[Any]) -> None:
        listed: dict[tuple[str | None, str], set[str]] = {}  # one listing per schema
        for table in tables:
            key = (table.database, table.schema)
            if key not in listed:
                listed[key] = w.table_names(*key)
            names = listed[key]
            pending = _next_of(w, table)
            if pending.identifier.lower() not in names:
                continue
            if table.identifier.lower() in names:
                w.drop_table(pending)  # the swap had not begun: the old table holds
            else:
                w.rename_table(pending, table)  # dropped, not yet renamed: finish the swap

    def _rewrite(self, w: Warehouse, table: Any, select: str) -> None:
        """`table` becomes the rows of `select` (which may read `table`): create and swap."""
        pending = _next_of(w, table)
        w.drop_table(pending)
        self.create_table_as(w, pending, select)
        w.drop_table(table)
        w.rename_table(pending, table)


def _next_of(w: Warehouse, table: Any) -> Any:
    return w.table(table.database, table.schema, f"{table.identifier}{NEXT_SUFFIX}")


def dialect_for(w: Warehouse) -> TransactionalDialect:
    """The strategy of the warehouse behind `w`, as its adapter's dispatch decides."""
    return RewritingDialect() if w.call_macro("pendo_sync_rewrites_tables") else TransactionalDialect()
