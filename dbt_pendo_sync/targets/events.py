"""Track Events: the event block as an EventSpec, a model's columns resolved for it, the window
of timestamps Pendo still processes (as SQL the warehouse filters with), and each row made
into one event body."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..dbt.artifacts import ModelNode
from ..errors import ConfigError, Problem
from ..pendo.fields import to_json_value
from ..records import InvalidValue, record_id
from ..results import Counts
from ..specbase import (
    MISSING_COLUMN_FIX,
    ModelMessages,
    find_column,
    identity,
    mapping_fix,
    state_schema_problems,
    suggest_field_name,
    timezone_problems,
)
from ..vocab import PendoObject

MAX_PROPERTIES_BYTES = 512  # Pendo shows an event whose properties are larger as too large
FUTURE_DAYS = 1  # events more than a day ahead are not sent
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_MS_FROM = 100_000_000_000  # epoch numbers at least this large are milliseconds
_NUMERIC = ("int", "numeric", "decimal", "double", "float", "real", "number")
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


def suggest_property_name(name: str) -> str:
    """An event property name close to `name` that Pendo accepts."""
    return suggest_field_name(name)[:32]


def event_spec(model: ModelNode, block: Mapping[str, Any]) -> EventSpec:
    """The EventSpec of a valid event block; ConfigError naming every problem of its values."""
    spec = EventSpec(
        **identity(model),
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
    problems = timezone_problems(spec, spec.timezone) + state_schema_problems(spec, spec.state_schema)
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

    def real(name: str | None, what: str, fix: str = MISSING_COLUMN_FIX) -> str | None:
        if name is None:
            return None
        found = find_column(name, types)
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
            fix = mapping_fix(column, name, types, "properties")
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


def window_kind(column_type: str) -> str | None:
    """How a timestamp column is compared: "number" (epoch), "date", "timestamptz",
    "timestamp" (naive), or None (not a time)."""
    t = column_type.lower()
    if "time" in t:
        aware = "tz" in t or "with time zone" in t
        return "timestamptz" if aware else "timestamp"
    if t.startswith("date"):
        return "date"
    if any(n in t for n in _NUMERIC):
        return "number"
    return None


@dataclass(frozen=True)
class EventWindow:
    """The events Pendo still processes: from `max_age_days` ago to a day ahead of `now`."""

    start: dt.datetime  # aware, UTC
    end: dt.datetime

    @classmethod
    def around(cls, now: dt.datetime, max_age_days: int) -> EventWindow:
        return cls(now - dt.timedelta(days=max_age_days), now + dt.timedelta(days=FUTURE_DAYS))

    @property
    def start_ms(self) -> int:
        return _ms(self.start)

    @property
    def end_ms(self) -> int:
        return _ms(self.end)

    def conditions(self, column: str, column_type: str, zone: dt.tzinfo, cast: str) -> tuple[str, str]:
        """SQL conditions on a (quoted) column: (before the window, after it); `cast` is a
        format string "cast({} as TYPE)" for literals of the column's type."""
        kind = window_kind(column_type)
        if kind == "number":
            ms = f"(case when abs({column}) >= {_EPOCH_MS_FROM} then {column} else {column} * 1000 end)"
            return f"{ms} < {self.start_ms}", f"{ms} > {self.end_ms}"
        if kind == "date":  # a date counts from its midnight
            first = self.start.astimezone(zone).date()
            if dt.datetime.combine(first, dt.time(), zone) < self.start:
                first += dt.timedelta(days=1)
            last = self.end.astimezone(zone).date()
            return (
                f"{column} < {cast.format(repr(first.isoformat()))}",
                f"{column} > {cast.format(repr(last.isoformat()))}",
            )
        if kind == "timestamptz":
            lo, hi = (f"'{t.isoformat(sep=' ')}'" for t in (self.start, self.end))
        else:  # naive values are wall-clock times in the block's time zone
            lo, hi = (
                f"'{t.astimezone(zone).replace(tzinfo=None).isoformat(sep=' ')}'"
                for t in (self.start, self.end)
            )
        return f"{column} < {cast.format(lo)}", f"{column} > {cast.format(hi)}"


