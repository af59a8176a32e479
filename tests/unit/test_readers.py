"""Rows come out of every kind of connection in bounded chunks, or the run stops with an
error naming the adapter: never a whole table loaded into memory."""

from __future__ import annotations

import sqlite3

import pytest

from dbt_pendo_sync.dbt.readers import BigQueryReader, DbapiReader, SparkReader, reader_for
from dbt_pendo_sync.errors import WarehouseError


def test_the_reader_follows_the_adapter_type():
    assert isinstance(reader_for("spark"), SparkReader)
    assert isinstance(reader_for("bigquery"), BigQueryReader)
    for adapter in ("duckdb", "postgres", "snowflake", "redshift", "databricks", "sqlserver"):
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
