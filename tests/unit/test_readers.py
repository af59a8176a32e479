"""Rows come out of every kind of connection in bounded chunks, or the run stops with an
error naming the adapter: never a whole table loaded into memory."""

from __future__ import annotations

import sqlite3

import pytest

from dbt_pendo_sync.dbt.readers import (
    BigQueryReader,
    DatabricksReader,
    DbapiReader,
    RedshiftReader,
    SparkReader,
    reader_for,
)
from dbt_pendo_sync.errors import WarehouseError

from ..support.dbapi_standin import StandinConnection


def test_the_reader_follows_the_adapter_type():
    assert isinstance(reader_for("spark"), SparkReader)
    assert isinstance(reader_for("bigquery"), BigQueryReader)
    assert isinstance(reader_for("databricks"), DatabricksReader)
    assert isinstance(reader_for("redshift"), RedshiftReader)
    for adapter in ("duckdb", "postgres", "snowflake", "sqlserver", "fabric", "synapse"):
        assert isinstance(reader_for(adapter), DbapiReader)


def test_a_dbapi_cursor_streams_in_chunks_of_at_most_the_fetch_size():
    con = sqlite3.connect(":memory:")  # a real DB-API driver
    con.execute("create table t (id integer, name text)")
    con.executemany("insert into t values (?, ?)", [(i, f"n{i}") for i in range(25)])
    chunks = list(DbapiReader("sqlite").stream(con, "select id, name from t order by id", 10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert chunks[2][-1] == (24, "n24")


class _NoCursor:
    """A connection handle of an adapter with no DB-API cursor (as BigQuery's client is)."""


def test_a_connection_that_cannot_stream_is_an_error_naming_the_adapter():
    with pytest.raises(WarehouseError) as stopped:
        list(DbapiReader("acme").stream(_NoCursor(), "select 1", 10))
    message = str(stopped.value)
    assert "acme adapter" in message and "will not load whole tables into memory" in message


ROWS = [(i, f"n{i}") for i in range(25)]


@pytest.mark.parametrize("adapter", ["sqlserver", "fabric", "synapse"])
def test_a_pyodbc_connection_streams_in_bounded_chunks_as_they_are_consumed(adapter):
    """dbt-sqlserver's, dbt-fabric's and dbt-synapse's handle is a pyodbc connection, whose
    cursor() takes no name: a plain cursor, read with fetchmany."""
    con = StandinConnection(ROWS)
    stream = reader_for(adapter).stream(con, "select id, name from t", 10)

    first = next(stream)
    assert (len(first), con.rows_out) == (10, 10)  # nothing fetched ahead of the consumer
    chunks = [first, *stream]
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [row for chunk in chunks for row in chunk] == ROWS
    assert con.fetches == [10, 10, 10, 10] and con.queries == ["select id, name from t"]
    assert len(con.cursors) == 1


def test_dbt_databricks_handle_has_no_cursor_so_its_own_reader_streams_through_execute():
    """dbt-databricks's DatabricksHandle (its real class, over a DB-API stand-in of
    databricks-sql-connector's connection) has no cursor(): the DB-API reader cannot use it,
    the Databricks reader reads the cursor its `execute` returns, and closes it."""
    from dbt.adapters.databricks.handle import DatabricksHandle

    con = StandinConnection(ROWS)
    handle = DatabricksHandle(con, is_cluster=False)
    with pytest.raises(WarehouseError, match="databricks adapter's connection has no DB-API cursor"):
        list(DbapiReader("databricks").stream(handle, "select 1", 10))

    chunks = list(reader_for("databricks").stream(handle, "select id, name from t", 10))

    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [row for chunk in chunks for row in chunk] == ROWS
    assert con.fetches == [10, 10, 10, 10]
    assert [c.closed for c in con.cursors] == [True]
