"""The read-back's tables beside the model's ledger: Pendo's values of a model's fields, copied
page by page (one row per record: its id, and each field's value as JSON text), so that the
warehouse matches them to the model's rows by id (Pendo's order is not the warehouse's, and
neither side is held in memory); and a list of ids (records to adopt or to forget). Both are
loaded in bulk (dbt/loaders.py)."""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..dbt.artifacts import ModelNode
from ..ledger.store import Ledger
from ..pendo.client import PendoClient
from ..pendo.reading import read_values
from ..targets.base import ReadBackField

TABLE_PREFIX = "pendo_sync_read_"
SAMPLED_IDS = 1_000  # ids kept (a uniform sample) to cut the copy into ranges
PART_ROWS = 100_000  # records per range compared at once where the warehouse's memory is ours

# A page of records read from Pendo: (record id, {group: {field: value}}).
PendoPage = Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]
# A range of ids (lo, hi]: None is open-ended.
IdRange = tuple[str | None, str | None]


def table_name(model: ModelNode, kind: str) -> str:
    """A table name unique to the model and kind, within identifier length limits."""
    digest = hashlib.sha1(model.unique_id.encode()).hexdigest()[:8]
    return f"{TABLE_PREFIX}{kind}{model.name[:26].lower()}_{digest}"


class TextTable:
    """A table of ours of text columns (`__rid`, then `v0`, `v1`...) beside the ledger."""

    def __init__(self, ledger: Ledger, name: str, width: int) -> None:
        self._w = ledger.warehouse
        self._dialect = ledger.dialect
        self.table = self._w.table(ledger.location.database, ledger.location.schema, name)
        self.width = width

    def create(self) -> None:
        """An empty table (one a stopped run left is replaced)."""
        w = self._w
        string = w.macro("type_string")
        columns = ", ".join([f"__rid {string}", *(f"v{i} {string}" for i in range(self.width - 1))])
        w.drop_table(self.table)
        w.execute(self._dialect.create_table(w, self.table, columns))

    def load(self, rows: Iterable[Sequence[str | None]]) -> int:
        return self._w.load(self.table, self.width, rows)

    def drop(self) -> None:
        self._w.drop_table(self.table)


class PendoCopy(TextTable):
    """The copy of one model's records in Pendo, and a sample of their ids."""

    def __init__(
        self, ledger: Ledger, model: ModelNode, fields: Sequence[ReadBackField], part_rows: int = PART_ROWS
    ) -> None:
        super().__init__(ledger, table_name(model, ""), 1 + len(fields))
        self.fields = tuple(fields)
        self._part_rows = part_rows
        self.records = 0
        self._sample: list[str] = []
        self._random = random.Random(0)

    def read(self, client: PendoClient, kind: str) -> None:
        """Every record of the kind in Pendo, with the fields' values, read as it streams."""
        self.add(read_values(client, kind, [(f.group, f.field) for f in self.fields]))

    def add(self, pages: Iterable[PendoPage]) -> None:
        """Every record of the pages."""
        self.load(self._rows(pages))

    def _rows(self, pages: Iterable[PendoPage]) -> Iterator[list[str | None]]:
        for page in pages:
            for rid, groups in page:
                self._keep(rid)
                values: list[str | None] = [rid]
                for f in self.fields:
                    held = groups.get(f.group, {})
                    values.append(json.dumps(held[f.field]) if f.field in held else None)
                yield values

    def _keep(self, rid: str) -> None:
        """A uniform sample of the ids (reservoir sampling)."""
        self.records += 1
        if len(self._sample) < SAMPLED_IDS:
            self._sample.append(rid)
        elif (slot := self._random.randrange(self.records)) < SAMPLED_IDS:
            self._sample[slot] = rid

    def ranges(self) -> list[IdRange]:
        """Ranges of ids of about `part_rows` records each where the warehouse runs in this
        process (one hash join of every record would take its whole memory); one range,
        every id, elsewhere. The bounds are put in order by the warehouse itself, so the
        ranges cover every id once whatever its collation."""
        parts = -(-self.records // self._part_rows)
        if not self._w.in_process or parts < 2:
            return [(None, None)]
        picked = sorted(set(self._sample))
        bounds = {picked[len(picked) * i // parts] for i in range(1, parts)}
        w = self._w
        listed = ", ".join(map(w.literal, sorted(bounds)))
        ordered = [
            str(b)
            for (b,) in w.query(
                f"select distinct __rid from {self.table} where __rid in ({listed}) order by 1"
            )
        ]
        edges: list[str | None] = [None, *ordered, None]
        return list(zip(edges[:-1], edges[1:], strict=True))


class IdList(TextTable):
    """A list of record ids of a model, spooled to a file while they are found (a stream
    must not be interrupted by a load on its connection), then loaded."""

    def __init__(self, ledger: Ledger, model: ModelNode, kind: str) -> None:
        super().__init__(ledger, table_name(model, kind), 1)
        self.count = 0
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, rid: str) -> None:
        self._spool.write(json.dumps(rid) + "\n")
        self.count += 1

    def load_spooled(self) -> None:
        """The table, with every id added."""
        self.create()
        self._spool.seek(0)
        self.load([json.loads(line)] for line in self._spool)

    def drop(self) -> None:
        self._spool.close()
        super().drop()
