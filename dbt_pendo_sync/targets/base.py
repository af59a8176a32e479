"""What a Pendo target is to the rest of dbt-pendo-sync: the protocols only.

A target (metadata, events, segments, ...) takes the blocks of one or more `object:` values
(registry.py maps them). It makes a spec from a block, checks a model's columns (one function,
used by `sync` and `validate`), and for each model of a run gives a sink that owns the model's
lifecycle: what the snapshot reads, how a row becomes a record, the sender, and what happens
inside the model's lock before and after the send. Its capabilities are one record, and it
says what it did in its own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..dbt.artifacts import ModelNode
from ..errors import Problem
from ..exposures import Exposure
from ..records import Record
from ..results import ModelResult
from ..rows import RowShape

if TYPE_CHECKING:
    from ..dbt.warehouse import Warehouse
    from ..delivery import Delivery
    from ..engine import Channel
    from ..ledger.snapshot import ModelSnapshot, SnapshotColumns
    from ..ledger.store import Ledger
    from ..report_events import Fire


@dataclass(frozen=True)
class Capabilities:
    """What the generic pipeline needs to know of a target (as dlt's capabilities context)."""

    concurrent: bool  # batches may go out from several threads at once
    write_ahead: bool  # a call must not repeat (an event sent twice counts twice): journaled first
    immutable_rows: bool = False  # a row is sent once; a changed row is counted, never resent
    needs_key: bool = True  # calls go with the integration key
    needs_track_secret: bool = False  # calls go with the Track Event shared secret


class TargetSpec(Protocol):
    """A model's validated block, as every target's spec shows it."""

    @property
    def model(self) -> str: ...
    @property
    def unique_id(self) -> str: ...
    @property
    def properties_file(self) -> str: ...
    @property
    def object(self) -> str: ...
    @property
    def id_column(self) -> str: ...
    @property
    def id_key(self) -> str:
        """The name of a record's id in payloads, samples and the rejected file."""

    @property
    def batch_size(self) -> int: ...
    @property
    def state_schema(self) -> str | None: ...
    @property
    def label(self) -> str | None:
        """What the target's words name beside the model (a segment's name), if anything."""

    def where(self) -> str: ...
    def problem(self, what: str, fix: str) -> Problem: ...


Built = tuple[str | None, Record | None, str | None]  # (id, record, None) or (id?, None, why invalid)


class RecordBuilder(Protocol):
    """Snapshot rows made into what is sent."""

    shape: RowShape

    def build(self, row: Sequence[Any]) -> Built:
        """One row: (id, record, None), or (id or None, None, why the row is invalid)."""

    def many(self, rows: Sequence[Sequence[Any]]) -> tuple[list[str], list[Record]] | None:
        """Rows built at once, when every one is valid; None builds them one by one."""
        return None

    def values(self, row: Sequence[Any]) -> Sequence[Any]:
        """The row's id and values as read (for the rejected rows' file)."""
        return (self.shape.id_of(row), *self.shape.values_of(row))


@dataclass(frozen=True)
class FoundColumns:
    """What `validate` found for a model: its relation's columns {written name: type}, Pendo's
    field schemas when read {(kind, group): {field: type}} (a kind Pendo refused is absent),
    and whether fields Pendo lacks would be created (--create-fields)."""

    types: Mapping[str, str]
    pendo_fields: Mapping[tuple[str, str], Mapping[str, str]] | None
    create_fields: bool


@dataclass(frozen=True)
class ReadBackField:
    """One field a model writes, as reading Pendo back compares it."""

    column: str  # its column's real name
    group: str  # its metadata group: custom or agent
    field: str
    convert: Callable[[Any], Any]  # a non-null value as a sync sends it (InvalidValue: never sent)
    clears: bool  # a null is sent (nulls: clear), so it is compared; else a null is left alone
    pendo_type: str | None


@dataclass(frozen=True)
class ReadBack:
    """What a model's records are in Pendo: the kind read back, the id column's real name,
    and the fields."""

    kind: str
    id_column: str
    fields: tuple[ReadBackField, ...]


@dataclass
class ModelRun:
    """What a sink works with for one model of a run."""

    node: ModelNode
    warehouse: Warehouse
    delivery: Delivery
    fire: Fire
    result: ModelResult


class ModelSink(Protocol):
    """One model's sync, owned by its target (as a meltano sink owns its stream)."""

    def read(self) -> SnapshotColumns:
        """Check the model's columns (ConfigError naming every problem) and say what the
        snapshot reads; before the model's lock."""

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        """How the snapshot's rows become records."""

    def before(self, ledger: Ledger) -> Channel:
        """Inside the lock, before the snapshot: read what the send needs; the sender."""

    def frozen(self, snapshot: ModelSnapshot) -> None:
        """Inside the lock, once the snapshot is frozen and before it is counted and sent
        (metadata adopts what Pendo holds equal already, `sync --adopt`)."""
        return None

    def after(self, ledger: Ledger) -> None:
        """Inside the lock, after the send (also one that stopped early): record what it made."""

    def start_over(self, error: Exception) -> bool:
        """Whether the model is synced again from the start after this error (once)."""
        return False

    def finished(self) -> None:
        """After a send that ended well: notes on what it made."""


class Target(Protocol):
    """One kind of Pendo target."""

    objects: tuple[str, ...]  # the `object:` values of the blocks it takes
    block_schema: Mapping[str, Any]  # the JSON Schema of its block
    capabilities: Capabilities
    removals: tuple[str, str] = ("clear", "records")  # (verb, what) of --max-removals' message

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> TargetSpec:
        """The spec of a block valid under `block_schema`; ConfigError naming every problem."""

    def check(self, spec: TargetSpec, found: FoundColumns) -> list[Problem]:
        """Every problem of the model's columns and, when known, Pendo's fields: `validate`'s
        view of the check the sink makes."""

    def field_schemas(self, spec: TargetSpec) -> Sequence[tuple[str, str]]:
        """The Pendo field schemas (kind, group) its sync reads."""
        return ()

    def mapping(self, spec: TargetSpec) -> dict[str, str]:
        """{column: where it goes in Pendo} as configured (`ls`, exposures)."""

    def exposure(self, kind: str) -> Exposure:
        """The dbt exposure the models of an object (one of `objects`) feed."""

    def describe(self, spec: TargetSpec) -> str:
        """What the model writes to Pendo, a sentence for its exposure's description."""

    def read_back(self, spec: TargetSpec, run: ModelRun) -> ReadBack | None:
        """What Pendo holds of the model's records, to compare (audit, adopt); None when the
        target's records cannot be read back. Its columns are checked as a sync checks them."""
        return None

    def project_problems(self, models: Iterable[ModelNode]) -> list[Problem]:
        """Problems between the project's models (all of them, whatever is selected)."""
        return []

    def sink(self, spec: TargetSpec, run: ModelRun) -> ModelSink:
        """The model's sync."""

    def words(self, result: ModelResult, dry_run: bool, label: str | None, zeros: bool) -> str:
        """What the model did, in the target's words."""

    def notes(self, result: ModelResult) -> list[str]:
        """What the counts do not say (left out, and why)."""
        return []

    def removal_note(self, result: ModelResult, dry_run: bool, label: str | None) -> str | None:
        """The line below the summary's table on records removed, if any."""
        return None
