"""A model's `pendo:` block, validated with JSON Schema, into a typed SyncSpec."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from .dbt.artifacts import ModelNode
from .errors import ConfigError, Problem
from .pendo.fields import Coercion
from .sqlnames import SCHEMA_NAME_RULE, schema_name_problem
from .vocab import NullPolicy, OnRemove, PendoObject

DEFAULT_BATCH_SIZE = 500
GENERAL_FIX = "correct that value in the pendo block (the README's Configuration section lists every key)"
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ColumnRule:
    """A column-level `pendo:` block: rename/include (`field`) or leave out (`exclude`)."""

    field: str | None = None
    exclude: bool = False
    nulls: NullPolicy | None = None


class _ModelMessages:
    """What every spec says about itself: the model and the file of its block."""

    model: str
    properties_file: str

    def where(self) -> str:
        """`model (file)`, the prefix of every message about this spec."""
        return f"model {self.model} ({self.properties_file})"

    def problem(self, what: str, fix: str) -> Problem:
        """A Problem of this model."""
        return Problem(self.model, self.properties_file, what, fix)


@dataclass(frozen=True)
class SyncSpec(_ModelMessages):
    """What to sync for one model: validated, typed, and independent of dbt."""

    model: str
    unique_id: str
    properties_file: str
    object: PendoObject
    id_column: str
    fields: Mapping[str, str] | None
    column_rules: Mapping[str, ColumnRule]
    batch_size: int
    state_schema: str | None = None
    create_fields: bool = False
    nulls: NullPolicy = NullPolicy.SKIP
    truncate_text: bool = False
    date_format: str = "rfc3339"
    timezone: str = "UTC"
    on_remove: OnRemove = OnRemove.KEEP
    group: str = "custom"  # the metadata group written: custom, or agent (Pendo's own fields)

    @property
    def id_key(self) -> str:
        """The payload key of the record id: visitorId or accountId."""
        return f"{self.object}Id"

    def resolve_columns(self, columns: Sequence[str]) -> tuple[str, dict[str, str]]:
        """Match the spec against the relation's real columns: the real id column name and
        {real column: Pendo field}, in column order; ConfigError naming every problem."""
        id_col, mapping, problems = self.match_columns(columns)
        if problems or id_col is None:
            raise ConfigError(problems=problems)
        return id_col, mapping

    def match_columns(self, columns: Sequence[str]) -> tuple[str | None, dict[str, str], list[Problem]]:
        """The id column (None when missing), the mapping of the columns that match, and
        every problem found (not only the first).

        Names match exactly, else case-insensitively (warehouses fold unquoted names).
        """
        problems: list[Problem] = []
        by_lower: dict[str, str] = {}
        for col in columns:
            by_lower.setdefault(col.lower(), col)

        def real(name: str, label: str, fix: str = MISSING_COLUMN_FIX) -> str | None:
            if name in columns:
                return name
            if name.lower() in by_lower:
                return by_lower[name.lower()]
            problems.append(
                self.problem(
                    f"{label} is not a column of the built relation (columns: {', '.join(columns)})", fix
                )
            )
            return None

        id_col = real(self.id_column, f"id_column '{self.id_column}'")
        rules = {
            col: rule
            for col, rule in (
                (real(name, f"column '{name}' of a column-level pendo block"), rule)
                for name, rule in self.column_rules.items()
            )
            if col is not None
        }
        if self.fields is not None:
            wanted = {}
            for name, field in self.fields.items():
                found = real(name, f"mapped column '{name}'", mapping_fix(name, field, columns, "fields"))
                if found is not None:
                    wanted[found] = field
        else:
            wanted = {col: col for col in columns if col != id_col}
        for col, rule in rules.items():
            if rule.field:
                wanted[col] = rule.field
        mapping = {
            col: wanted[col]
            for col in columns
            if col in wanted and col != id_col and not rules.get(col, ColumnRule()).exclude
        }
        problems += self.field_problems(mapping, empty_is_a_problem=not problems)
        return id_col, mapping, problems

    def coercion(self, pendo_type: str | None, column_type: str) -> Coercion:
        """How this model's values become a field of `pendo_type` (None: type unknown)."""
        return Coercion(
            pendo_type=pendo_type,
            column_is_boolean=column_type.lower().startswith("bool"),
            truncate_text=self.truncate_text,
            date_format=self.date_format,
            timezone=dt.timezone.utc if self.timezone == "UTC" else ZoneInfo(self.timezone),
        )

    @property
    def conversion_salt(self) -> str:
        """The options that change payloads for the same values (part of every fingerprint)."""
        return f"{self.truncate_text}|{self.date_format}|{self.timezone}"

    def clears_nulls(self, column: str) -> bool:
        """Whether a null in this (real) column is sent as null, clearing Pendo's value."""
        rule = self.column_rules.get(column)
        if rule is None:
            rule = next(
                (r for c, r in self.column_rules.items() if c.lower() == column.lower()), ColumnRule()
            )
        return (rule.nulls or self.nulls) is NullPolicy.CLEAR

    def field_problems(self, mapping: Mapping[str, str], *, empty_is_a_problem: bool = True) -> list[Problem]:
        """Problems of the fields a mapping sends to: two columns on one field, names
        Pendo cannot use, nothing left to send."""
        problems = []
        seen: dict[str, str] = {}
        for col, field in mapping.items():
            if field in seen:
                problems.append(
                    self.problem(
                        f"columns '{seen[field]}' and '{col}' both map to Pendo field '{field}'",
                        "map one of them to another field or exclude it",
                    )
                )
            elif not _FIELD_NAME.match(field):
                problems.append(
                    self.problem(
                        f"column '{col}' would be sent as field '{field}', which Pendo cannot use in "
                        "segments or reports",
                        f"rename it with `pendo: {{field: {suggest_field_name(field)}}}` on the column",
                    )
                )
            seen.setdefault(field, col)
        if not mapping and empty_is_a_problem:
            problems.append(self.problem("no column is left to send", "map at least one column"))
        return problems

    @staticmethod
    def usable_field(field: str) -> bool:
        """Whether Pendo can use this field name (letters, digits, underscore)."""
        return _FIELD_NAME.match(field) is not None


