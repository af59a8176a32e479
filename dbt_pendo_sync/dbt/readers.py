"""How rows of a query come out of each kind of warehouse connection, in chunks of bounded
size (flat memory whatever the table's size). Picked by dbt's adapter type; an adapter whose
connection cannot stream is an error that names it, never a fallback that loads a whole
table into memory (as `adapter.execute(fetch=True)` and `dbt show` do)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from ..errors import WarehouseError

# Adapters whose connection handle is a DB-API 2.0 connection (cursor().fetchmany).
DBAPI_ADAPTERS = frozenset(
    {"duckdb", "postgres", "redshift", "snowflake", "databricks", "sqlserver", "fabric", "synapse", "mysql"}
)
_cursor_names = itertools.count()


class RowReader(Protocol):
    """Streams the rows of one query from a connection handle of its adapter."""

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        """The query's rows in chunks of at most `fetch_rows`."""
        ...


class DbapiReader:
    """A DB-API cursor's `fetchmany`; a server-side cursor where the driver has one
    (psycopg2: named, WITH HOLD), so the warehouse keeps the rows until they are fetched."""

    def __init__(self, adapter_type: str) -> None:
        self.adapter_type = adapter_type

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        cursor, owned = self._cursor(handle)
        try:
            cursor.execute(sql)
            while True:
                rows = cursor.fetchmany(fetch_rows)
                if not rows:
                    return
                yield rows
        finally:
            if owned:
                _close_quietly(cursor)

    def _cursor(self, handle: Any) -> tuple[Any, bool]:
        """A cursor, and whether it is a server-side one of ours (to be closed after use).

        A plain cursor is left open: some adapters (dbt-duckdb) hand out the connection's
        one shared cursor, and closing it would close the connection."""
        if not callable(getattr(handle, "cursor", None)):
            raise cannot_stream(self.adapter_type)
        name = f"dbt_pendo_sync_{next(_cursor_names)}"
        for kwargs in ({"name": name, "withhold": True}, {"name": name}):
            try:  # WITH HOLD: valid whatever transaction state dbt left the driver in
                return handle.cursor(**kwargs), True
            except TypeError:
                continue
        cursor = handle.cursor()
        if not callable(getattr(cursor, "fetchmany", None)):
            raise cannot_stream(self.adapter_type)
        return cursor, False


class SparkReader:
    """Spark (dbt-spark's `session` method): the query runs as a DataFrame of the process's
    SparkSession, and rows come to Python a partition at a time (`toLocalIterator`)."""

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        rows = spark.sql(sql).toLocalIterator(prefetchPartitions=True)
        while True:
            chunk = [tuple(row) for row in itertools.islice(rows, fetch_rows)]
            if not chunk:
                return
            yield chunk


class BigQueryReader:
    """BigQuery (dbt-bigquery's handle is a `google.cloud.bigquery.Client`): the query's
    result, a page of `fetch_rows` rows at a time."""

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        job = handle.query(sql)
        for page in job.result(page_size=fetch_rows).pages:
            chunk = [tuple(row.values()) for row in page]
            if chunk:
                yield chunk


def reader_for(adapter_type: str) -> RowReader:
    """The reader for a dbt adapter type: Spark and BigQuery have their own; DB-API adapters
    (and adapters not known here, checked when they first read) use fetchmany."""
    if adapter_type == "spark":
        return SparkReader()
    if adapter_type == "bigquery":
        return BigQueryReader()
    return DbapiReader(adapter_type)


def cannot_stream(adapter_type: str) -> WarehouseError:
    """The error for an adapter whose connection offers no way to stream rows."""
    return WarehouseError(
        f"the {adapter_type} adapter's connection has no DB-API cursor to stream rows from, "
        "and dbt-pendo-sync will not load whole tables into memory: it reads "
        f"{', '.join(sorted(DBAPI_ADAPTERS | {'spark', 'bigquery'}))}. Ask for a reader for "
        f"{adapter_type} in the project's issues"
    )


def _close_quietly(cursor: Any) -> None:
    try:
        cursor.close()
    except Exception:  # closing a cursor after a failed query must not hide that failure
        pass
