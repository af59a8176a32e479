"""`sync --adopt`: the new rows of a frozen snapshot that Pendo holds equal already (moving
from another tool, or a state that was lost) are marked adopted: the ledger records them as
synced, and only the differences are sent."""

from __future__ import annotations

from dataclasses import replace

from ..dbt.artifacts import ModelNode
from ..ledger.snapshot import ModelSnapshot
from ..pendo.client import PendoClient
from ..targets.base import ReadBack
from ..vocab import ChangeKind
from .compare import Judged, Source, compare_all, no_state
from .copy import IdList, PendoCopy


def adopt(snapshot: ModelSnapshot, node: ModelNode, read: ReadBack, reader: PendoClient) -> int:
    """Mark the snapshot's new rows that Pendo holds equal as adopted; how many."""
    ledger, w = snapshot.store, snapshot.store.warehouse
    copy, equal = PendoCopy(ledger, node, read.fields), IdList(ledger, node, "adopt_")
    copy.create()
    try:
        copy.read(reader, read.kind)
        new = f"(select * from {snapshot.table} where __change = '{ChangeKind.NEW}')"
        frozen = replace(read, id_column="__id")  # the snapshot keeps the model's columns
        compare_all(w, copy, frozen, Source(new, no_state(w), 0), Judged(equal=equal))
        if equal.count:
            equal.load_spooled()
            snapshot.adopt(equal.table)
    finally:
        copy.drop()
        equal.drop()
    return equal.count
