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
from .compare import Judged, Source, compare_all
from .copy import IdList, PendoCopy


def adopt(snapshot: ModelSnapshot, node: ModelNode, read: ReadBack, reader: PendoClient) -> int:
    """Mark the snapshot's new rows that Pendo holds equal as adopted; how many."""
    ledger, w = snapshot.store, snapshot.store.warehouse
    copy, equal = PendoCopy(ledger, node, read.fields), IdList(ledger, node, "adopt_")
    copy.create()
    try:
        copy.add(read_values(reader, read.kind, [(f.group, f.field) for f in read.fields]))
        new = f"(select * from {snapshot.table} where __change = '{ChangeKind.NEW}')"
        frozen = replace(read, id_column="__id")  # the snapshot keeps the model's columns
        string, timestamp = w.macro("type_string"), w.macro("type_timestamp")
        none = (
            f"select cast(null as {string}) as record_id, cast(null as {timestamp}) as synced_at where 1 = 0"
        )
        compare_all(w, copy, frozen, Source(new, none, 0), Judged(equal=equal))
        if equal.count:
            equal.load_spooled()
            snapshot.adopt(equal.table)
    finally:
        copy.drop()
        equal.drop()
    return equal.count
