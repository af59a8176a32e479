"""The user's warehouse through their own dbt adapter: column lookups and streaming reads.

Rows stream through the adapter connection's DB-API cursor with `fetchmany`, so memory
stays flat whatever the table size. Drivers that support server-side cursors (psycopg2 and
its kin take a `name`) use one, since their plain cursors load the whole result on execute.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import WarehouseError
from .artifacts import ModelNode

FETCH_ROWS = 10_000
_cursor_names = itertools.count(1)


@dataclass(frozen=True)
class WarehouseColumn:
    """A column of a built relation, with the adapter's name for its type."""

    name: str
    data_type: str


class Warehouse:
    """Reads built models through one dbt adapter connection (main thread only)."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    @property
    def adapter_type(self) -> str:
        """dbt's name of the adapter (duckdb, postgres, snowflake...)."""
        return self._adapter.type()

    @contextmanager
    def connection(self) -> Iterator["Warehouse"]:
        """Hold one named adapter connection open for the reads inside the block."""
        with self._adapter.connection_named("dbt-pendo-sync"):
            yield self

    def relation(self, model: ModelNode) -> Any:
        """The adapter's Relation for a model's built table or view."""
        return self._adapter.Relation.create(
            database=model.database, schema=model.schema, identifier=model.alias
        )

    def columns(self, model: ModelNode) -> list[WarehouseColumn]:
        """The model's real columns; raise WarehouseError when it was never built."""
        relation = self.relation(model)
        try:
            cols = self._adapter.get_columns_in_relation(relation)
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"model {model.name}: cannot read columns of {relation}: {_one_line(exc)}") from None
        if not cols:
            raise WarehouseError(
                f"model {model.name}: relation {relation} does not exist in the warehouse; "
                "run `dbt build` (or `dbt run`) for it first"
            )
        return [WarehouseColumn(c.name, str(c.data_type)) for c in cols]

    def quote(self, identifier: str) -> str:
        """An identifier quoted the way the adapter quotes it."""
        return self._adapter.quote(identifier)

    def _cursor(self) -> tuple[Any, bool]:
        """A cursor, and whether it is a server-side one of ours (to be closed after use).

        A plain cursor is left open: some adapters (dbt-duckdb) hand out the connection's
        one shared cursor, and closing it would close the connection.
        """
        handle = self._adapter.connections.get_thread_connection().handle
        try:
            return handle.cursor(name=f"dbt_pendo_sync_{next(_cursor_names)}"), True
        except TypeError:
            return handle.cursor(), False

    def stream(self, sql: str, fetch_rows: int = FETCH_ROWS) -> Iterator[Sequence[tuple]]:
        """Run a query and yield its rows in chunks of at most `fetch_rows`."""
        cursor, owned = self._cursor()
        try:
            cursor.execute(sql)
            while True:
                rows = cursor.fetchmany(fetch_rows)
                if not rows:
                    return
                yield rows
        except WarehouseError:
            raise
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"query failed: {_one_line(exc)}\n  SQL: {sql[:500]}") from None
        finally:
            if owned:
                _close_quietly(cursor)

    def query(self, sql: str) -> list[tuple]:
        """Run a query with a small result and return all of its rows."""
        return [row for chunk in self.stream(sql) for row in chunk]


def _close_quietly(cursor: Any) -> None:
    try:
        cursor.close()
    except Exception:  # closing a cursor after a failed query must not hide that failure
        pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]
