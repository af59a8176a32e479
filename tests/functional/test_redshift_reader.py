"""Redshift's reader with the real redshift_connector, on the tests' PostgreSQL server through
support/redshift.py's relay (the sync itself runs through dbt-redshift in
test_incremental.py): rows come in chunks through a cursor of the server's, not from the
driver's copy of the whole result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redshift_connector

from dbt_pendo_sync.dbt.readers import RedshiftReader, reader_for

from ..support.postgres import PostgresServer
from ..support.redshift import REDSHIFT_ONLY, RedshiftRelay

ROWS = "select i, 'n' || i from generate_series(1, 25) as t(i) order by i"


def connect(server: PostgresServer, port: int) -> Any:
    return redshift_connector.connect(
        host=server.host, port=port, user=server.user, password="trust", database=server.dbname, ssl=False
    )


@pytest.fixture
def con(postgres: PostgresServer, redshift_relay: RedshiftRelay) -> Iterator[Any]:
    """A connection as dbt-redshift opens it (autocommit, its default)."""
    connection = connect(postgres, redshift_relay.port)
    connection.autocommit = True
    yield connection
    connection.close()


def open_cursors(con: Any) -> list[str]:
    """The reader's cursors open in the session (not the unnamed portal of this query)."""
    cursor = con.cursor()
    cursor.execute("select name from pg_cursors where name like 'dbt_pendo_sync_%'")
    return [name for (name,) in cursor.fetchall()]


def test_postgresql_refuses_redshift_connectors_start_up_settings(postgres: PostgresServer):
    with pytest.raises(redshift_connector.ProgrammingError, match='parameter "client_protocol_version"'):
        connect(postgres, postgres.port)


def test_the_relay_drops_only_the_redshift_only_settings(con: Any, redshift_relay: RedshiftRelay):
    assert set(redshift_relay.dropped) == REDSHIFT_ONLY


def test_rows_come_through_a_server_cursor_in_chunks_in_a_transaction_of_the_readers(con: Any):
    assert isinstance(reader_for("redshift"), RedshiftReader)
    stream = RedshiftReader().stream(con, ROWS, 10)

    first = next(stream)
    assert len(first) == 10 and tuple(first[0]) == (1, "n1")
    assert con.in_transaction and len(open_cursors(con)) == 1  # DECLARE ... CURSOR, FETCH 10
    rest = list(stream)

    assert [len(c) for c in [first, *rest]] == [10, 10, 5]
    assert [tuple(r) for c in [first, *rest] for r in c] == [(i, f"n{i}") for i in range(1, 26)]
    assert not con.in_transaction and open_cursors(con) == []


def test_a_consumer_that_stops_early_leaves_no_transaction_open(con: Any):
    stream = RedshiftReader().stream(con, ROWS, 10)
    next(stream)
    stream.close()
    assert not con.in_transaction and open_cursors(con) == []


def test_inside_an_open_transaction_the_cursor_lives_in_it(con: Any):
    con.autocommit = False
    con.cursor().execute("select 1")  # the driver begins the transaction
    chunks = list(RedshiftReader().stream(con, ROWS, 25))
    assert [len(c) for c in chunks] == [25]
    assert con.in_transaction  # still the caller's to end
    con.rollback()
