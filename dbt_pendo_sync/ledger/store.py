"""The state and journal tables of one state location, and the merge of a run's confirmed
progress into the state."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..dbt.artifacts import ModelNode
from ..dbt.warehouse import Warehouse
from ..errors import WarehouseError
from ..vocab import ChangeKind
from .dialect import Merge, TransactionalDialect, dialect_for

STATE_TABLE = "pendo_sync_state"
JOURNAL_TABLE = "pendo_sync_journal"
LOCK_TABLE = "pendo_sync_lock"
TARGETS_TABLE = "pendo_sync_targets"  # the Pendo object a model writes, when Pendo names it by id
# Words of a warehouse refusing a right (PostgreSQL, Snowflake, BigQuery, Databricks, DuckDB).
_REFUSED = ("permission", "privilege", "access denied", "not authorized", "read-only", "read only")


@dataclass(frozen=True)
class LedgerLocation:
    """Where a model's state tables live."""

    database: str | None
    schema: str


class Ledger:
    """The ledger of one state location: its state, journal, lock and targets tables."""

    def __init__(self, warehouse: Warehouse, location: LedgerLocation) -> None:
        self.warehouse = warehouse
        self.location = location
        self.state = warehouse.table(location.database, location.schema, STATE_TABLE)
        self.journal = warehouse.table(location.database, location.schema, JOURNAL_TABLE)
        self.lock = warehouse.table(location.database, location.schema, LOCK_TABLE)
        self.targets = warehouse.table(location.database, location.schema, TARGETS_TABLE)

    @cached_property
    def dialect(self) -> TransactionalDialect:
        """How this warehouse changes the tables (dialect.py)."""
        return dialect_for(self.warehouse)

    def exists(self) -> bool:
        """Whether the state tables were created (by an earlier sync)."""
        names = self.warehouse.table_names(self.location.database, self.location.schema)
        return {STATE_TABLE, JOURNAL_TABLE} <= names

    def holds(self, model: ModelNode) -> bool:
        """Whether the state has a record of the model (none before its first sync)."""
        w = self.warehouse
        mid = w.literal(model.unique_id)
        # The first row is enough (no LIMIT: SQL Server has none; no EXISTS in a select list:
        # Spark has none); leaving the loop closes the stream, and the cursor with it.
        for _ in w.stream(f"select 1 from {self.state} where model_id = {mid}", 1):
            return True
        return False

    def ensure(self) -> None:
        """Create the schema and tables when missing. Another run creating them at the same
        moment is no error: PostgreSQL's IF NOT EXISTS can still fail then (a unique index of
        its catalog), after which what the other run made exists and is used."""
        w = self.warehouse
        try:
            try:
                w.create_schema(self.location.database, self.location.schema)
            except WarehouseError:
                # CREATE SCHEMA IF NOT EXISTS asks for the right to create schemas even when
                # the schema exists, and fails when another run creates it at the same time.
                if not w.schema_exists(self.location.database, self.location.schema):
                    raise
            self.dialect.repair(w, (self.state, self.journal, self.lock, self.targets))
            self._create_tables()
        except WarehouseError as exc:
            raise WarehouseError(self._cannot_keep_state(str(exc))) from None

    def _cannot_keep_state(self, why: str) -> str:
        """What stops a run keeping state here, with the fix when it is a missing right."""
        where = f"cannot keep sync state in schema {self.location.schema}: {why}"
        if not any(word in why.lower() for word in _REFUSED):
            return where
        return (
            f"{where}. Grant the profile's user the right to create tables there, or point "
            "--state-schema (DBT_PENDO_STATE_SCHEMA) or the block's state_schema at a schema it can write"
        )

    def _create_tables(self) -> None:
        """Each table in a statement of its own: one another run made meanwhile is kept."""
        w = self.warehouse
        string, bigint = w.macro("type_string"), w.macro("type_bigint")
        timestamp = w.macro("type_timestamp")
        tables = (
            (
                self.state,
                f"model_id {string}, record_id {string}, fingerprint {string}, synced_at {timestamp}",
            ),
            (self.journal, f"model_id {string}, kind {string}, lo {string}, hi {string}"),
            (self.lock, f"model_id {string}, owner {string}, heartbeat {bigint}"),
            (self.targets, f"model_id {string}, target_id {string}"),
        )
        for table, columns in tables:
            try:
                w.execute(self.dialect.create_table(w, table, columns))
            except WarehouseError:
                if not w.table_exists(table):
                    raise

    def _confirmed(self, model_id: str, alias: str) -> str:
        j = self.journal
        # Answered in a range, or sent (an intent: a run killed while it was in flight takes
        # it as delivered, since it must not be sent twice), and not skipped.
        return (
            f"(exists (select 1 from {j} j where j.model_id = {model_id} and j.kind = 'range' "
            f"and {alias}.__rid between j.lo and j.hi) or exists (select 1 from {j} i where "
            f"i.model_id = {model_id} and i.kind = 'sent' and i.lo = {alias}.__rid)) and not exists "
            f"(select 1 from {j} k where k.model_id = {model_id} and k.kind = 'skip' "
            f"and k.lo = {alias}.__rid)"
        )

    def merge(
        self,
        model: ModelNode,
        snapshot: Any,
        *,
        replace_all: bool = False,
        forget_dropped: bool = False,
        only_new: bool = False,
    ) -> None:
        """Fold the journal into the state, then empty the journal: in one transaction, or
        on Spark by a swap of tables (dialect.py).

        `replace_all` rebuilds the model's state from this run alone (full resync);
        `forget_dropped` drops state of the records the snapshot holds as DROPPED (they left
        the model and are not sent); with `only_new` (events), only new rows were sent, so
        only they can be confirmed. A DROPPED row is never confirmed, even inside a range.
        """
        w = self.warehouse
        mid = w.literal(model.unique_id)
        if only_new:
            sent = [ChangeKind.NEW]
        elif replace_all:
            sent = [ChangeKind.NEW, ChangeKind.CHANGED, ChangeKind.SAME, ChangeKind.REMOVED]
        else:
            # An unchanged row's state already holds its fingerprint, so only the rows that
            # differed need the journal: the range lookups then touch the changed few.
            sent = [ChangeKind.NEW, ChangeKind.CHANGED, ChangeKind.REMOVED]
        kinds = ", ".join(f"'{kind}'" for kind in sent)
        # Adopted rows (sync --adopt) are confirmed: Pendo held them equal when they were frozen.
        journaled = f"s.__change in ({kinds}) and {self._confirmed(mid, 's')}"
        confirmed = f"(({journaled}) or s.__change = '{ChangeKind.ADOPTED}')"
        self.dialect.merge(
            w,
            Merge(
                state=self.state,
                journal=self.journal,
                snapshot=snapshot,
                model_id=mid,
                confirmed=confirmed,
                now=w.macro("current_timestamp"),
                replace_all=replace_all,
                forget_dropped=forget_dropped,
                stays=f"s.__change <> '{ChangeKind.REMOVED}'",
                dropped=f"s.__change = '{ChangeKind.DROPPED}'",
            ),
        )

    def prune(self, model: ModelNode, before: str) -> None:
        """Forget the model's state rows synced before `before` (SQL time): events that old
        are outside the window, so never read again."""
        w = self.warehouse
        self.dialect.delete(
            w, self.state, f"model_id = {w.literal(model.unique_id)} and synced_at < {before}"
        )

    def target_id(self, model: ModelNode) -> str | None:
        """The id of the Pendo object the model writes (its segment), when one was kept."""
        if not self.warehouse.table_exists(self.targets):
            return None
        w = self.warehouse
        rows = w.query(f"select target_id from {self.targets} where model_id = {w.literal(model.unique_id)}")
        return str(rows[0][0]) if rows else None

    def keep_target_id(self, model: ModelNode, target_id: str) -> None:
        """Remember the id of the Pendo object the model writes."""
        w = self.warehouse
        mid = w.literal(model.unique_id)
        self.dialect.delete(w, self.targets, f"model_id = {mid}")
        w.execute(f"insert into {self.targets} (model_id, target_id) values ({mid}, {w.literal(target_id)})")

    def forget(self, model: ModelNode) -> None:
        """Forget everything synced for the model (its Pendo object is gone)."""
        w = self.warehouse
        mid = w.literal(model.unique_id)
        self.dialect.delete(w, self.state, f"model_id = {mid}")
        self.dialect.delete(w, self.targets, f"model_id = {mid}")

    def forget_records(self, model: ModelNode, ids: Any) -> int:
        """Forget the model's records whose ids the table `ids` lists (its `__rid`): the
        next sync sends them; how many were forgotten."""
        w = self.warehouse
        where = f"model_id = {w.literal(model.unique_id)} and record_id in (select __rid from {ids})"
        (count,) = w.query(f"select count(*) from {self.state} where {where}")[0]
        self.dialect.delete(w, self.state, where)
        return int(count)

    def recover(self, model: ModelNode, snapshot: Any, *, only_new: bool = False) -> None:
        """Merge what a crashed run confirmed (its journal and snapshot), then drop its snapshot."""
        if self.warehouse.table_exists(snapshot):
            self.merge(model, snapshot, only_new=only_new)
            self.warehouse.drop_table(snapshot)
        else:
            w = self.warehouse
            self.dialect.delete(w, self.journal, f"model_id = {w.literal(model.unique_id)}")
