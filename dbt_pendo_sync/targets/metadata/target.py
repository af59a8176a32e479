"""Visitor and account metadata as a target: the block's columns checked against the
relation and Pendo's fields (by `sync` and `validate` alike), what the snapshot reads and
fingerprints, the records and their sender, and its words for the summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ...dbt.artifacts import ModelNode
from ...engine import Channel
from ...errors import ConfigError, Problem
from ...exposures import Exposure, mapping_sentence
from ...ledger.snapshot import ModelSnapshot, RecordSQL, SnapshotColumns
from ...ledger.store import Ledger
from ...pendo.client import PendoClient
from ...pendo.fields import Converter, refused_column, warehouse_id_kind
from ...pendo.sender import Sender
from ...readback.adopt import adopt
from ...report_events import Debug, RunWarning
from ...results import ModelResult
from ...schemas import load_schema
from ...specbase import find_column
from ...vocab import OnRemove
from ...wording import clears, default_words
from ..base import (
    Capabilities,
    FoundColumns,
    ModelRun,
    ModelSink,
    ReadBack,
    ReadBackField,
    RecordBuilder,
    Target,
    TargetSpec,
)
from .fieldcheck import field_problems, missing_field_problems, read_as_text, unsendable, unsendable_problems
from .records import MetadataBuilder, MetadataSender
from .spec import OBJECTS, MetadataSpec, metadata_spec

# Why --adopt adopted nothing: a dry run without the key cannot read Pendo's values.
NO_READER = "set PENDO_INTEGRATION_KEY to read them, or leave --adopt out (every new row is sent)"


@dataclass(frozen=True)
class ColumnCheck:
    """The block against the relation's columns and Pendo's fields: the id column (and the
    parent account column, when ids are parent::child), the mapping {column: field} of the
    columns that match, the fields Pendo lacks {field: type to create it with}, and the
    problems that stop a sync."""

    id_column: str | None
    mapping: dict[str, str]
    missing: dict[str, str]
    problems: list[Problem]
    parent_column: str | None = None


def check_columns(
    spec: MetadataSpec,
    column_types: Mapping[str, str],
    pendo_types: Mapping[str, str] | None,
    create_fields: bool,
) -> ColumnCheck:
    """The one check of a metadata model's columns (`pendo_types`: None when unknown); the
    missing fields are problems unless they are to be created (custom fields only: agent
    fields are Pendo's own)."""
    id_column, mapping, problems = spec.match_columns(list(column_types))
    parent = spec.parent_account_id_column
    parent_column = find_column(parent, column_types) if parent else None
    missing: dict[str, str] = {}
    if pendo_types is not None:
        usable = {c: f for c, f in mapping.items() if MetadataSpec.usable_field(f)}
        conflicts, missing = field_problems(spec, usable, column_types, pendo_types)
        problems += conflicts
        if missing and not (create_fields and spec.group == "custom"):
            problems += missing_field_problems(spec, usable, missing)
    return ColumnCheck(id_column, mapping, missing, problems, parent_column)


@dataclass(frozen=True)
class Columns:
    """A model's columns resolved against its relation and Pendo's fields, once per run.
    Columns go by their written names (warehouse.WarehouseColumn); `real` gives the names
    the SQL quotes."""

    id_column: str
    mapping: dict[str, str]  # {column: Pendo field}
    types: dict[str, str]  # {column: the adapter's type}
    pendo_types: dict[str, str] | None  # {field: Pendo's type}; None when unknown (a preview)
    real: dict[str, str]  # {column: its real name in the warehouse}
    parent_column: str | None = None  # ids are parent::child, the parent from this column


class MetadataSink(ModelSink):
    """One metadata model's sync."""

    def __init__(self, spec: MetadataSpec, run: ModelRun) -> None:
        self.spec = spec
        self.run = run
        self.columns: Columns | None = None

    def read(self) -> SnapshotColumns:
        self.columns = self.checked_columns()
        return _snapshot_columns(self.spec, self.columns)

    def checked_columns(self) -> Columns:
        """The model's columns, checked against Pendo's fields before any write: problems
        stop this model; missing fields are created when asked."""
        spec, delivery = self.spec, self.run.delivery
        found = self.run.warehouse.columns(self.run.node)
        types = {c.written: c.data_type for c in found}
        pendo_types = delivery.field_types(spec.kind, spec.group)
        creates = delivery.options.create_fields or spec.create_fields
        checked = check_columns(spec, types, pendo_types, creates)
        if checked.problems or checked.id_column is None:
            raise ConfigError(problems=checked.problems)
        if pendo_types is not None and checked.missing:
            delivery.create_fields(spec.kind, checked.missing)
            pendo_types = delivery.field_types(spec.kind, spec.group)
        real = {c.written: c.name for c in found}
        return Columns(checked.id_column, checked.mapping, types, pendo_types, real, checked.parent_column)

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        assert self.columns is not None  # read() comes first
        shape = snapshot.shape
        self.run.result.records_built_by = "warehouse" if shape.record_json else "python"
        return MetadataBuilder(self.spec.id_key, shape, snapshot.clear, _converters(self.spec, self.columns))

    def before(self, ledger: Ledger) -> Channel:
        return self.run.delivery.channel(METADATA.capabilities, self.sender, self.run.result)

    def sender(self, client: PendoClient) -> Sender:
        """The model's sender, for the client its calls go through."""
        spec = self.spec
        return MetadataSender(
            client, spec.kind, spec.id_key, self.run.delivery.options.create_missing, spec.group
        )

    def frozen(self, snapshot: ModelSnapshot) -> None:
        """With --adopt, the new rows Pendo holds equal already are adopted, not sent."""
        delivery = self.run.delivery
        if not delivery.options.adopt or self.columns is None:
            return
        if delivery.reader is None:
            self.run.fire(RunWarning(f"{self.spec.model}: --adopt reads Pendo's values: {NO_READER}"))
            return
        read = _read_back(self.spec, self.columns)
        adopted = adopt(snapshot, self.run.node, read, delivery.reader)
        self.run.fire(Debug(f"{self.spec.model}: {adopted:,} new records held equal by Pendo are adopted"))

    def after(self, ledger: Ledger) -> None:
        """Nothing to keep beside the state."""

    def finished(self) -> None:
        """Nothing to say beside the counts."""


def _snapshot_columns(spec: MetadataSpec, columns: Columns) -> SnapshotColumns:
    """What a metadata model's snapshot reads and fingerprints."""
    known, real, types = columns.pendo_types or {}, columns.real, columns.types
    parent = columns.parent_column
    return SnapshotColumns(
        kind=spec.object,
        id_column=real[columns.id_column],
        mapping={real[c]: f for c, f in columns.mapping.items()},
        clear=frozenset(real[c] for c in columns.mapping if spec.clears_nulls(c)),
        as_text=frozenset(
            real[c] for c, f in columns.mapping.items() if read_as_text(types.get(c, ""), known.get(f))
        ),
        salt=spec.conversion_salt,
        departed=spec.on_remove is OnRemove.CLEAR,
        parent_column=real[parent] if parent else None,
        records=RecordSQL(
            id_key=spec.id_key,
            id_kind="text" if parent else warehouse_id_kind(types.get(columns.id_column, "")),
            kinds={  # None for every column when Pendo's types are unknown (known is empty)
                real[c]: spec.coercion(known.get(f), types.get(c, "")).warehouse_kind(types.get(c, ""))
                for c, f in columns.mapping.items()
            },
        ),
    )


def _read_back(spec: MetadataSpec, columns: Columns) -> ReadBack:
    """The model's fields as reading Pendo back compares them."""
    known = columns.pendo_types or {}
    fields = tuple(
        ReadBackField(
            columns.real[column],
            spec.group,
            field,
            converter.convert,
            spec.clears_nulls(column),
            known.get(field),
        )
        for (column, field), converter in zip(
            columns.mapping.items(), _converters(spec, columns), strict=True
        )
    )
    return ReadBack(spec.object, columns.real[columns.id_column], fields)


def _converters(spec: MetadataSpec, columns: Columns) -> list[Converter]:
    """Per mapped column, the conversion to its Pendo field's type (generic when unknown)."""
    known = columns.pendo_types or {}
    converters = []
    for column, field_name in columns.mapping.items():
        column_type = columns.types.get(column, "")
        refused = unsendable(column_type)
        converters.append(
            refused_column(column_type, f"{refused.why}; {refused.fix}")
            if refused
            else spec.coercion(known.get(field_name), column_type).converter()
        )
    return converters


class MetadataTarget(Target):
    """Visitor and account metadata (`object: visitor` or `account`)."""

    objects: tuple[str, ...] = OBJECTS
    block_schema = load_schema("pendo_block.schema.json")
    capabilities = Capabilities(concurrent=True, write_ahead=False)  # setting values twice is harmless
    removals = ("clear", "records")

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> MetadataSpec:
        return metadata_spec(model, block)

    def check(self, spec: TargetSpec, found: FoundColumns) -> list[Problem]:
        mine, schemas = cast(MetadataSpec, spec), found.pendo_fields
        pendo_types = None if schemas is None else schemas.get((mine.kind, mine.group))
        refused = [self.refused(mine)] if schemas is not None and pendo_types is None else []
        checked = check_columns(mine, found.types, pendo_types, found.create_fields or mine.create_fields)
        return refused + checked.problems + unsendable_problems(mine, checked.mapping, found.types)

    def refused(self, spec: MetadataSpec) -> Problem:
        """The problem of a model whose kind's field schema Pendo refused (400 or 404)."""
        return spec.problem(
            f"Pendo refused the {spec.kind} field schema",
            "check PENDO_BASE_URL / PENDO_REGION: the host must be your subscription's region",
        )

    def field_schemas(self, spec: TargetSpec) -> Sequence[tuple[str, str]]:
        mine = cast(MetadataSpec, spec)
        return [(mine.kind, mine.group)]

    def mapping(self, spec: TargetSpec) -> dict[str, str]:
        """{column: Pendo field}: "*" stands for every other column, a column left out maps
        to "(excluded)", and the parent account column of parent::child ids says so."""
        mine = cast(MetadataSpec, spec)
        mapping, parent = self._fields(mine), mine.parent_account_id_column
        if parent:
            mapping[parent] = f"(parent account of each id: {parent}::{mine.id_column})"
        return mapping

    @staticmethod
    def _fields(mine: MetadataSpec) -> dict[str, str]:
        """{column: Pendo field} as configured ("*": every other column; "(excluded)")."""
        mapping = dict(mine.fields) if mine.fields is not None else {"*": "(every other column)"}
        for column, rule in mine.column_rules.items():
            if rule.exclude:
                mapping[column] = "(excluded)"
            elif rule.field:
                mapping[column] = rule.field
        return mapping

    def exposure(self, kind: str) -> Exposure:
        return Exposure(f"pendo_{kind}_metadata", f"Pendo {kind} metadata", f"Pendo {kind} custom metadata")

    def describe(self, spec: TargetSpec) -> str:
        mine = cast(MetadataSpec, spec)
        parent = mine.parent_account_id_column
        ids = f"{parent}::{mine.id_column}" if parent else mine.id_column
        return mapping_sentence(spec.model, self._fields(mine), f"(ids from {ids}) writes")

    def read_back(self, spec: TargetSpec, run: ModelRun) -> ReadBack | None:
        mine = cast(MetadataSpec, spec)
        return _read_back(mine, MetadataSink(mine, run).checked_columns())

    def sink(self, spec: TargetSpec, run: ModelRun) -> MetadataSink:
        return MetadataSink(cast(MetadataSpec, spec), run)

    def words(self, result: ModelResult, dry_run: bool, label: str | None, zeros: bool) -> str:
        return default_words(result, dry_run, zeros)

    def removal_note(self, result: ModelResult, dry_run: bool, label: str | None) -> str | None:
        if not result.counts.removed:
            return None
        return clears(result, dry_run) + " (records that left the model: on_remove: clear)"


METADATA = MetadataTarget()