# Pendo does not process Track Events older than 7 days: the default, and the most a block may
# set (the schema's maximum), since older events would be sent, answered 200, and dropped.
MAX_AGE_DAYS = 7
# Pendo's rule for event property names.
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
# The context keys of a block and the names Pendo's track body gives them.
CONTEXT_KEYS = {"ip": "ip", "user_agent": "userAgent", "url": "url", "title": "title"}


@dataclass(frozen=True)
class EventSpec(_ModelMessages):
    """What to send as Track Events for one model (`object: event`): one event per row."""

    model: str
    unique_id: str
    properties_file: str
    visitor_id_column: str
    timestamp_column: str
    event_column: str | None = None
    event_name: str | None = None  # the block's `event`: one name for every row
    account_id_column: str | None = None
    event_id_column: str | None = None
    properties: Mapping[str, str] | None = None  # {column: property}; None: every other column
    context: Mapping[str, str] | None = None  # {context key of the block: column}
    max_age_days: int = MAX_AGE_DAYS
    state_schema: str | None = None
    timezone: str = "UTC"
    object: PendoObject = PendoObject.EVENT
    batch_size: int = 1  # Pendo takes one event per call

    @property
    def id_column(self) -> str:
        """The column that identifies an event (a hash of the sent columns without one)."""
        return self.event_id_column or "(hash of the sent columns)"

    def body_mapping(self) -> dict[str, str]:
        """{column: where it goes in the event body}, as configured ("*": every column not
        named otherwise becomes a property; the block's one `event` name stands quoted, marked
        as a constant)."""
        mapping = {self.visitor_id_column: "visitorId", self.timestamp_column: "timestamp"}
        if self.event_column:
            mapping[self.event_column] = "event"
        elif self.event_name:
            mapping[f"'{self.event_name}' (constant)"] = "event"
        if self.account_id_column:
            mapping[self.account_id_column] = "accountId"
        for key, column in (self.context or {}).items():
            mapping[column] = f"context.{CONTEXT_KEYS[key]}"
        if self.properties is None:
            mapping["*"] = "properties.(its own name)"
        else:
            mapping.update({column: f"properties.{name}" for column, name in self.properties.items()})
        return mapping

    @property
    def id_key(self) -> str:
        """The name of an event's id in samples and the rejected file."""
        return "eventId"

    @property
    def conversion_salt(self) -> str:
        """The options that change payloads for the same values (part of every fingerprint)."""
        return self.timezone

    def zone(self) -> dt.tzinfo:
        """The time zone of naive timestamps."""
        return dt.timezone.utc if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def used_columns(self) -> list[str]:
        """The columns the block names for other things than properties."""
        named = [self.visitor_id_column, self.timestamp_column]
        named += [c for c in (self.event_column, self.account_id_column, self.event_id_column) if c]
        return named + list((self.context or {}).values())

    def property_problems(self, properties: Mapping[str, str]) -> list[Problem]:
        """Problems of a {column: property} mapping: property names Pendo refuses (letters,
        digits, underscores, at most 32, not starting with a digit) and two columns on one
        property."""
        problems = []
        seen: dict[str, str] = {}
        for column, name in properties.items():
            if name in seen:
                problems.append(
                    self.problem(
                        f"columns '{seen[name]}' and '{column}' both map to event property '{name}'",
                        "map one of them to another property",
                    )
                )
            elif not _PROPERTY_NAME.match(name):
                problems.append(
                    self.problem(
                        f"event property '{name}' (column '{column}') is not a name Pendo accepts "
                        "(letters, digits and underscores, at most 32 characters, not starting "
                        "with a digit)",
                        f"name it '{suggest_property_name(name)}' in the block's `properties` "
                        f"({{{column}: {suggest_property_name(name)}}})",
                    )
                )
            seen.setdefault(name, column)
        return problems


