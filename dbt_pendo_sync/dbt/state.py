"""Sync state in the warehouse: what Pendo confirmed, per model and record, as fingerprints.

Tables (created through the user's adapter, in the state schema):
- `pendo_sync_state` (model_id, record_id, fingerprint, synced_at): one row per record whose
  current payload Pendo confirmed.
- `pendo_sync_journal` (model_id, kind, lo, hi): progress of a running sync, as ranges of
  state keys that were answered (`range`; rows are sent in key order) and the keys in them
  that were not confirmed (`skip`). Small rows, so recording progress costs one insert per
  flush.
- `pendo_sync_snap_<model>`: the run's snapshot of the model, with each row's state key,
  fingerprint and change kind (new / changed / same). Rows are not numbered: a window over
  the whole table costs more than the rest of the snapshot, and only changed rows need an
  order, which the read that sends them gives.

A run merges the journal into the state (confirmed = inside a range and not skipped) in one
transaction at its end; a run that finds a journal left by a crashed run merges it first.
So the state never claims more than Pendo confirmed, whatever moment a crash happens.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import LockError, WarehouseError
from ..pendo.fields import InvalidValue, record_id
from ..vocab import ChangeKind
from .artifacts import ModelNode
from .warehouse import Warehouse

STATE_TABLE = "pendo_sync_state"
JOURNAL_TABLE = "pendo_sync_journal"
LOCK_TABLE = "pendo_sync_lock"
SNAPSHOT_PREFIX = "pendo_sync_snap_"
# Changes whenever the meaning of a fingerprint changes (value conversion, payload shape).
FINGERPRINT_VERSION = "1"
_SEPARATOR = "\x1f"
JOURNAL_FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class StateLocation:
    """Where a model's state tables live."""

    database: str | None
    schema: str


def snapshot_name(model: ModelNode) -> str:
    """A table name unique to the model, within identifier length limits."""
    digest = hashlib.sha1(model.unique_id.encode()).hexdigest()[:8]
    return f"{SNAPSHOT_PREFIX}{model.name[:30].lower()}_{digest}"


