"""Snapshot rows made into Track Event bodies, and the sender that posts them one per call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...pendo.answers import BatchOutcome
from ...pendo.client import PendoClient
from ...pendo.fields import to_json_value
from ...records import InvalidValue, record_id
from ...rows import RowShape
from ..base import Built, RecordBuilder
from .spec import EventSpec
from .window import EventWindow, epoch_ms

MAX_PROPERTIES_BYTES = 512  # Pendo shows an event whose properties are larger as too large


class EventBuilder(RecordBuilder):
    """Snapshot rows (their fields are EventColumns.sent's tags) made into Track Event bodies."""

    def __init__(self, spec: EventSpec, shape: RowShape, window: EventWindow) -> None:
        self.shape = shape
        self._spec = spec
        self._zone = spec.zone()
        self._window = window
        self._at = {tag: shape.at(tag) for tag in shape.fields}
        tags = shape.fields
        self._properties = [(t.split(":", 1)[1], self._at[t]) for t in tags if t.startswith("property:")]
        self._context = [(t.split(":", 1)[1], self._at[t]) for t in tags if t.startswith("context:")]

    def build(self, row: Sequence[Any]) -> Built:
        """(event id, body, None), or (event id or None, None, why the row is invalid)."""
        try:
            rid = record_id(self.shape.id_of(row))
        except InvalidValue as exc:
            return None, None, f"event {exc}"
        try:
            return rid, self._body(row), None
        except InvalidValue as exc:
            return rid, None, str(exc)

    def _body(self, row: Sequence[Any]) -> dict[str, Any]:
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


@dataclass
class EventSender:
    """Track Events, one per call (Pendo has no batch endpoint for them): `client` talks to
    the track endpoint with the shared secret."""

    client: PendoClient
    delivers: bool = True

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        return BatchOutcome.combine(*(self.client.track(r, i) for r, i in zip(records, ids, strict=True)))