SEGMENT_BATCH = 1000  # ids per add or remove operation (at most one of each per call)


@dataclass(frozen=True)
class SegmentSpec(_ModelMessages):
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
        if self.id_column in columns:
            return self.id_column
        for column in columns:
            if column.lower() == self.id_column.lower():
                return column
        raise ConfigError(
            problems=[
                self.problem(
                    f"id_column '{self.id_column}' is not a column of the built relation "
                    f"(columns: {', '.join(columns)})",
                    "fix the pendo block or rebuild the model",
                )
            ]
        )


ModelSpec = SyncSpec | EventSpec | SegmentSpec

MISSING_COLUMN_FIX = "fix the pendo block or rebuild the model"
# What each mapping of a block maps a column to (its keys are columns, its values these).
_MAPPED_TO = {"fields": "Pendo field", "properties": "event property"}


def mapping_fix(key: str, value: str, columns: Iterable[str], mapping: str) -> str:
    """The fix for a key of `mapping` (`fields`, `properties`) that is not a column: when its
    value is one, the mapping was likely written the wrong way round."""
    if value.lower() not in {c.lower() for c in columns}:
        return MISSING_COLUMN_FIX
    return (
        f"reversed? write {{{value}: {key}}}: `{mapping}` maps column -> {_MAPPED_TO[mapping]} "
        f"(else {MISSING_COLUMN_FIX})"
    )


def suggest_property_name(name: str) -> str:
    """An event property name close to `name` that Pendo accepts."""
    return suggest_field_name(name)[:32]


