"""A model's rows against Pendo's copy, row by row as the warehouse streams them: per field
equal or different (with a few examples), records absent in Pendo, and records synced too
recently to judge (Pendo shows a write after its processing)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dbt.warehouse import Warehouse
from ..records import InvalidValue, record_id
from ..targets.base import ReadBack, ReadBackField
from .copy import IdList, IdRange, PendoCopy
from .same import same

EXAMPLES = 5  # per field


@dataclass
class FieldTally:
    """One field's records: equal, different, and a few of the different ones."""

    equal: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """The model's side of a comparison: its relation, and SQL of its state rows
    (record_id, synced_at) with the settle time that makes a record recent."""

    relation: str
    state: str
    settle_minutes: int


@dataclass(frozen=True)
class Judged:
    """Where a comparison lists the ids it judged drifted, or equal (each optional)."""

    drifted: IdList | None = None
    equal: IdList | None = None


@dataclass
class Tally:
    """A model's records compared with Pendo."""

    records: int = 0  # rows with an id
    compared: int = 0  # in Pendo and synced longer ago than the settle time (or never by us)
    equal: int = 0  # compared, every field equal
    drifted: int = 0  # compared, some field different
    absent: int = 0  # not in Pendo
    recent: int = 0  # synced within the settle time: not judged
    fields: dict[str, FieldTally] = field(default_factory=dict)

    @classmethod
    def of(cls, fields: Sequence[ReadBackField]) -> Tally:
        """An empty tally of these fields."""
        return cls(fields={f.field: FieldTally() for f in fields})


def compare_sql(w: Warehouse, copy: PendoCopy, read: ReadBack, source: Source, part: IdRange) -> str:
    """The model's rows of ids in the range `part`, with their copy in Pendo and whether they
    were synced within the settle time (each side cut to the range before it is joined): (id
    as `__sid`, in Pendo, recent, the model's values..., Pendo's JSON texts...)."""
    string = w.macro("type_string")
    rid = f"cast(m.{w.quote(read.id_column)} as {string})"
    since = w.macro(
        "dateadd",
        datepart="minute",
        interval=-int(source.settle_minutes),
        from_date_or_timestamp=w.macro("current_timestamp"),
    )
    mine = "".join(f", m.{w.quote(f.column)}" for f in read.fields)
    held = "".join(f", p.v{i}" for i in range(len(read.fields)))
    return (
        f"select {rid} as __sid, p.__rid, case when st.synced_at > {since} then 1 else 0 end{mine}{held} "
        f"from {source.relation} m "
        f"left join (select * from {copy.table} where {_within(w, '__rid', part)}) p "
        f"on p.__rid = {rid} "
        f"left join (select * from ({source.state}) s where {_within(w, 's.record_id', part)}) st "
        f"on st.record_id = {rid} "
        f"where m.{w.quote(read.id_column)} is not null and {_within(w, rid, part)}"
    )


def _within(w: Warehouse, expression: str, part: IdRange) -> str:
    lo, hi = part
    bounds = ([] if lo is None else [f"{expression} > {w.literal(lo)}"]) + (
        [] if hi is None else [f"{expression} <= {w.literal(hi)}"]
    )
    return " and ".join(bounds) or "1 = 1"


def no_state(w: Warehouse) -> str:
    """SQL of state rows (record_id, synced_at) that has none: a model never synced."""
    string, timestamp = w.macro("type_string"), w.macro("type_timestamp")
    return f"select cast(null as {string}) as record_id, cast(null as {timestamp}) as synced_at where 1 = 0"


def compare_all(w: Warehouse, copy: PendoCopy, read: ReadBack, source: Source, judged: Judged) -> Tally:
    """The model's rows against Pendo's copy, a range of ids at a time (PendoCopy.ranges)."""
    tally = Tally.of(read.fields)
    for part in copy.ranges():
        compare(w.stream(compare_sql(w, copy, read, source, part)), read.fields, tally, judged)
    return tally


def compare(
    rows: Iterator[Sequence[tuple]], fields: Sequence[ReadBackField], tally: Tally, judged: Judged
) -> None:
    """Tally the rows (compare_sql's); the ids of the drifted and of the equal records go to
    `judged`'s lists, where it has them."""
    width = len(fields)
    for chunk in rows:
        for row in chunk:
            tally.records += 1
            if row[1] is None:
                tally.absent += 1
            elif row[2]:
                tally.recent += 1
            elif _differs(row, fields, width, tally):
                tally.compared += 1
                tally.drifted += 1
                if judged.drifted is not None:
                    judged.drifted.add(row[0])
            else:
                tally.compared += 1
                tally.equal += 1
                if judged.equal is not None:
                    judged.equal.add(row[0])


def _differs(row: tuple, fields: Sequence[ReadBackField], width: int, tally: Tally) -> bool:
    """Whether some field of the record differs (each field counted)."""
    differs = False
    for i, f in enumerate(fields):
        value, text = row[3 + i], row[3 + width + i]
        held = None if text is None else json.loads(text)
        if value is None and not f.clears:
            continue  # nulls: skip leaves Pendo's value alone
        try:
            sent = None if value is None else f.convert(value)
        except InvalidValue:
            continue  # never sent: a sync leaves it alone as well
        counts = tally.fields[f.field]
        if same(sent, held, f.pendo_type):
            counts.equal += 1
            continue
        differs = True
        counts.different += 1
        if len(counts.examples) < EXAMPLES:
            counts.examples.append({"id": _id(row[0]), "warehouse": sent, "pendo": held})
    return differs


def _id(value: Any) -> str:
    try:
        return record_id(value)
    except InvalidValue:
        return str(value)
