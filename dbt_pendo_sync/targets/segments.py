"""Segments: a model's rows are a Pendo segment's members. The segment block as a SegmentSpec,
one model per segment name; the snapshot's new rows are added and its departed rows (members
no longer in the model) removed, one add and one remove operation per call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..dbt.artifacts import ModelNode
from ..engine import Channel
from ..errors import ConfigError, Problem, SegmentGoneError, problems_of
from ..exposures import Exposure
from ..ledger.snapshot import ModelSnapshot, SnapshotColumns
from ..ledger.store import Ledger
from ..pendo.answers import BatchOutcome
from ..pendo.client import PendoClient
from ..records import InvalidValue, record_id
from ..report_events import Note, RunWarning
from ..results import ModelResult
from ..rows import RowShape
from ..schemas import load_schema
from ..specbase import ModelMessages, find_column, identity, state_schema_problems
from ..vocab import ChangeKind
from ..wording import exact, join, n_words, undelivered_words
from .base import Built, Capabilities, FoundColumns, ModelRun, ModelSink, RecordBuilder, Target, TargetSpec

ADD, REMOVE = "add", "remove"
OBJECT = "segment"
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
    object: str = OBJECT
    batch_size: int = SEGMENT_BATCH

    @property
    def id_key(self) -> str:
        """The payload key of a member's id."""
        return "visitorId"

    @property
    def label(self) -> str:
        """The segment's name, which the words name."""
        return self.segment

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


def owner_problems(models: Iterable[ModelNode]) -> list[Problem]:
    """Two models that name one segment: each would remove the other's members, and a
    run of one alone would adopt the other's segment. `models` are all of the project's
    (whatever a run selects). Names compare without case, as a person reads Pendo's list
    of segments (Pendo's API keeps no name unique)."""
    first: dict[str, tuple[ModelNode, str]] = {}
    problems = []
    for model in models:
        block = model.pendo_block()
        if not isinstance(block, dict) or block.get("object") != OBJECT:
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
    return problems


class MembershipBuilder(RecordBuilder):
    """Snapshot rows (state key, id, change kind) as `{"op": add|remove, "visitorId": id}`."""

    def __init__(self, shape: RowShape) -> None:
        self.shape = shape

    def build(self, row: Sequence[Any]) -> Built:
        shape = self.shape
        if shape.change_of(row) == ChangeKind.REMOVED:
            return shape.key_of(row), {"op": REMOVE, "visitorId": shape.key_of(row)}, None
        try:
            rid = record_id(shape.id_of(row))
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
    delivers: bool = True

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        add = [r["visitorId"] for r in records if r["op"] == ADD]
        remove = [r["visitorId"] for r in records if r["op"] == REMOVE]
        if self.segment_id is not None:
            return self.client.patch_segment(self.segment_id, add, remove)
        # A new segment has no members to remove: the state of its model was empty.
        self.segment_id = self.created = self.client.create_segment(self.name, add)
        return BatchOutcome(confirmed=add)