def suggest_field_name(name: str) -> str:
    """A Pendo-usable field name close to `name` (letters, digits, underscore)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "field"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


@cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    text = resources.files("dbt_pendo_sync.schemas").joinpath(schema_name).read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _explain(error: jsonschema.ValidationError, prefix: str) -> tuple[str, str]:
    """One validation error as (where: what is wrong, what is allowed)."""
    path = ".".join([prefix, *(str(p) for p in error.absolute_path)])
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        hints: list[str] = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return f"{path}: unknown key {', '.join(hints)}", f"allowed keys: {', '.join(allowed)}"
    if kind == "required":
        return f"{path}: {error.message}", f"add it (allowed keys: {', '.join(schema.get('properties', {}))})"
    if kind == "enum":
        choices = ", ".join(str(v) for v in error.validator_value)
        return f"{path}: {error.instance!r} is not allowed", f"use one of: {choices}"
    if kind == "type":
        return f"{path}: {error.instance!r} must be of type {error.validator_value}", GENERAL_FIX
    if kind == "pattern":
        return (
            f"{path}: {error.instance!r} is not a Pendo field name Pendo can use in segments "
            f"(letters, digits, underscore, not starting with a digit)",
            f"try '{suggest_field_name(str(error.instance))}'",
        )
    if kind == "maximum" and list(error.absolute_path) == ["max_age_days"]:
        return (
            f"{path}: {error.instance!r} is more than {MAX_AGE_DAYS}: Pendo does not process Track Events "
            f"older than {MAX_AGE_DAYS} days, so older rows would be sent and dropped",
            f"use at most {MAX_AGE_DAYS} (the default); older history cannot be sent as Track Events",
        )
    if kind in ("minimum", "maximum"):
        return (f"{path}: {error.instance!r} is out of range", f"allowed {kind} is {error.validator_value}")
    if kind == "minProperties":
        return f"{path}: must not be empty", "list at least one entry or leave the key out"
    if kind == "oneOf":
        return (
            f"{path}: name the event with `event_column` (a column) or `event` (one name for "
            "every row), exactly one of them",
            "keep one of the two keys",
        )
    if kind == "minLength":
        return f"{path}: must not be empty", GENERAL_FIX
    return f"{path}: {error.message}", GENERAL_FIX


def _schema_problems(model: ModelNode, block: Any, schema_name: str, prefix: str) -> list[Problem]:
    errors = sorted(_validator(schema_name).iter_errors(block), key=lambda e: list(e.absolute_path))
    return [Problem(model.name, model.properties_file, *_explain(e, prefix)) for e in errors]


# The JSON Schema of a block, by its object (visitor and account blocks share one).
_BLOCK_SCHEMAS: dict[str, str] = {
    PendoObject.EVENT: "pendo_event_block.schema.json",
    PendoObject.SEGMENT: "pendo_segment_block.schema.json",
}


def block_problems(model: ModelNode) -> list[Problem]:
    """Every problem of a model's pendo blocks (model and columns); [] when valid."""
    block = model.pendo_block()
    kind = block.get("object") if isinstance(block, dict) else None
    schema = _BLOCK_SCHEMAS.get(str(kind), "pendo_block.schema.json")
    problems = _schema_problems(model, block, schema, "pendo")
    for col in model.columns.values():
        block = col.pendo_block()
        if block is not None:
            problems += _schema_problems(
                model, block, "pendo_column.schema.json", f"columns.{col.name}.pendo"
            )
    return problems