class StateStore:
    """The state and journal tables of one state location."""

    def __init__(self, warehouse: Warehouse, location: StateLocation) -> None:
        self.warehouse = warehouse
        self.location = location
        self.state = warehouse.table(location.database, location.schema, STATE_TABLE)
        self.journal = warehouse.table(location.database, location.schema, JOURNAL_TABLE)
        self.lock = warehouse.table(location.database, location.schema, LOCK_TABLE)

    def exists(self) -> bool:
        """Whether the state tables were created (by an earlier sync)."""
        return self.warehouse.table_exists(self.state) and self.warehouse.table_exists(self.journal)

    def ensure(self) -> None:
        """Create the schema and tables when missing."""
        try:
            self.warehouse.create_schema(self.location.database, self.location.schema)
            self._drop_row_number_journal()
            self._create_tables()
        except WarehouseError as exc:
            raise WarehouseError(
                f"cannot keep sync state in schema {self.location.schema}: {exc}. Grant the "
                "profile's user the right to create tables there, or point --state-schema "
                "(DBT_PENDO_STATE_SCHEMA) or the block's state_schema at a schema it can write"
            ) from None

    def _create_tables(self) -> None:
        w = self.warehouse
        string, bigint = w.macro("type_string"), w.macro("type_bigint")
        timestamp = w.macro("type_timestamp")
        w.execute(
            f"create table if not exists {self.state} (model_id {string}, record_id {string}, "
            f"fingerprint {string}, synced_at {timestamp})",
            f"create table if not exists {self.journal} (model_id {string}, kind {string}, "
            f"lo {string}, hi {string})",
            f"create table if not exists {self.lock} (model_id {string}, owner {string}, heartbeat {bigint})",
        )

    def _drop_row_number_journal(self) -> None:
        """A journal written before progress was kept as state keys holds row numbers (lo/hi
        are integers), which mean nothing to today's snapshots. Dropping it forgets only the
        unmerged progress of a crashed run, whose rows are then sent again: nothing is lost."""
        lo_type = self.warehouse.column_types(self.journal).get("lo", "")
        if lo_type and not any(t in lo_type.lower() for t in ("char", "text", "string")):
            self.warehouse.drop_table(self.journal)

    def _confirmed(self, model_id: str, alias: str) -> str:
        j = self.journal
        return (
            f"exists (select 1 from {j} j where j.model_id = {model_id} and j.kind = 'range' "
            f"and {alias}.__rid between j.lo and j.hi) and not exists (select 1 from {j} k "
            f"where k.model_id = {model_id} and k.kind = 'skip' and k.lo = {alias}.__rid)"
        )

    def merge(
        self, model: ModelNode, snapshot: Any, *, replace_all: bool = False, forget_dropped: bool = False
    ) -> None:
        """Fold the journal into the state in one transaction, then empty the journal.

        `replace_all` rebuilds the model's state from this run alone (full resync);
        `forget_dropped` drops state of records no longer in the snapshot.
        """
        w = self.warehouse
        mid = w.literal(model.unique_id)
        now = w.macro("current_timestamp")
        confirmed = self._confirmed(mid, "s")
        statements = []
        if replace_all:
            statements.append(f"delete from {self.state} where model_id = {mid}")
        else:
            # An unchanged row's state already holds its fingerprint, so only the rows that
            # differed need the journal: the range lookups then touch the changed few.
            confirmed = f"s.__change <> '{ChangeKind.SAME}' and {confirmed}"
            statements.append(
                f"delete from {self.state} where model_id = {mid} and record_id in "
                f"(select s.__rid from {snapshot} s where {confirmed})"
            )
        statements.append(
            f"insert into {self.state} (model_id, record_id, fingerprint, synced_at) "
            f"select {mid}, s.__rid, s.__fp, {now} from {snapshot} s where {confirmed}"
        )
        if forget_dropped:  # not exists (an anti-join) scales where `not in` may not
            statements.append(
                f"delete from {self.state} where model_id = {mid} and not exists "
                f"(select 1 from {snapshot} s where s.__rid = {STATE_TABLE}.record_id)"
            )
        statements.append(f"delete from {self.journal} where model_id = {mid}")
        w.execute(*statements)

    def recover(self, model: ModelNode, snapshot: Any) -> None:
        """Merge what a crashed run confirmed (its journal and snapshot), then drop its snapshot."""
        if self.warehouse.table_exists(snapshot):
            self.merge(model, snapshot)
            self.warehouse.drop_table(snapshot)
        else:
            self.warehouse.execute(
                f"delete from {self.journal} where model_id = {self.warehouse.literal(model.unique_id)}"
            )


def _fingerprint_sql(w: Warehouse, salt: str, columns: Mapping[str, str], clear: set[str]) -> str:
    """SQL for a row's fingerprint: a hash of what is sent (field names and values).

    Skipped nulls are not sent, so they contribute nothing: adding a field that is null on a
    row leaves that row's fingerprint alone, and renaming a field changes exactly the rows
    that carry a value for it. Nulls of `clear` columns are sent, so they count.
    """
    string = w.macro("type_string")
    parts = [w.literal(f"{FINGERPRINT_VERSION}{_SEPARATOR}{salt}")]
    for column, field in sorted(columns.items(), key=lambda cf: cf[1]):
        col = w.quote(column)
        tag = w.literal(f"{_SEPARATOR}{field}=")
        if_null = w.literal(f"{_SEPARATOR}{field}:null") if column in clear else "''"
        parts.append(
            f"case when {col} is null then {if_null} else "
            f"{w.macro('concat', fields=[tag, f'cast({col} as {string})'])} end"
        )
    return w.macro("hash", field=w.macro("concat", fields=parts))


