"""Metadata's rows made into records `{id_key: id, "values": {field: value}}`, and the
sender that writes them through Pendo's bulk endpoint."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...pendo.answers import BatchOutcome
from ...pendo.client import PendoClient
from ...pendo.fields import JSON_VALUE, Converter
from ...records import InvalidValue, Record, record_id
from ...rows import RowShape
from ...vocab import ChangeKind
from ..base import Built


class MetadataBuilder:
    """Rows made into metadata records: a null is left out, or sent as null where the field
    clears (`clear`). With `shape.change`, a record that left the model gets every field as
    null. With `shape.record_json`, a row carries its record as the warehouse wrote it, or
    null where Python builds it from the values that follow."""

    def __init__(
        self,
        id_key: str,
        shape: RowShape,
        clear: Sequence[bool],
        converters: Sequence[Converter] | None = None,
    ) -> None:
        self.shape = shape
        self._id_key = id_key
        self._cleared = dict.fromkeys(shape.fields)
        self._converters = converters or [JSON_VALUE] * len(shape.fields)
        first = shape.first_value
        # Per field: its position in the row, its name, whether a null clears, and its
        # conversion function (called per value).
        self._columns = list(
            zip(
                range(first, first + len(shape.fields)),
                shape.fields,
                clear,
                [c.convert for c in self._converters],
                strict=True,
            )
        )

    def values(self, row: Sequence[Any]) -> Sequence[Any]:
        """The row's id and field values as read (for the rejected rows' file)."""
        shape = self.shape
        text = shape.json_of(row)
        if text is not None:
            found = json.loads(text)["values"]
            return (shape.id_of(row), *(found.get(name) for name in shape.fields))
        return (shape.id_of(row), *shape.values_of(row))

    def many(self, rows: Sequence[Sequence[Any]]) -> tuple[list[str], list[Record]] | None:
        """The rows built a column at a time (the same records as one by one, at a fraction
        of the cost per row); None when a row is invalid or left the model."""
        shape = self.shape
        if not rows or (shape.change and any(shape.change_of(row) == ChangeKind.REMOVED for row in rows)):
            return None
        columns = list(zip(*rows, strict=True))  # a row of columns: the same shape as a row
        ids_read = shape.id_of(columns)
        if shape.record_json:
            texts: Sequence[str | None] = columns[shape.first_value - 1]
            return None if None in texts else (_warehouse_ids(ids_read), list(map(str, texts)))
        try:
            ids = list(map(record_id, ids_read))
            values = [
                converter.column(columns[index])
                for (index, *_), converter in zip(self._columns, self._converters, strict=True)
            ]
        except InvalidValue:
            return None
        return ids, self._records(ids, values)

    def _records(self, ids: list[str], values: list[Sequence[Any]]) -> list[Record]:
        """Records from converted columns; nulls left out where they do not clear."""
        fields = self.shape.fields
        dicts = (
            [dict(zip(fields, row, strict=True)) for row in zip(*values, strict=True)]
            if values
            else [{} for _ in ids]
        )
        for (_, name, clear, _), column in zip(self._columns, values, strict=True):
            if not clear and None in column:  # nulls: skip never overwrites Pendo's value
                for found, value in zip(dicts, column, strict=True):
                    if value is None:
                        del found[name]
        key = self._id_key
        return [{key: rid, "values": found} for rid, found in zip(ids, dicts, strict=True)]

    def build(self, row: Sequence[Any]) -> Built:
        shape = self.shape
        if shape.change and shape.change_of(row) == ChangeKind.REMOVED:
            key = shape.key_of(row)
            return key, {self._id_key: key, "values": dict(self._cleared)}, None
        try:
            rid = record_id(shape.id_of(row))
        except InvalidValue as exc:
            return None, None, str(exc)
        text = shape.json_of(row)
        if text is not None:
            return rid, text, None
        values: dict[str, Any] = {}
        name = ""
        try:  # one try around the loop: this runs for every row of the model
            for index, name, clear, convert in self._columns:
                value = row[index]
                if value is not None:
                    values[name] = convert(value)
                elif clear:
                    values[name] = None  # nulls: clear; nulls: skip never overwrites Pendo's value
        except InvalidValue as exc:
            return rid, None, f"field {name}: {exc}"
        return rid, {self._id_key: rid, "values": values}, None


def _warehouse_ids(values: Sequence[Any]) -> list[str]:
    """The ids of rows whose record the warehouse wrote: it wrote one only for an id that
    records.record_id takes (text that is not blank, or a whole number), so text ids are
    record ids as they are, without a call per row."""
    if set(map(type, values)) == {str}:
        return list(values)
    return list(map(record_id, values))


@dataclass
class MetadataSender:
    """Visitor or account metadata through Pendo's bulk endpoint (update-only unless `create`)."""

    client: PendoClient
    kind: str
    id_key: str
    create: bool = False
    group: str = "custom"  # the metadata group written: custom, or agent
    delivers: bool = True

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        return self.client.write_values(self.kind, records, ids, self.create, self.group)
