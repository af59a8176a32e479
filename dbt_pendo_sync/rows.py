"""The one shape of a snapshot row, shared by the snapshot that writes it and the builders
that read it: (state key, id, [record JSON], values..., [change kind]), read by name.

Rows stay the driver's tuples (millions go by): a RowShape says where each part sits, so no
code counts offsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KEY = 0  # the state key: the row's place in the journal's ranges
ID = 1  # the id as read (the record id once records.record_id takes it)


@dataclass(frozen=True)
class RowShape:
    """Where the parts of a snapshot row sit: the key and id first, the record JSON the
    warehouse wrote (when it writes records), one value per field in `fields` order, and the
    change kind last (when records that left the model are rows too)."""

    fields: tuple[str, ...]
    record_json: bool = False
    change: bool = False

    @property
    def first_value(self) -> int:
        """The position of the first field's value."""
        return ID + 2 if self.record_json else ID + 1

    def at(self, field: str) -> int:
        """The position of a field's value."""
        return self.first_value + self.fields.index(field)

    @staticmethod
    def key_of(row: Sequence[Any]) -> Any:
        return row[KEY]

    @staticmethod
    def id_of(row: Sequence[Any]) -> Any:
        return row[ID]

    def json_of(self, row: Sequence[Any]) -> str | None:
        """The record the warehouse wrote (None where Python builds it)."""
        return row[ID + 1] if self.record_json else None

    def values_of(self, row: Sequence[Any]) -> Sequence[Any]:
        """The field values, in `fields` order."""
        start = self.first_value
        return row[start : start + len(self.fields)]

    def change_of(self, row: Sequence[Any]) -> str | None:
        """The row's change kind (None when rows do not carry it)."""
        return row[-1] if self.change else None
