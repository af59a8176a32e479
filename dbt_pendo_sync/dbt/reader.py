"""A built model's rows, read for the engine: id first, then the mapped columns."""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

from ..pendo.fields import InvalidValue, record_id
from .artifacts import ModelNode
from .warehouse import Warehouse


class RelationReader:
    """Streams a model's relation: `select id, col... from relation` (a RowSource)."""

    def __init__(self, warehouse: Warehouse, model: ModelNode, id_column: str,
                 mapping: Mapping[str, str]) -> None:
        self._warehouse = warehouse
        self._id_column = id_column
        self._columns = list(mapping)
        self.relation = str(warehouse.relation(model))
        self.fields: Sequence[str] = [mapping[c] for c in self._columns]

    def duplicate_ids(self) -> set[str]:
        """Ids on more than one row, found by the warehouse (Python never holds all ids)."""
        col = self._warehouse.quote(self._id_column)
        sql = (f"select {col} from {self.relation} where {col} is not null "
               f"group by {col} having count(*) > 1")
        ids = set()
        for (value,) in self._warehouse.query(sql):
            try:
                ids.add(record_id(value))
            except InvalidValue:
                continue  # blank ids are invalid on their own
        return ids

    def chunks(self) -> Iterator[Sequence[tuple]]:
        """The rows, streamed in chunks."""
        sql = (f"select {', '.join(self._warehouse.quote(c) for c in [self._id_column, *self._columns])} "
               f"from {self.relation}")
        return self._warehouse.stream(sql)
