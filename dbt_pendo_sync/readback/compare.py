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
from .copy import PendoCopy
from .same import same

EXAMPLES = 5  # per field


@dataclass
class FieldTally:
    """One field's records: equal, different, and a few of the different ones."""

    equal: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


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


def compare_sql(w: Warehouse, copy: PendoCopy, read: ReadBack, relation: str, state: str, settle: int) -> str:
    """The model's rows with their copy in Pendo and whether they were synced within the
    last `settle` minutes (`state`: SQL of the model's record_id, synced_at): (id as `__sid`,
    in Pendo, recent, the model's values..., Pendo's JSON texts...)."""
    string = w.macro("type_string")
    rid = f"cast(m.{w.quote(read.id_column)} as {string})"
    since = w.macro(
        "dateadd",
        datepart="minute",
        interval=-int(settle),
        from_date_or_timestamp=w.macro("current_timestamp"),
    )
    mine = "".join(f", m.{w.quote(f.column)}" for f in read.fields)
    held = "".join(f", p.v{i}" for i in range(len(read.fields)))
    return (
        f"select {rid} as __sid, p.__rid, case when st.synced_at > {since} then 1 else 0 end{mine}{held} "
        f"from {relation} m left join {copy.table} p on p.__rid = {rid} left join ({state}) st "
        f"on st.record_id = {rid} where m.{w.quote(read.id_column)} is not null"
    )


def compare(
    rows: Iterator[Sequence[tuple]],
    fields: Sequence[ReadBackField],
    drifted: list[str],
    equal: list[str] | None = None,
) -> Tally:
    """Tally the rows (compare_sql's); the ids of the drifted records go to `drifted`, and
    those of the equal ones to `equal` when given."""
    tally = Tally(fields={f.field: FieldTally() for f in fields})
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
                drifted.append(row[0])
            else:
                tally.compared += 1
                tally.equal += 1
                if equal is not None:
                    equal.append(row[0])
    return tally


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