def spec_for(model: ModelNode) -> ModelSpec:
    """The spec of one model; raise ConfigError naming every problem of its blocks."""
    problems = block_problems(model)
    if problems:
        raise ConfigError(problems=problems)
    block = model.pendo_block()
    if block["object"] == PendoObject.EVENT:
        return _event_spec(model, block)
    if block["object"] == PendoObject.SEGMENT:
        segment = SegmentSpec(
            **_identity(model),
            segment=block["segment"],
            id_column=block["id_column"],
            state_schema=block.get("state_schema"),
        )
        problems = _state_schema_problems(segment)
        if problems:
            raise ConfigError(problems=problems)
        return segment
    spec = SyncSpec(
        **_identity(model),
        object=PendoObject(block["object"]),
        id_column=block["id_column"],
        fields=dict(block["fields"]) if "fields" in block else None,
        column_rules={
            col.name: ColumnRule(
                field=col.pendo_block().get("field"),
                exclude=bool(col.pendo_block().get("exclude", False)),
                nulls=NullPolicy(col.pendo_block()["nulls"]) if "nulls" in col.pendo_block() else None,
            )
            for col in model.columns.values()
            if col.pendo_block() is not None
        },
        batch_size=int(block.get("batch_size", DEFAULT_BATCH_SIZE)),
        state_schema=block.get("state_schema"),
        create_fields=bool(block.get("create_fields", False)),
        nulls=NullPolicy(block.get("nulls", NullPolicy.SKIP)),
        truncate_text=bool(block.get("truncate_text", False)),
        date_format=block.get("date_format", "rfc3339"),
        timezone=block.get("timezone", "UTC"),
        on_remove=OnRemove(block.get("on_remove", OnRemove.KEEP)),
        group=block.get("group", "custom"),
    )
    problems += _timezone_problems(spec) + _state_schema_problems(spec)
    if spec.fields is not None:  # columns are known without the warehouse: check now
        named = {**spec.fields, **{c: r.field for c, r in spec.column_rules.items() if r.field}}
        problems += spec.field_problems(
            {c: f for c, f in named.items() if not spec.column_rules.get(c, ColumnRule()).exclude}
        )
    if problems:
        raise ConfigError(problems=problems)
    return spec


class _Identity(TypedDict):
    model: str
    unique_id: str
    properties_file: str


def _identity(model: ModelNode) -> _Identity:
    """The fields every spec takes from its model: name, unique_id, properties file."""
    return {"model": model.name, "unique_id": model.unique_id, "properties_file": model.properties_file}


def _timezone_problems(spec: SyncSpec | EventSpec) -> list[Problem]:
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [
            spec.problem(
                f"pendo.timezone: {spec.timezone!r} is not an IANA time zone",
                "use a name like 'UTC' or 'America/New_York'",
            )
        ]
    return []


def _state_schema_problems(spec: ModelSpec) -> list[Problem]:
    """The block's state_schema goes into SQL: only a plain name is taken (sqlnames.py)."""
    why = schema_name_problem(spec.state_schema) if spec.state_schema else None
    if why is None:
        return []
    return [spec.problem(f"pendo.state_schema: {why}", f"name a schema of {SCHEMA_NAME_RULE}")]


def _event_spec(model: ModelNode, block: Mapping[str, Any]) -> EventSpec:
    spec = EventSpec(
        **_identity(model),
        visitor_id_column=block["visitor_id_column"],
        timestamp_column=block["timestamp_column"],
        event_column=block.get("event_column"),
        event_name=block.get("event"),
        account_id_column=block.get("account_id_column"),
        event_id_column=block.get("event_id_column"),
        properties=dict(block["properties"]) if "properties" in block else None,
        context=dict(block["context"]) if "context" in block else None,
        max_age_days=int(block.get("max_age_days", MAX_AGE_DAYS)),
        state_schema=block.get("state_schema"),
        timezone=block.get("timezone", "UTC"),
    )
    problems = _timezone_problems(spec) + _state_schema_problems(spec)
    if spec.properties is not None:  # named in the block: checked before the warehouse
        problems += spec.property_problems(spec.properties)
    if problems:
        raise ConfigError(problems=problems)
    return spec


def specs_for(models: Iterable[ModelNode]) -> list[ModelSpec]:
    """Specs for many models, reporting the problems of all of them at once."""
    specs: list[ModelSpec] = []
    problems: list[Problem] = []
    for model in models:
        try:
            specs.append(spec_for(model))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(
            "invalid pendo configuration:\n" + "\n".join(str(p) for p in problems), problems=problems
        )
    return specs


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
