"""Pendo's metadata schema as the emulator plays it: GET /api/v1/metadata/schema/{kind}, new
custom fields by POST /api/v1/metadata/schema/{kind}/custom, and what becomes of a write naming
a field the schema lacks (the switch ``unknown_fields``)."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .answers import NOT_FOUND, Answer, Incoming, Routes, json_answer, json_problem, text_answer
from .data import field_entry, record_group

# Whether Pendo rejects a write naming an unknown field or creates it as text is not documented.
UNKNOWN_FIELDS = ("reject", "create_text")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMA_TYPES = {"string": "string", "number": "float", "time": "time", "boolean": "boolean"}


def checked_unknown_fields(unknown_fields: str) -> str:
    """`unknown_fields` when it is one of UNKNOWN_FIELDS, else ValueError."""
    if unknown_fields not in UNKNOWN_FIELDS:
        raise ValueError('unknown_fields must be "reject" or "create_text"')
    return unknown_fields


def _field_specs_problem(specs: Any) -> str | None:
    if not isinstance(specs, list):
        return "body must be a JSON array of field definitions"
    for spec in specs:
        if not isinstance(spec, dict):
            return "each field definition must be a JSON object"
        name = spec.get("name")
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            return f"invalid field name: {name!r}"
        if spec.get("type") not in _SCHEMA_TYPES:
            return f"invalid field type: {spec.get('type')!r} (string, number, time or boolean)"
    return None


def _new_field(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The schema entry for one checked field definition of POST .../schema/{kind}/{group}."""
    display_name = spec.get("displayname") or spec["name"]
    return field_entry(spec["name"], {"Type": _SCHEMA_TYPES[spec["type"]], "DisplayName": display_name})


class Schema:
    """The field schema of the `kinds` one emulator has (kind -> group -> field name -> entry;
    parentAccount only when the subscription has parent accounts), guarded by the emulator's
    `lock`: ``group_fields`` and ``admit`` expect the caller to hold it."""

    def __init__(
        self, schema: Mapping[str, dict], unknown_fields: str, lock: threading.Lock, kinds: Iterable[str]
    ) -> None:
        self._schema = {kind: copy.deepcopy(schema[kind]) for kind in kinds}
        self._unknown_fields = unknown_fields
        self._lock = lock
        self.routes: Routes = [
            ("GET", re.compile(r"/api/v1/metadata/schema/([^/]+)"), self._get),
            ("POST", re.compile(r"/api/v1/metadata/schema/([^/]+)/([^/]+)"), self._post),
        ]

    def fields(self, kind: str, group: str = "custom") -> dict[str, str]:
        """Field name -> Type in a group (custom or agent) for a kind (visitor, account or
        parentAccount)."""
        with self._lock:
            fields = self._schema[kind].get(record_group(group), {})
            return {name: entry["Type"] for name, entry in fields.items()}

    def group_fields(self, kind: str, group: str) -> dict[str, dict]:
        """The fields of one group of a kind, to read and to add to."""
        return self._schema[kind][group]

    def admit(self, fields: dict[str, dict], names: Iterable[str]) -> Answer | None:
        """Reject (400) or create as text the names missing from a group's fields."""
        unknown = sorted({name for name in names if name not in fields})
        if not unknown:
            return None
        if self._unknown_fields == "reject":
            return json_answer(400, {"error": "missing field mappings: " + ", ".join(unknown)})
        for name in unknown:
            fields[name] = field_entry(name, {"Type": "string"})
        return None

    def _get(self, req: Incoming, kind: str) -> Answer:
        with self._lock:
            return json_answer(200, self._schema[kind]) if kind in self._schema else NOT_FOUND

    def _post(self, req: Incoming, kind: str, group: str) -> Answer:
        if kind not in self._schema:  # an unknown kind, or parent accounts not enabled
            return NOT_FOUND
        if group != "custom":
            return text_answer(400, "fields can only be created in the custom group")
        problem = json_problem(req) or _field_specs_problem(req.body)
        if problem:
            return text_answer(400, problem)
        with self._lock:
            custom = self._schema[kind]["custom"]
            taken = [spec["name"] for spec in req.body if spec["name"] in custom]
            if taken:
                return text_answer(400, f"field already exists: {', '.join(taken)}")
            created = {spec["name"]: _new_field(spec) for spec in req.body}
            custom.update(created)
        return json_answer(200, created)
