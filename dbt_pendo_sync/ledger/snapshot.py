"""A model frozen at the start of its sync, each row with its state key, fingerprint and
change kind against the state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..dbt.artifacts import ModelNode
from ..dbt.warehouse import Warehouse
from ..records import NOT_BLANK, InvalidValue, record_id
from ..rows import RowShape
from ..vocab import ChangeKind
from .store import Ledger

SNAPSHOT_PREFIX = "pendo_sync_snap_"
# Changes whenever the meaning of a fingerprint changes (value conversion, payload shape).
FINGERPRINT_VERSION = "1"
_SEPARATOR = "\x1f"


def _valid_ids(values: Sequence) -> set[str]:
    """The ids among `values`; blank ids are invalid on their own."""
    ids = set()
    for value in values:
        try:
            ids.add(record_id(value))
        except InvalidValue:
            continue
    return ids


def snapshot_name(model: ModelNode) -> str:
    """A table name unique to the model, within identifier length limits."""
    digest = hashlib.sha1(model.unique_id.encode()).hexdigest()[:8]
    return f"{SNAPSHOT_PREFIX}{model.name[:30].lower()}_{digest}"


def _fingerprint_sql(w: Warehouse, salt: str, columns: Mapping[str, str], clear: set[str]) -> str:
    """SQL for a row's fingerprint: a hash of what is sent (field names and values), rendered
    by the dispatched macro pendo_sync_fingerprint.

    Skipped nulls are not sent, so they contribute nothing: adding a field that is null on a
    row leaves that row's fingerprint alone, and renaming a field changes exactly the rows
    that carry a value for it. Nulls of `clear` columns are sent, so they count.
    """
    fields = [
        {
            "column": w.quote(column),
            "tag": w.literal(f"{_SEPARATOR}{field}="),
            "if_null": w.literal(f"{_SEPARATOR}{field}:null") if column in clear else "''",
        }
        for column, field in sorted(columns.items(), key=lambda cf: cf[1])
    ]
    prefix = w.literal(f"{FINGERPRINT_VERSION}{_SEPARATOR}{salt}")
    return w.macro("pendo_sync_fingerprint", prefix=prefix, fields=fields)


@dataclass(frozen=True)
class RecordSQL:
    """What the warehouse needs to write each metadata record's JSON (macros/payload.sql):
    the record's id key, the kind of its id column and of each mapped column (None where
    only Python converts them: then Python builds every record)."""

    id_key: str
    id_kind: str | None
    kinds: Mapping[str, str | None]  # {column: fields.Coercion.warehouse_kind}


@dataclass(frozen=True)
class SnapshotColumns:
    """What a snapshot reads and fingerprints: the id column, {column: field} in column
    order, the columns whose nulls are sent (`clear`) and those read as text (`as_text`,
    see targets/metadata/fieldcheck.read_as_text), and `salt`, the options that change payloads; for events,
    the window (`where`), that rows are sent once, and how far back the state is kept."""

    kind: str
    id_column: str | None  # None: the fingerprint is the id (events without an id column)
    mapping: Mapping[str, str]
    clear: frozenset[str] = frozenset()
    as_text: frozenset[str] = frozenset()
    salt: str = ""
    where: str = ""  # SQL: only the model's rows that match are frozen (an event window)
    immutable: bool = False  # rows are sent once (events): a changed row is never resent
    window_rows: int = 0  # events: the rows `where` keeps, counted with those it leaves out
    keep_since: str | None = None  # SQL time: state older than this is forgotten (pruned)
    departed: bool = False  # records synced before and no longer in the model are rows too
    records: RecordSQL | None = None  # metadata: the warehouse may write the records' JSON
    parent_column: str | None = None  # ids are `parent::child`, the parent from this column


class ModelSnapshot:
    """A model frozen at the start of its sync and diffed against the state (a RowSource).

    Rows come out in state-key order, in the shape `shape` says (rows.py).
    """

    def __init__(
        self,
        store: Ledger,
        model: ModelNode,
        columns: SnapshotColumns,
        *,
        full_resync: bool,
        state_exists: bool,
    ) -> None:
        self.store = store
        self.model = model
        self.immutable = columns.immutable
        self.departed = columns.departed
        self.keep_since = columns.keep_since
        self.full_resync = full_resync and not columns.immutable  # an event is never resent
        self._where = columns.where
        self._window_rows = columns.window_rows
        self._w = store.warehouse
        self._id_column = columns.id_column
        self._parent_column = columns.parent_column
        self._columns = list(columns.mapping)
        self._mapping = dict(columns.mapping)
        self._state_exists = state_exists
        self.table = self._w.table(store.location.database, store.location.schema, snapshot_name(model))
        self.relation = str(self._w.relation(model))
        self.fields: Sequence[str] = [columns.mapping[c] for c in self._columns]
        self._clear = set(columns.clear)
        self._as_text = set(columns.as_text)
        self._salt = f"{columns.kind}{_SEPARATOR}{columns.salt}"
        self.clear: Sequence[bool] = [c in self._clear for c in self._columns]
        self._records = columns.records

    @property
    def frozen_all(self) -> bool:
        """Whether every row of the model is frozen: a full resync sends them all, and a
        first sync finds them all new. Otherwise only the rows that differ from the state are."""
        return self.full_resync or not self._state_exists

    def create(self) -> None:
        """Freeze what the run sends, with keys, fingerprints and change kinds: the rows that
        differ from the state (all of them when `frozen_all`), and the keys of the state's
        records that left the model (REMOVED when they are sent, else DROPPED: the state
        forgets them after a complete pass). An unchanged row is not written: a sync of a
        model that did not change writes no row. One pass over the model and the state; none
        over the state when it holds no record of the model (a first sync: every row is new,
        and the duplicate ids are found in the snapshot alone)."""
        w = self._w
        if self._state_exists and not self.store.holds(self.model):
            self._state_exists = False
        string = w.macro("type_string")
        fp = _fingerprint_sql(w, self._salt, self._mapping, self._clear)
        qid = self._id_sql() if self._id_column else fp
        cols = "".join(f", {w.quote(c)}" for c in self._columns)
        where = f" where {self._where}" if self._where else ""
        frozen = (
            f"select {qid} as __id, cast({qid} as {string}) as __rid, {fp} as __fp{cols}, 1 as __m "
            f"from {self.relation}{where}"
        )
        if not self._state_exists:
            # A text column, not the literal's own type: SQL Server's SELECT INTO (and some
            # CREATE TABLE AS) would make it char(3), too short for adopt()'s 'adopted'.
            new = f"cast('{ChangeKind.NEW}' as {string})"
            sql = f"select __id, __rid, __fp{cols}, {new} as __change from ({frozen}) m"
        else:
            sql = self._diff(frozen)
        w.drop_table(self.table)
        self.store.dialect.create_table_as(w, self.table, sql)

    def _id_sql(self) -> str:
        """SQL of a row's id: its id column's, or `parent::child` when ids have a parent
        column (a null or blank parent leaves the plain id; a null or blank child stays so,
        an invalid id)."""
        w = self._w
        assert self._id_column is not None  # metadata and segments: an id column
        qid = w.quote(self._id_column)
        if self._parent_column is None:
            return qid
        string = w.macro("type_string")
        child, parent = f"cast({qid} as {string})", f"cast({w.quote(self._parent_column)} as {string})"
        joined = w.macro("concat", fields=[parent, "'::'", child])
        alone = " or ".join(f"{v} is null or trim({v}) = ''" for v in (parent, child))
        return f"(case when {alone} then {child} else {joined} end)"

    def _diff(self, frozen: str) -> str:
        """The frozen rows against the state: a full join finds the records that left the
        model in the same pass (events keep no such rows: a left join)."""
        w = self._w
        cols = "".join(f", m.{w.quote(c)}" for c in self._columns)
        left = ChangeKind.REMOVED if self.departed else ChangeKind.DROPPED
        change = (
            f"case when m.__m is null then '{left}' when st.record_id is null then '{ChangeKind.NEW}' "
            f"when st.fingerprint <> m.__fp then '{ChangeKind.CHANGED}' else '{ChangeKind.SAME}' end"
        )
        join = "left join" if self.immutable else "full outer join"
        state = (
            f"select record_id, fingerprint from {self.store.state} "
            f"where model_id = {w.literal(self.model.unique_id)}"
        )
        diff = (
            f"select m.__id, coalesce(m.__rid, st.record_id) as __rid, m.__fp{cols}, {change} as __change "
            f"from ({frozen}) m {join} ({state}) st on st.record_id = m.__rid"
        )
        keep = "" if self.full_resync else f" where d.__change <> '{ChangeKind.SAME}'"
        return f"select * from ({diff}) d{keep}"

    @cached_property
    def _tally(self) -> tuple[dict[ChangeKind, int], set[str], int]:
        """Rows per change kind and the ids on more than one row: the frozen rows counted in
        the snapshot, the unchanged ones (not frozen) in one aggregate query over the model's
        ids, no fingerprint."""
        rows = self._w.query(f"select __change, count(*) from {self.table} group by __change")
        found = {ChangeKind(str(kind)): int(n) for kind, n in rows}
        counts = {kind: found.get(kind, 0) for kind in ChangeKind}
        if self.frozen_all or self.immutable:
            # Every row of an id is new, or none is (events: only new rows are sent): the
            # frozen rows hold every duplicate that matters.
            sql = f"select __id from {self.table} where __rid is not null group by __id having count(*) > 1"
            duplicates = [value for (value,) in self._w.query(sql)]
            if not self.frozen_all:
                sent = counts[ChangeKind.NEW] + counts[ChangeKind.CHANGED]
                counts[ChangeKind.SAME] = max(0, self._window_rows - sent)
        else:
            counts[ChangeKind.SAME], duplicates = self._unchanged_and_duplicates()
        return counts, _valid_ids(duplicates), sum(found.values())

    def _unchanged_and_duplicates(self) -> tuple[int, list]:
        """The model's rows grouped by frozen key: the rows of no frozen key are unchanged; a
        frozen key on more than one row is a duplicate id, its rows beyond the frozen ones
        unchanged."""
        w = self._w
        qid = self._id_sql()
        rid = f"cast({qid} as {w.macro('type_string')})"
        keys = (
            f"select __rid, __id, count(*) as __k from {self.table} where __change in ('{ChangeKind.NEW}', "
            f"'{ChangeKind.CHANGED}', '{ChangeKind.ADOPTED}') and __rid is not null group by __rid, __id"
        )
        sql = (
            f"select k.__id, k.__k, count(*) from {self.relation} m left join ({keys}) k on k.__rid = {rid} "
            f"where {qid} is not null group by k.__rid, k.__id, k.__k having k.__rid is null or count(*) > 1"
        )
        same, duplicates = 0, []
        for value, frozen, n in w.query(sql):
            if frozen is None:
                same += int(n)
            else:
                same += max(0, int(n) - int(frozen))
                duplicates.append(value)
        return same, duplicates

    def counts(self) -> dict[ChangeKind, int]:
        """Rows per change kind (DROPPED: records that left the model, not sent)."""
        return dict(self._tally[0])

    @property
    def frozen(self) -> int:
        """Rows written to the snapshot table."""
        return self._tally[2]

    def duplicate_ids(self) -> set[str]:
        """Ids on more than one row, found by the warehouse."""
        return set(self._tally[1])

    @cached_property
    def record_json(self) -> tuple[str, str] | None:
        """SQL of each row's record as JSON text and SQL of where that text is the record,
        when the warehouse writes the records (macros/payload.sql); None when Python builds
        them all (an adapter without the macro, a column only Python converts)."""
        spec, w = self._records, self._w
        if spec is None or spec.id_kind is None or self._id_column is None:
            return None
        if any(spec.kinds.get(c) is None for c in self._columns):
            return None
        fields = [
            {
                "column": w.quote(c),
                "kind": spec.kinds[c],
                "key": w.literal(json.dumps(self._mapping[c]) + ":"),
                "clear": c in self._clear,
            }
            for c in self._columns
        ]
        built = w.call_macro(
            "pendo_sync_record_json",
            id_key=w.literal("{" + json.dumps(spec.id_key) + ":"),
            id={"column": "__id", "kind": spec.id_kind},
            fields=fields,
            blank=w.literal(NOT_BLANK),
        )
        if not isinstance(built, Mapping):
            return None
        valid = str(built["valid"])
        if self.departed:  # a departed record's clear is built by Python
            valid = f"__change <> '{ChangeKind.REMOVED}' and ({valid})"
        return str(built["json"]), valid

    @property
    def shape(self) -> RowShape:
        """Where each part of the rows `chunks` gives sits."""
        return RowShape(tuple(self.fields), record_json=self.record_json is not None, change=self.departed)

    def chunks(self) -> Iterator[Sequence[tuple]]:
        """Rows to send (all of them on a full resync), in state-key order: (key, id, values...),
        or (key, id, record JSON, values...) when the warehouse writes the records, the values
        then null except on the rows whose JSON is null (Python builds those)."""
        string = self._w.macro("type_string")
        values = [
            f"cast({self._w.quote(c)} as {string})" if c in self._as_text else self._w.quote(c)
            for c in self._columns
        ]
        where = f"where {self.to_send('__change')} "
        change = ", __change" if self.departed else ""
        if self.record_json is None:
            cols = "".join(f", {v}" for v in values)
            return self._w.stream(f"select __rid, __id{cols}{change} from {self.table} {where}order by __rid")
        # The texts are made after the sort, as the rows stream out (a projection keeps its
        # input's order): sorting them would hold every record's text in memory at once.
        record, valid = self.record_json
        ordered = f"select * from {self.table} {where}order by __rid"
        rows = f"select *, case when {valid} then {record} end as __json from ({ordered}) s"
        cols = "".join(f", case when __json is null then {v} end" for v in values)
        return self._w.stream(f"select __rid, __id, __json{cols}{change} from ({rows}) r")

    def to_send(self, change: str) -> str:
        """SQL: whether a row whose change kind is `change` is sent (events: new ones only;
        every row but the dropped on a full resync)."""
        if self.immutable:
            return f"{change} = '{ChangeKind.NEW}'"
        if self.full_resync:
            return f"{change} <> '{ChangeKind.DROPPED}'"
        return f"{change} not in ('{ChangeKind.SAME}', '{ChangeKind.DROPPED}', '{ChangeKind.ADOPTED}')"

    def adopt(self, ids: Any) -> None:
        """Mark the new rows whose ids the table `ids` lists (its `__rid`) as held equal by
        Pendo already: the merge records them as confirmed, and they are not sent."""
        self._w.execute(
            f"update {self.table} set __change = '{ChangeKind.ADOPTED}' "
            f"where __change = '{ChangeKind.NEW}' and __rid in (select __rid from {ids})"
        )

    def drop(self) -> None:
        """Drop the snapshot table."""
        self._w.drop_table(self.table)
