"""How rows of a query come out of each kind of warehouse connection, in chunks of bounded
size (flat memory whatever the table's size). Picked by dbt's adapter type; an adapter whose
connection cannot stream is an error that names it, never a fallback that loads a whole
table into memory (as `adapter.execute(fetch=True)` and `dbt show` do)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import WarehouseError
from .duckdb_memory import bound_memory

# Adapters whose connection handle is a DB-API 2.0 connection (cursor().fetchmany), or
# (Databricks) wraps one.
DBAPI_ADAPTERS = frozenset(
    {"duckdb", "postgres", "redshift", "snowflake", "databricks", "sqlserver", "fabric", "synapse", "mysql"}
)
_cursor_names = itertools.count()
# Rows per fetch from DuckDB, below the warehouse's chunk size: DuckDB runs in this process, so
# a fetch costs no round trip, and each fetched row is a tuple of Python objects held until
# its chunk is sent (10,000 rows: about 8 MB; 2,000: under 2 MB).
DUCKDB_FETCH_ROWS = 2_000
# Spark's JVM logs through log4j2 to the process's stderr; this configuration drops every line.
SPARK_LOG4J2 = Path(__file__).with_name("spark-log4j2.properties")


class RowReader(Protocol):
    """Streams the rows of one query from a connection handle of its adapter."""

    in_process: bool  # the warehouse runs in this process: its memory is ours

    def prepare(self, handle: Any) -> str | None:
        """Ready a just-opened connection handle, before any query runs on it; a line for
        the debug log on how, if anything is worth saying."""
        ...

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        """The query's rows in chunks of at most `fetch_rows`."""
        ...


class DbapiReader:
    """A DB-API cursor's `fetchmany`; a server-side cursor where the driver has one
    (psycopg2: named, WITH HOLD), so the warehouse keeps the rows until they are fetched."""

    in_process = False

    def __init__(self, adapter_type: str) -> None:
        self.adapter_type = adapter_type

    def prepare(self, handle: Any) -> str | None:
        """Nothing to ready."""
        return None

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


class DuckDbReader(DbapiReader):
    """DuckDB, which runs in this process: `fetchmany` in small chunks, with the session's
    memory bounded where the profile sets no limit (duckdb_memory.py)."""

    in_process = True

    def __init__(self, credentials: Any = None) -> None:
        super().__init__("duckdb")
        self._settings = getattr(credentials, "settings", None)

    def prepare(self, handle: Any) -> str | None:
        return bound_memory(handle, self._settings).describe()

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        """The query's rows in chunks of at most DUCKDB_FETCH_ROWS (or `fetch_rows`, if fewer)."""
        return super().stream(handle, sql, min(fetch_rows, DUCKDB_FETCH_ROWS))


class RedshiftReader:
    """Redshift (dbt-redshift's handle is a redshift_connector connection), whose cursors read
    a query's whole result into memory on `execute`, so that `fetchmany` only slices it: the
    rows come through a cursor of the server's instead, `DECLARE ... CURSOR` then
    `FETCH FORWARD n` per chunk. Redshift keeps a cursor inside a transaction: the reader
    begins one (and ends it) when the connection is in none, as with dbt-redshift's default
    `autocommit`; otherwise the cursor lives in the transaction already open."""

    in_process = False

    def prepare(self, handle: Any) -> str | None:
        """Nothing to ready."""
        return None

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        name = f"dbt_pendo_sync_{next(_cursor_names)}"
        cursor = handle.cursor()
        own = bool(getattr(handle, "autocommit", False)) and not getattr(handle, "in_transaction", False)
        try:
            if own:
                cursor.execute("begin")
            cursor.execute(f"declare {name} cursor for {sql}")
            while True:
                cursor.execute(f"fetch forward {int(fetch_rows)} from {name}")
                rows = cursor.fetchall()
                if not rows:
                    break
                yield rows
            cursor.execute(f"close {name}")
        finally:  # a read only: ending the transaction the reader began loses nothing
            if own:
                _end_quietly(cursor, "rollback")
            _close_quietly(cursor)


class DatabricksReader:
    """dbt-databricks. Its connection handle (DatabricksHandle, from 1.9) wraps
    databricks-sql-connector's connection and has no `cursor()`: its `execute` runs the query
    on a cursor of its own and returns it wrapped, with `fetchmany` (the connector fetches the
    result a batch at a time). A handle with a `cursor()` (older versions) is a DB-API one."""

    in_process = False

    def prepare(self, handle: Any) -> str | None:
        """Nothing to ready."""
        return None

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        if callable(getattr(handle, "cursor", None)) or not callable(getattr(handle, "execute", None)):
            yield from DbapiReader("databricks").stream(handle, sql, fetch_rows)
            return
        cursor = handle.execute(sql)
        try:
            while rows := cursor.fetchmany(fetch_rows):
                yield rows
        finally:
            _close_quietly(cursor)