def nothing_in_window(spec: EventSpec, counts: Counts, oldest: Any, newest: Any) -> str:
    """What to say when every row of an event model is outside Pendo's window, and the
    options (`oldest` and `newest` are the timestamp column's values as read)."""
    rows, column = counts.too_old + counts.too_new, spec.timestamp_column
    if counts.too_old == rows:
        what = (
            f"all {rows:,} rows are older than max_age_days {spec.max_age_days} (the newest "
            f"{column} is {newest}): Pendo does not process Track Events older than {MAX_AGE_DAYS} days"
        )
        if spec.max_age_days < MAX_AGE_DAYS:
            what += f" (max_age_days can be raised to {MAX_AGE_DAYS})"
    elif counts.too_new == rows:
        what = f"all {rows:,} rows are more than {FUTURE_DAYS} day ahead (the oldest {column} is {oldest})"
    else:
        what = (
            f"all {rows:,} rows are outside the window Pendo processes: {counts.too_old:,} older than "
            f"max_age_days {spec.max_age_days}, {counts.too_new:,} more than {FUTURE_DAYS} day ahead"
        )
    return (
        f"{spec.model}: {what}; no event was sent. If the model should hold recent events, rebuild it "
        f"(`dbt build -s {spec.model}`) and check that {column} is when each event happened (naive "
        f"times are read in {spec.timezone}, epoch numbers below 1e11 as seconds). Events older than "
        f"{MAX_AGE_DAYS} days cannot be sent to Pendo as Track Events"
    )


def epoch_ms(value: Any, zone: dt.tzinfo) -> int:
    """An event time as epoch milliseconds: naive timestamps and dates in `zone`; numbers as
    epoch milliseconds, or seconds when smaller than 1e11."""
    if isinstance(value, dt.datetime):
        return _ms(value if value.tzinfo else value.replace(tzinfo=zone))
    if isinstance(value, dt.date):
        return _ms(dt.datetime.combine(value, dt.time(), zone))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        return int(number if abs(number) >= _EPOCH_MS_FROM else number * 1000)
    raise InvalidValue(f"timestamp {value!r} is not a time")


def _ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


class EventBuilder:
    """Rows of the snapshot, (state key, event id, sent columns in EventColumns.sent order),
    made into Track Event bodies."""

    def __init__(self, spec: EventSpec, columns: EventColumns, window: EventWindow) -> None:
        self._spec = spec
        self._zone = spec.zone()
        self._window = window
        tags = list(columns.sent)
        self._at = {tag: 2 + i for i, tag in enumerate(tags)}
        self._properties = [(t.split(":", 1)[1], self._at[t]) for t in tags if t.startswith("property:")]
        self._context = [(t.split(":", 1)[1], self._at[t]) for t in tags if t.startswith("context:")]

    def __call__(self, row: Sequence[Any]) -> tuple[str | None, dict | None, str | None]:
        """(event id, body, None), or (event id or None, None, why the row is invalid)."""
        try:
            rid = record_id(row[1])
        except InvalidValue as exc:
            return None, None, f"event {exc}"
        try:
            return rid, self._body(row), None
        except InvalidValue as exc:
            return rid, None, str(exc)

    def _body(self, row: Sequence[Any]) -> dict:
        at = self._at
        visitor = _text(row[at["visitorId"]], "visitor id")
        event = self._spec.event_name or _text(row[at["event"]], "event name")
        raw_time = row[at["timestamp"]]
        if raw_time is None:
            raise InvalidValue("timestamp is null")
        timestamp = epoch_ms(raw_time, self._zone)
        if not self._window.start_ms <= timestamp <= self._window.end_ms:
            raise InvalidValue("timestamp is outside the window Pendo processes")
        properties = {name: to_json_value(row[i]) for name, i in self._properties if row[i] is not None}
        size = len(json.dumps(properties, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_PROPERTIES_BYTES:
            raise InvalidValue(
                f"properties are {size} bytes of JSON; Pendo shows events over {MAX_PROPERTIES_BYTES} "
                "bytes as too large (send fewer or shorter properties)"
            )
        body: dict[str, Any] = {"type": "track", "event": event, "visitorId": visitor}
        if "accountId" in at and row[at["accountId"]] is not None:
            body["accountId"] = _text(row[at["accountId"]], "account id")
        body["timestamp"] = timestamp
        body["properties"] = properties
        body["context"] = {key: str(row[i]) for key, i in self._context if row[i] is not None}
        return body


def _text(value: Any, what: str) -> str:
    text = "" if value is None else str(value)
    if not text.strip():
        raise InvalidValue(f"{what} is {'null' if value is None else 'blank'}")
    return text
