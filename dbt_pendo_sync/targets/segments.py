"""Segments: a model's rows are a Pendo segment's members. The segment block as a SegmentSpec,
one model per segment name; the snapshot's new rows are added and its departed rows (members
no longer in the model) removed, one add and one remove operation per call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..dbt.artifacts import ModelNode
from ..errors import ConfigError, Problem
from ..pendo.answers import BatchOutcome
from ..pendo.client import PendoClient
from ..records import InvalidValue, record_id
from ..specbase import ModelMessages, find_column, identity, state_schema_problems
from ..vocab import ChangeKind, PendoObject

ADD, REMOVE = "add", "remove"
SEGMENT_BATCH = 1000  # ids per add or remove operation (at most one of each per call)


@dataclass(frozen=True)
class SegmentSpec(ModelMessages):
    """A Pendo segment kept equal to the model's visitors (`object: segment`)."""

    model: str
    unique_id: str
    properties_file: str
    segment: str
    id_column: str
    state_schema: str | None = None
    object: PendoObject = PendoObject.SEGMENT
    batch_size: int = SEGMENT_BATCH

    @property
    def id_key(self) -> str:
        """The payload key of a member's id."""
        return "visitorId"

    def member_column(self, columns: Sequence[str]) -> str:
        """The relation's column that `id_column` names (exactly, else case-insensitively, as
        warehouses fold unquoted names); ConfigError when there is none."""
        found = find_column(self.id_column, columns)
        if found is not None:
            return found
        raise ConfigError(
            problems=[
                self.problem(
                    f"id_column '{self.id_column}' is not a column of the built relation "
                    f"(columns: {', '.join(columns)})",
                    "fix the pendo block or rebuild the model",
                )
            ]
        )


def segment_spec(model: ModelNode, block: Mapping[str, Any]) -> SegmentSpec:
    """The SegmentSpec of a valid segment block; ConfigError naming every problem of its values."""
    segment = SegmentSpec(
        **identity(model),
        segment=block["segment"],
        id_column=block["id_column"],
        state_schema=block.get("state_schema"),
    )
    problems = state_schema_problems(segment, segment.state_schema)
    if problems:
        raise ConfigError(problems=problems)
    return segment


def check_segment_owners(models: Iterable[ModelNode]) -> None:
    """Stop when two models name one segment: each would remove the other's members, and a
    run of one alone would adopt the other's segment. `models` are all of the project's
    (whatever a run selects). Names compare without case, as a person reads Pendo's list
    of segments (Pendo's API keeps no name unique)."""
    first: dict[str, tuple[ModelNode, str]] = {}
    problems = []
    for model in models:
        block = model.pendo_block()
        if not isinstance(block, dict) or block.get("object") != PendoObject.SEGMENT:
            continue
        name = block.get("segment")
        if not isinstance(name, str) or not name.strip():
            continue  # an invalid block: its own problem, where it is validated
        other, other_name = first.setdefault(name.strip().casefold(), (model, name))
        if other is not model:
            spelled = "" if other_name == name else f" (as '{other_name}')"
            problems.append(
                Problem(
                    model.name,
                    model.properties_file,
                    f"segment '{name}' is also the segment of model {other.name} "
                    f"({other.properties_file}){spelled}: each would remove the other's members, "
                    "whichever of them a run selects",
                    "give each model its own segment name (or union the models into one)",
                )
            )
    if problems:
        raise ConfigError(
            "invalid pendo configuration:\n" + "\n".join(str(p) for p in problems), problems=problems
        )


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
