"""A Track Event block (`object: event`) as an EventSpec, and a model's columns resolved for
it: which column is the visitor, the time, the event's name, its properties and context."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ... import specbase
from ...dbt.artifacts import ModelNode
from ...errors import ConfigError, Problem
from ...specbase import ModelMessages
from .window import window_kind

OBJECT = "event"
# Pendo does not process Track Events older than 7 days: the default, and the most a block may
# set (the schema's maximum), since older events would be sent, answered 200, and dropped.
MAX_AGE_DAYS = 7
# Pendo's rule for event property names.
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
# The context keys of a block and the names Pendo's track body gives them.
CONTEXT_KEYS = {"ip": "ip", "user_agent": "userAgent", "url": "url", "title": "title"}


@dataclass(frozen=True)
class EventSpec(ModelMessages):
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
    object: str = OBJECT
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
    def label(self) -> None:
        """Events' words name nothing beside the model."""
        return None

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
        return self.mapping_problems(properties, "event property", self._refused_property)

    def _refused_property(self, column: str, name: str) -> Problem | None:
        if _PROPERTY_NAME.match(name):
            return None
        suggested = suggest_property_name(name)
        return self.problem(
            f"event property '{name}' (column '{column}') is not a name Pendo accepts (letters, "
            "digits and underscores, at most 32 characters, not starting with a digit)",
            f"name it '{suggested}' in the block's `properties` ({{{column}: {suggested}}})",
        )


def suggest_property_name(name: str) -> str:
    """An event property name close to `name` that Pendo accepts."""
    return specbase.suggest_field_name(name)[:32]


def event_spec(model: ModelNode, block: Mapping[str, Any]) -> EventSpec:
    """The EventSpec of a valid event block; ConfigError naming every problem of its values."""
    spec = EventSpec(
        **specbase.identity(model),
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
    problems = specbase.timezone_problems(spec, spec.timezone) + specbase.state_schema_problems(
        spec, spec.state_schema
    )
    if spec.properties is not None:  # named in the block: checked before the warehouse
        problems += spec.property_problems(spec.properties)
    if problems:
        raise ConfigError(problems=problems)
    return spec


@dataclass(frozen=True)
class EventColumns:
    """An event block's columns by their written names ({field tag: column} in `sent`, in
    the order the snapshot reads them) and the type of the timestamp column."""

    event_id: str | None
    sent: dict[str, str]  # tag ("visitorId", "property:plan", "context:url"...) -> column
    timestamp_type: str


def resolve_columns(spec: EventSpec, types: Mapping[str, str]) -> EventColumns:
    """The block against the relation's columns ({written name: type}); ConfigError naming
    every column that is missing, used twice, or a property Pendo would refuse."""
    problems: list[Problem] = []

    def real(name: str | None, what: str, fix: str = specbase.MISSING_COLUMN_FIX) -> str | None:
        if name is None:
            return None
        found = specbase.find_column(name, types)
        if found is None:
            problems.append(
                spec.problem(
                    f"{what} '{name}' is not a column of the built relation (columns: {', '.join(types)})",
                    fix,
                )
            )
        return found

    sent: dict[str, str | None] = {
        "visitorId": real(spec.visitor_id_column, "visitor_id_column"),
        "timestamp": real(spec.timestamp_column, "timestamp_column"),
    }
    if spec.event_column:
        sent["event"] = real(spec.event_column, "event_column")
    if spec.account_id_column:
        sent["accountId"] = real(spec.account_id_column, "account_id_column")
    for key, column in (spec.context or {}).items():
        sent[f"context:{CONTEXT_KEYS[key]}"] = real(column, f"context.{key} column")
    event_id = real(spec.event_id_column, "event_id_column")
    if spec.properties is not None:
        for column, name in spec.properties.items():
            fix = specbase.mapping_fix(column, name, types, "properties")
            sent[f"property:{name}"] = real(column, "`properties` key", fix)
    else:
        used = {c.lower() for c in spec.used_columns()}
        defaulted = {c: c for c in types if c.lower() not in used}
        problems += spec.property_problems(defaulted)
        sent.update({f"property:{name}": column for name, column in defaulted.items()})
    taken: dict[str, str] = {}
    for tag, found in sent.items():
        if found is not None and found in taken:
            problems.append(
                spec.problem(
                    f"column '{found}' is used twice ({_role(taken[found])} and {_role(tag)})",
                    "give each role its own column (select it twice under two names in the model)",
                )
            )
        taken.setdefault(found or "", tag)
    ts_type = types.get(sent["timestamp"] or "", "")
    if sent["timestamp"] is not None and window_kind(ts_type) is None:
        problems.append(
            spec.problem(
                f"timestamp_column '{spec.timestamp_column}' has type {ts_type}, which is no time",
                "use a timestamp, date, or epoch milliseconds or seconds column (cast it in the model)",
            )
        )
    if problems:
        raise ConfigError(problems=problems)
    return EventColumns(event_id, {t: c for t, c in sent.items() if c is not None}, ts_type)


def _role(tag: str) -> str:
    return tag.replace(":", " ", 1)