class SegmentsSink(ModelSink):
    """One segment model's sync. The segment's id is read and kept inside the model's lock:
    the id kept with the state, else the API-made segment of the block's name (adopted, and
    said so), else none (the first call creates the segment). A run that waited for the lock
    finds the id the run before it kept, so two runs of a new model make one segment. A
    segment deleted in Pendo is created again with every member, once per run."""

    def __init__(self, spec: SegmentSpec, run: ModelRun) -> None:
        self.spec = spec
        self.run = run
        self.gone: str | None = None  # the id of a segment deleted in Pendo: not to be used again
        self.known: str | None = None
        self.segment_id: str | None = None
        self.sender: SegmentSender | None = None

    def read(self) -> SnapshotColumns:
        found = {c.written: c.name for c in self.run.warehouse.columns(self.run.node)}
        id_column = found[self.spec.member_column(list(found))]
        return SnapshotColumns(kind=self.spec.object, id_column=id_column, mapping={}, departed=True)

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        return MembershipBuilder(snapshot.shape)

    def before(self, ledger: Ledger) -> Channel:
        delivery, spec, node = self.run.delivery, self.spec, self.run.node
        known = ledger.target_id(node) if delivery.state_exists(ledger) else None
        self.known = None if known == self.gone else known
        self.segment_id = self.known or self._api_segment()
        if self.known is None and delivery.sends:
            ledger.forget(node)  # members recorded for a segment not found: start over
        if self.known is None and self.segment_id is not None:
            self.run.result.adopted_segment_id = self.segment_id
            self.run.fire(
                RunWarning(
                    f"{spec.model}: {'adopting' if delivery.sends else 'would adopt'} segment "
                    f"'{spec.segment}' ({self.segment_id}) created elsewhere: this model's state knows "
                    "no segment, and Pendo has one of this name made through the API. The model's "
                    "visitors are added to it; members it has that the model lacks stay"
                )
            )
        self.sender = None
        return delivery.channel(SEGMENTS.capabilities, self._sender, self.run.result)

    def _api_segment(self) -> str | None:
        """The id of the segment of the block's name among those created through the API
        (None when there is none, or when Pendo cannot be asked)."""
        reader = self.run.delivery.reader
        return None if reader is None else reader.api_segments().get(self.spec.segment)

    def _sender(self, client: PendoClient) -> SegmentSender:
        self.sender = SegmentSender(client, self.spec.segment, self.segment_id)
        return self.sender

    def after(self, ledger: Ledger) -> None:
        if not self.run.delivery.sends:
            return
        node = self.run.node
        if self.sender is not None and self.sender.created:
            ledger.keep_target_id(node, self.sender.created)
            self.run.fire(
                Note(f"{self.spec.model}: created segment '{self.spec.segment}' ({self.sender.created})")
            )
        elif self.segment_id is not None and self.known is None:
            ledger.keep_target_id(node, self.segment_id)

    def start_over(self, error: Exception) -> bool:
        """A segment deleted in Pendo: created again with every member of the model, once."""
        if not isinstance(error, SegmentGoneError) or self.gone is not None:
            return False
        self.gone = error.segment_id
        self.run.fire(
            RunWarning(
                f"{self.spec.model}: segment '{self.spec.segment}' ({error.segment_id}) no longer exists "
                "in Pendo: it is created again with every member of the model"
            )
        )
        return True

    def finished(self) -> None:
        c, spec = self.run.result.counts, self.spec
        if c.removed and c.removed == c.unchanged + c.changed + c.removed and not c.new:
            self.run.fire(Note(f"{spec.model}: the model is empty: segment '{spec.segment}' emptied"))
        elif self.segment_id is None and not c.new:
            self.run.fire(Note(f"{spec.model}: the model is empty: segment '{spec.segment}' not created"))


class SegmentsTarget(Target):
    """A segment kept equal to the model's visitors (`object: segment`)."""

    objects = (OBJECT,)
    block_schema = load_schema("pendo_segment_block.schema.json")
    # Pendo answers 409 to concurrent writes of a segment; adding or removing twice is harmless.
    capabilities = Capabilities(concurrent=False, write_ahead=False)
    removals = ("remove", "members")

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> SegmentSpec:
        return segment_spec(model, block)

    def check(self, spec: TargetSpec, found: FoundColumns) -> list[Problem]:
        return problems_of(lambda: cast(SegmentSpec, spec).member_column(list(found.types)))

    def mapping(self, spec: TargetSpec) -> dict[str, str]:
        mine = cast(SegmentSpec, spec)
        return {mine.id_column: f"a member of segment '{mine.segment}'"}

    def exposure(self, kind: str) -> Exposure:
        return Exposure(
            "pendo_segments", "Pendo segments", "Pendo segments, kept equal to the models' visitors"
        )

    def describe(self, spec: TargetSpec) -> str:
        return " ".join(
            f"{spec.model}: each {column} is {target}." for column, target in self.mapping(spec).items()
        )

    def project_problems(self, models: Iterable[ModelNode]) -> list[Problem]:
        return owner_problems(models)

    def sink(self, spec: TargetSpec, run: ModelRun) -> SegmentsSink:
        return SegmentsSink(cast(SegmentSpec, spec), run)

    def words(self, result: ModelResult, dry_run: bool, label: str | None, zeros: bool) -> str:
        """`segment 'VIPs' (12 members): 3 added, 1 removed`; `3 to add, 1 to remove; 3 done, 1
        failed` where not every change was confirmed."""
        c = result.counts
        name = f"segment '{label}'" if label else "segment"
        head = f"{name} ({c.rows:,} member{'' if c.rows == 1 else 's'}): "
        adds = max(0, result.to_send - c.removed)  # invalid ids among them are never sent
        invalid = n_words(c.invalid, "invalid", zeros=False)
        if dry_run:
            return head + join(f"{adds:,} would add", f"{c.removed:,} would remove", invalid)
        if exact(result):
            return head + join(f"{c.sent - c.removed:,} added", f"{c.removed:,} removed", invalid)
        done = join(f"{c.updated:,} done", *undelivered_words(c, zeros, missing=False))
        return head + join(f"{adds:,} to add", f"{c.removed:,} to remove") + "; " + done

    def removal_note(self, result: ModelResult, dry_run: bool, label: str | None) -> str | None:
        if result.counts.sent or result.counts.removed:
            return self.words(result, dry_run, label, zeros=False)
        return None


SEGMENTS = SegmentsTarget()
