"""`sync --adopt`: the new rows of a frozen snapshot that Pendo holds equal already (moving
from another tool, or a state that was lost) are marked adopted: the ledger records them as
synced, and only the differences are sent."""

from __future__ import annotations

from dataclasses import replace

from ..dbt.artifacts import ModelNode
from ..ledger.snapshot import ModelSnapshot
from ..pendo.client import PendoClient
from ..pendo.reading import read_values
from ..targets.base import ReadBack
from ..vocab import ChangeKind
from .compare import compare, compare_sql
from .copy import PendoCopy


def adopt(snapshot: ModelSnapshot, node: ModelNode, read: ReadBack, reader: PendoClient) -> int:
    """Mark the snapshot's new rows that Pendo holds equal as adopted; how many."""
    ledger, w = snapshot.store, snapshot.store.warehouse
    copy = PendoCopy(ledger, node, read.fields)
    copy.create()
    try:
        copy.add(read_values(reader, read.kind, [(f.group, f.field) for f in read.fields]))
        new = f"(select * from {snapshot.table} where __change = '{ChangeKind.NEW}')"
        frozen = replace(read, id_column="__id")  # the snapshot keeps the model's columns
        string, timestamp = w.macro("type_string"), w.macro("type_timestamp")
        none = (
            f"select cast(null as {string}) as record_id, cast(null as {timestamp}) as synced_at where 1 = 0"
        )
        equal: list[str] = []
        compare(w.stream(compare_sql(w, copy, frozen, new, none, 0)), read.fields, [], equal)
    finally:
        copy.drop()
    snapshot.adopt(equal)
    return len(equal)
