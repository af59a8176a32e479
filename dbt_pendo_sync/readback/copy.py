"""Pendo's values of a model's fields, copied page by page into a table beside the model's
ledger (one row per record: its id, and each field's value as JSON text), so the warehouse
matches them to the model's rows by id: Pendo's order is not the warehouse's, and neither
side is held in memory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..dbt.artifacts import ModelNode
from ..ledger.store import Ledger
from ..targets.base import ReadBackField

COPY_PREFIX = "pendo_sync_read_"
_ROWS_PER_INSERT = 500

# A page of records read from Pendo: (record id, {group: {field: value}}).
PendoPage = Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]


def copy_name(model: ModelNode) -> str:
    """A table name unique to the model, within identifier length limits."""
    digest = hashlib.sha1(model.unique_id.encode()).hexdigest()[:8]
    return f"{COPY_PREFIX}{model.name[:30].lower()}_{digest}"


class PendoCopy:
    """The copy of one model's records in Pendo: `__rid`, then `v0`, `v1`... per field."""

    def __init__(self, ledger: Ledger, model: ModelNode, fields: Sequence[ReadBackField]) -> None:
        self._ledger = ledger
        self._w = ledger.warehouse
        location = ledger.location
        self.table = self._w.table(location.database, location.schema, copy_name(model))
        self.fields = tuple(fields)
        self.records = 0

    def create(self) -> None:
        """An empty copy (a copy a stopped run left is replaced)."""
        w = self._w
        string = w.macro("type_string")
        columns = ", ".join([f"__rid {string}", *(f"v{i} {string}" for i in range(len(self.fields)))])
        w.drop_table(self.table)
        w.execute(self._ledger.dialect.create_table(w, self.table, columns))

    def add(self, pages: Iterable[PendoPage]) -> None:
        """Every record of the pages, a statement per 500."""
        for page in pages:
            for start in range(0, len(page), _ROWS_PER_INSERT):
                rows = [self._row(rid, groups) for rid, groups in page[start : start + _ROWS_PER_INSERT]]
                self._w.execute(f"insert into {self.table} values {', '.join(rows)}")
            self.records += len(page)

    def _row(self, rid: str, groups: Mapping[str, Mapping[str, Any]]) -> str:
        w = self._w
        values = []
        for f in self.fields:
            held = groups.get(f.group, {})
            values.append(w.literal(json.dumps(held[f.field])) if f.field in held else "null")
        return f"({', '.join([w.literal(rid), *values])})"

    def drop(self) -> None:
        self._w.drop_table(self.table)
