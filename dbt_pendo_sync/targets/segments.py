"""Segments: a model's rows are a Pendo segment's members. The snapshot's new rows are added
and its departed rows (members no longer in the model) removed, one add and one remove
operation per call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..pendo.answers import BatchOutcome
from ..pendo.client import PendoClient
from ..records import InvalidValue, record_id
from ..vocab import ChangeKind

ADD, REMOVE = "add", "remove"


def build_membership(row: Sequence) -> tuple[str | None, dict | None, str | None]:
    """A snapshot row (state key, id, change kind) as `{"op": add|remove, "visitorId": id}`."""
    if row[-1] == ChangeKind.REMOVED:
        return row[0], {"op": REMOVE, "visitorId": row[0]}, None
    try:
        rid = record_id(row[1])
    except InvalidValue as exc:
        return None, None, str(exc)
    return rid, {"op": ADD, "visitorId": rid}, None


@dataclass
class SegmentSender:
    """Membership changes of one segment, in order from one thread (Pendo answers 409 to
    concurrent writes of a segment). Without an id yet, the first call creates the segment
    with its members (`created` then holds the new id)."""

    client: PendoClient
    name: str
    segment_id: str | None
    created: str | None = None
    concurrent: bool = False
    delivers: bool = True
    write_ahead: bool = False  # adding or removing a member twice is harmless

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        add = [r["visitorId"] for r in records if r["op"] == ADD]
        remove = [r["visitorId"] for r in records if r["op"] == REMOVE]
        if self.segment_id is not None:
            return self.client.patch_segment(self.segment_id, add, remove)
        # A new segment has no members to remove: the state of its model was empty.
        self.segment_id = self.created = self.client.create_segment(self.name, add)
        return BatchOutcome(confirmed=add)