class SparkReader:
    """Spark. dbt-spark's `session` method: the query runs as a DataFrame of the process's
    SparkSession, and rows come to Python a partition at a time (`toLocalIterator`). Its
    other methods (thrift, http, odbc) wrap a DB-API connection, read with `fetchmany`."""

    in_process = False  # the JVM's memory is its own

    def prepare(self, handle: Any) -> str | None:
        """Start the process's SparkSession, quiet, unless one runs already (dbt-spark would
        start it on the first query with Spark's console logging and progress bar)."""
        params = _session_parameters(handle)
        if params is not None:
            spark_session(params)
        return None

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        params = _session_parameters(handle)
        if params is None:
            yield from DbapiReader("spark").stream(getattr(handle, "handle", handle), sql, fetch_rows)
            return
        rows = spark_session(params).sql(sql).toLocalIterator(prefetchPartitions=True)
        while True:
            chunk = [tuple(row) for row in itertools.islice(rows, fetch_rows)]
            if not chunk:
                return
            yield chunk


def _session_parameters(handle: Any) -> dict[str, str] | None:
    """The profile's `server_side_parameters` of a dbt-spark `session` connection handle (a
    wrapper of a Connection that holds them); None for the other methods' handles."""
    params = getattr(getattr(handle, "handle", None), "server_side_parameters", None)
    return dict(params) if isinstance(params, Mapping) else None


def spark_session(params: Mapping[str, str]) -> Any:
    """The process's SparkSession; when none runs, started as dbt-spark starts it (Hive
    catalog, the profile's `server_side_parameters`), and quiet: no console progress bar, and
    no log line of the JVM's (SPARK_LOG4J2, unless the profile names a log4j2 configuration)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf = {"spark.ui.showConsoleProgress": "false", **params}
    java_options = conf.get("spark.driver.extraJavaOptions", "")
    if "log4j2.configurationFile" not in java_options:
        conf["spark.driver.extraJavaOptions"] = (
            f"{java_options} -Dlog4j2.configurationFile={SPARK_LOG4J2.as_uri()}".strip()
        )
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class BigQueryReader:
    """BigQuery (dbt-bigquery's handle is a `google.cloud.bigquery.Client`): the query's
    result, a page of at most `fetch_rows` rows at a time (BigQuery may send fewer).

    The profile's job settings apply as they do to dbt's own queries: `maximum_bytes_billed`
    (BigQuery fails a query that would bill more), `priority` (interactive or batch) and
    `job_execution_timeout_seconds` (`credentials`: the adapter's profile credentials)."""

    in_process = False

    def __init__(self, credentials: Any = None) -> None:
        self._bytes_billed = getattr(credentials, "maximum_bytes_billed", None)
        priority = getattr(credentials, "priority", None)
        self._priority = str(getattr(priority, "value", priority)).upper() if priority else None
        self._timeout = getattr(credentials, "job_execution_timeout_seconds", None)

    def prepare(self, handle: Any) -> str | None:
        """Nothing to ready: the client makes its HTTP session on the first request."""
        return None

    def stream(self, handle: Any, sql: str, fetch_rows: int) -> Iterator[Sequence[tuple]]:
        from google.cloud.bigquery import QueryJobConfig

        config = QueryJobConfig(use_legacy_sql=False)
        if self._bytes_billed:
            config.maximum_bytes_billed = int(self._bytes_billed)
        if self._priority:
            config.priority = self._priority
        job = handle.query(sql, job_config=config)
        for page in job.result(page_size=fetch_rows, timeout=self._timeout).pages:
            # tuple(row), not row.values(): values() deep-copies every row (8x slower).
            chunk = [tuple(row) for row in page]
            if chunk:
                yield chunk


def reader_for(adapter_type: str, credentials: Any = None) -> RowReader:
    """The reader for a dbt adapter type: Spark, BigQuery, Databricks and Redshift have their
    own; DB-API adapters (and adapters not known here, checked when they first read) use
    fetchmany. `credentials` (the profile's) carry settings a reader applies to its queries."""
    if adapter_type == "spark":
        return SparkReader()
    if adapter_type == "bigquery":
        return BigQueryReader(credentials)
    if adapter_type == "databricks":
        return DatabricksReader()
    if adapter_type == "redshift":
        return RedshiftReader()
    if adapter_type == "duckdb" and _duckdb_in_process(credentials):
        return DuckDbReader(credentials)
    return DbapiReader(adapter_type)


def _duckdb_in_process(credentials: Any) -> bool:
    """Whether dbt-duckdb runs DuckDB in this process: not a remote server's (`remote:`) nor
    MotherDuck's, whose memory is theirs."""
    if credentials is None or getattr(credentials, "remote", None):
        return False
    return not getattr(credentials, "is_motherduck", False)


def cannot_stream(adapter_type: str) -> WarehouseError:
    """The error for an adapter whose connection offers no way to stream rows."""
    return WarehouseError(
        f"the {adapter_type} adapter's connection has no DB-API cursor to stream rows from, "
        "and dbt-pendo-sync will not load whole tables into memory: it reads "
        f"{', '.join(sorted(DBAPI_ADAPTERS | {'spark', 'bigquery'}))}. Ask for a reader for "
        f"{adapter_type} in the project's issues"
    )


def _end_quietly(cursor: Any, statement: str) -> None:
    """End the reader's own transaction; a failure here must not hide the query's."""
    try:
        cursor.execute(statement)
    except Exception:  # driver errors have no common base class
        pass


def _close_quietly(cursor: Any) -> None:
    try:
        cursor.close()
    except Exception:  # closing a cursor after a failed query must not hide that failure
        pass