class ModelSnapshot:
    """A model frozen at the start of its sync and diffed against the state (a RowSource).

    Rows come out as (state key, id, field values...), in state-key order.
    """

    def __init__(
        self,
        store: StateStore,
        model: ModelNode,
        kind: str,
        id_column: str,
        mapping: Mapping[str, str],
        *,
        full_resync: bool,
        state_exists: bool,
        clear: Sequence[str] = (),
        salt: str = "",
        as_text: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.model = model
        self.full_resync = full_resync
        self._w = store.warehouse
        self._id_column = id_column
        self._columns = list(mapping)
        self._kind = kind
        self._mapping = dict(mapping)
        self._state_exists = state_exists
        self.table = self._w.table(store.location.database, store.location.schema, snapshot_name(model))
        self.relation = str(self._w.relation(model))
        self.fields: Sequence[str] = [mapping[c] for c in self._columns]
        self._clear = set(clear)
        self._as_text = set(as_text)  # columns read as their text form (see read_as_text)
        self._salt = f"{kind}{_SEPARATOR}{salt}"
        self.clear: Sequence[bool] = [c in self._clear for c in self._columns]

    def create(self) -> None:
        """Freeze the model into the snapshot table, with keys, fingerprints and change kinds."""
        w = self._w
        string = w.macro("type_string")
        qid = w.quote(self._id_column)
        cols = ", ".join(w.quote(c) for c in self._columns)
        fp = _fingerprint_sql(w, self._salt, self._mapping, self._clear)
        frozen = (
            f"select {qid} as __id, cast({qid} as {string}) as __rid, {fp} as __fp, {cols} "
            f"from {self.relation}"
        )
        if self._state_exists:
            mid = w.literal(self.model.unique_id)
            change = (
                f"case when st.record_id is null then '{ChangeKind.NEW}' when st.fingerprint <> m.__fp "
                f"then '{ChangeKind.CHANGED}' else '{ChangeKind.SAME}' end"
            )
            source = f"m left join {self.store.state} st on st.model_id = {mid} and st.record_id = m.__rid"
        else:
            change, source = f"'{ChangeKind.NEW}'", "m"
        sql = f"with m as ({frozen}) select m.*, {change} as __change from {source}"
        w.drop_table(self.table)
        w.execute(w.macro("create_table_as", temporary=False, relation=self.table, compiled_code=sql))

    def counts(self) -> dict[ChangeKind, int]:
        """Rows per change kind."""
        rows = self._w.query(f"select __change, count(*) from {self.table} group by __change")
        found = {ChangeKind(str(kind)): int(n) for kind, n in rows}
        return {kind: found.get(kind, 0) for kind in ChangeKind}

    def duplicate_ids(self) -> set[str]:
        """Ids on more than one row, found by the warehouse."""
        sql = f"select __id from {self.table} where __rid is not null group by __id having count(*) > 1"
        ids = set()
        for (value,) in self._w.query(sql):
            try:
                ids.add(record_id(value))
            except InvalidValue:
                continue  # blank ids are invalid on their own
        return ids

    def chunks(self) -> Iterator[Sequence[tuple]]:
        """Rows to send (all of them on a full resync), in state-key order."""
        string = self._w.macro("type_string")
        cols = ", ".join(
            f"cast({self._w.quote(c)} as {string})" if c in self._as_text else self._w.quote(c)
            for c in self._columns
        )
        where = "" if self.full_resync else f"where __change <> '{ChangeKind.SAME}' "
        return self._w.stream(f"select __rid, __id, {cols} from {self.table} {where}order by __rid")

    def drop(self) -> None:
        """Drop the snapshot table."""
        self._w.drop_table(self.table)


class SyncLock:
    """One sync of a model at a time, across processes and machines: the lock is a row in
    the state schema, kept alive by a heartbeat.

    To acquire, a run commits its claim, then reads the claims: alone, it holds the lock;
    otherwise it withdraws and tries again until `wait` runs out. Of two runs that claim at
    once, at least one sees the other (each commits before it reads), so both can never
    hold it. A claim whose heartbeat is older than `stale_after` seconds belongs to a run
    that died and is removed.
    """

    def __init__(self, store: StateStore, model: ModelNode, *, wait: float, stale_after: float) -> None:
        self._store = store
        self._model = model
        self._wait = wait
        self._stale_after = stale_after
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _where(self, w: Warehouse) -> str:
        return f"model_id = {w.literal(self._model.unique_id)}"

    def acquire(self) -> SyncLock:
        """Hold the lock, or raise LockError after waiting."""
        w = self._store.warehouse
        deadline = time.monotonic() + self._wait
        while True:
            w.execute(
                f"insert into {self._store.lock} (model_id, owner, heartbeat) values "
                f"({w.literal(self._model.unique_id)}, {w.literal(self.owner)}, {int(time.time())})"
            )
            others = self._live_others(w)
            if not others:
                return self
            self.release()
            if time.monotonic() > deadline:
                owner, beat = others[0]
                raise LockError(
                    f"model {self._model.name} is being synced by another run ({owner}, last "
                    f"heartbeat {int(time.time() - beat)} s ago; lock table {self._store.lock}); "
                    f"waited {self._wait:.0f} s. Try again when it ends; the lock of a run that "
                    f"died is taken over after {self._stale_after:.0f} s without a heartbeat"
                )
            time.sleep(random.uniform(0.2, 0.6))

    def _live_others(self, w: Warehouse) -> list[tuple[str, int]]:
        rows = w.query(f"select owner, heartbeat from {self._store.lock} where {self._where(w)}")
        now = time.time()
        others = [(str(o), int(h)) for o, h in rows if o != self.owner]
        stale = [o for o, h in others if now - h > self._stale_after]
        if stale:
            names = ", ".join(w.literal(o) for o in stale)
            w.execute(f"delete from {self._store.lock} where {self._where(w)} and owner in ({names})")
        return [(o, h) for o, h in others if o not in stale]

    def heartbeat(self, w: Warehouse) -> None:
        """Refresh the claim (from the thread whose connection `w` is on)."""
        w.execute(
            f"update {self._store.lock} set heartbeat = {int(time.time())} "
            f"where {self._where(w)} and owner = {w.literal(self.owner)}"
        )

    def release(self) -> None:
        """Withdraw the claim."""
        w = self._store.warehouse
        w.execute(
            f"delete from {self._store.lock} where {self._where(w)} and owner = {w.literal(self.owner)}"
        )


class Journal:
    """Records sync progress from a thread of its own, on a connection of its own.

    The main thread's connection is busy streaming the snapshot; the journal writes beside
    it, coalescing answered ranges and flushing about once a second, skips before ranges,
    and keeps the lock's heartbeat going.
    """

    def __init__(self, store: StateStore, model: ModelNode, lock: SyncLock) -> None:
        self._store = store
        self._lock = lock
        self._model_id = model.unique_id
        self._queue: queue.Queue[tuple[str, str, list[str]] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pendo-journal", daemon=True)
        self._thread.start()

    def record(self, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Rows with keys lo..hi were answered; those with keys in `skipped` were not confirmed."""
        self._raise_if_failed()
        self._queue.put((lo, hi, list(skipped)))

    def close(self) -> None:
        """Flush everything recorded, stop the thread, and raise any write failure."""
        self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise WarehouseError(f"cannot write the sync journal {self._store.journal}: {self._error}")

    def _run(self) -> None:
        w = self._store.warehouse
        try:
            with w.worker_connection("dbt-pendo-sync-journal"):
                mid = w.literal(self._model_id)
                done = False
                while not done:
                    lo, hi, skipped, done = self._drain()
                    if lo is not None and hi is not None:
                        self._flush(w, mid, lo, hi, skipped)
                    self._lock.heartbeat(w)
        except BaseException as exc:  # reported to the main thread by record()/close()
            self._error = exc

    def _drain(self) -> tuple[str | None, str | None, list[str], bool]:
        """Everything recorded within one flush interval, coalesced into one range."""
        lo = hi = None
        skipped: list[str] = []
        deadline = time.monotonic() + JOURNAL_FLUSH_SECONDS
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return lo, hi, skipped, False
            if item is None:
                return lo, hi, skipped, True
            lo = item[0] if lo is None else lo
            hi = item[1]
            skipped.extend(item[2])

    def _flush(self, w: Warehouse, mid: str, lo: str, hi: str, skipped: list[str]) -> None:
        j = self._store.journal
        for start in range(0, len(skipped), 1000):
            values = ", ".join(
                f"({mid}, 'skip', {k}, {k})" for k in map(w.literal, skipped[start : start + 1000])
            )
            w.execute(f"insert into {j} (model_id, kind, lo, hi) values {values}")
        w.execute(
            f"insert into {j} (model_id, kind, lo, hi) values "
            f"({mid}, 'range', {w.literal(lo)}, {w.literal(hi)})"
        )
