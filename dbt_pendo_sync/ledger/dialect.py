"""The ledger's SQL that differs per kind of warehouse, in one place.

Two families, picked by dbt's adapter type:

- `TransactionalDialect` (DuckDB, PostgreSQL, Snowflake, and every adapter not named here):
  rows are removed with DELETE and changed with UPDATE, and the statements of one change run
  in one transaction (Warehouse.execute).
- `SparkDialect` (dbt-spark): plain Spark tables (parquet, no Delta or Iceberg) take
  INSERT INTO, but no DELETE, no UPDATE and no transactions, and Spark refuses an INSERT
  OVERWRITE of a datasource table it reads from. A table loses rows by being rewritten:
  the rows kept go into a new table `<name>__next` (CREATE TABLE ... AS), the old table is
  dropped and the new one renamed (dbt's rename_relation). A run that dies between the drop
  and the rename leaves `<name>__next` alone: `repair` renames it into place before the next
  run reads anything, and drops a `<name>__next` whose table is still there (the rewrite
  had not started; what it was to write is still in the journal).

Why classes and not dbt-dispatched macros: the macros would have to be merged into every
adapter's macro resolver (built from the user's manifest), and a Spark dialect needs more
than other SQL: an order of steps with a repair after a crash, which is Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..dbt.warehouse import Warehouse

NEXT_SUFFIX = "__next"


@dataclass(frozen=True)
class Merge:
    """A run's confirmed progress folded into the state (StateStore.merge builds it).

    `confirmed` is a predicate on the snapshot row `s`; `replace_all` rebuilds the model's
    state from this run alone; `forget_dropped` drops the state of records not in the
    snapshot; the model's journal rows are cleared last."""

    state: Any
    journal: Any
    snapshot: Any
    model_id: str  # a SQL literal
    confirmed: str
    now: str
    replace_all: bool
    forget_dropped: bool


class TransactionalDialect:
    """SQL for warehouses with DELETE, UPDATE and transactions."""

    def create_table(self, w: Warehouse, relation: Any, columns: str) -> str:
        """A CREATE TABLE IF NOT EXISTS statement with these column definitions."""
        return f"create table if not exists {relation} ({columns})"

    def create_table_as(self, w: Warehouse, relation: Any, sql: str) -> None:
        """Create a table from a query (dbt's create_table_as)."""
        w.execute(w.macro("create_table_as", temporary=False, relation=relation, compiled_code=sql))

    def delete(self, w: Warehouse, table: Any, where: str) -> None:
        """Remove the rows that match `where`."""
        w.execute(f"delete from {table} where {where}")

    def heartbeat(self, w: Warehouse, lock: Any, model_id: str, owner: str, now: int) -> None:
        """Refresh a run's claim (`model_id`, `owner`: SQL literals); readers take the
        latest heartbeat per owner."""
        w.execute(f"update {lock} set heartbeat = {now} where model_id = {model_id} and owner = {owner}")

    def merge(self, w: Warehouse, m: Merge) -> None:
        """The merge, in one transaction: all of it happens or none of it."""
        mid, state = m.model_id, m.state
        statements = []
        if m.replace_all:
            statements.append(f"delete from {state} where model_id = {mid}")
        else:
            statements.append(
                f"delete from {state} where model_id = {mid} and record_id in "
                f"(select s.__rid from {m.snapshot} s where {m.confirmed})"
            )
        statements.append(
            f"insert into {state} (model_id, record_id, fingerprint, synced_at) "
            f"select {mid}, s.__rid, s.__fp, {m.now} from {m.snapshot} s where {m.confirmed}"
        )
        if m.forget_dropped:  # not exists (an anti-join) scales where `not in` may not
            statements.append(
                f"delete from {state} where model_id = {mid} and not exists "
                f"(select 1 from {m.snapshot} s where s.__rid = {state.identifier}.record_id)"
            )
        statements.append(f"delete from {m.journal} where model_id = {mid}")
        w.execute(*statements)

    def repair(self, w: Warehouse, tables: Iterable[Any]) -> None:
        """Finish what a run that died left half done (nothing: transactions roll back)."""


class SparkDialect(TransactionalDialect):
    """SQL for plain Spark tables: INSERT only; rows leave a table by a rewrite of it."""

    def create_table(self, w: Warehouse, relation: Any, columns: str) -> str:
        # Parquet, not the Hive text format Spark picks without USING: text cannot hold
        # every string (a newline splits the row), and a datasource table's CREATE TABLE AS
        # registers the table only once its files are written.
        return f"create table if not exists {relation} ({columns}) using parquet"

    def create_table_as(self, w: Warehouse, relation: Any, sql: str) -> None:
        w.execute(f"create table {relation} using parquet as {sql}")

    def delete(self, w: Warehouse, table: Any, where: str) -> None:
        # Rows where `where` is null are kept, as DELETE keeps them.
        self._rewrite(w, table, f"select * from {table} where not coalesce(({where}), false)")

    def heartbeat(self, w: Warehouse, lock: Any, model_id: str, owner: str, now: int) -> None:
        # A new row per beat (no UPDATE): readers take the latest heartbeat per owner, and
        # the run's rows all go when it releases the lock.
        w.execute(f"insert into {lock} (model_id, owner, heartbeat) values ({model_id}, {owner}, {now})")

    def merge(self, w: Warehouse, m: Merge) -> None:
        """The state rewritten whole in one CREATE TABLE AS (the other models' rows, the
        model's rows kept, the rows confirmed now), swapped in, then the journal cleared.

        No transaction: the swap is the commit point. Before it, the old state and the whole
        journal are intact and the next run merges again; after it, a journal not yet
        cleared merges again to the same state (the merge is idempotent)."""
        mid, state, snap = m.model_id, m.state, m.snapshot
        kept = [f"select * from {state} where model_id <> {mid}"]
        if not m.replace_all:
            mine = (
                f"select st.* from {state} st left anti join (select s.__rid from {snap} s "
                f"where {m.confirmed}) c on c.__rid = st.record_id"
            )
            if m.forget_dropped:
                mine += f" left semi join {snap} d on d.__rid = st.record_id"
            kept.append(f"{mine} where st.model_id = {mid}")
        new = (
            f"select {mid} as model_id, s.__rid as record_id, s.__fp as fingerprint, "
            f"cast({m.now} as timestamp) as synced_at from {snap} s where {m.confirmed}"
        )
        self._rewrite(w, state, " union all ".join([*kept, new]))
        self.delete(w, m.journal, f"model_id = {mid}")

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


def dialect_for(adapter_type: str) -> TransactionalDialect:
    """The dialect of a dbt adapter type."""
    return SparkDialect() if adapter_type == "spark" else TransactionalDialect()
