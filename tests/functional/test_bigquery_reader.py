"""BigQuery reads, with the real google-cloud-bigquery client talking HTTP to a local stand-in
of BigQuery's REST API (tests/support/bigquery_standin.py): chunks, lazy paging, Python types,
errors; then through the user's own dbt-bigquery adapter (built offline from
tests/fixtures/bigquery_project, its client pointed at the stand-in): the Warehouse's reads
and error wrapping, and the BigQuery SQL that dbt renders for the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from dbt_pendo_sync.dbt.readers import BigQueryReader, reader_for
from dbt_pendo_sync.errors import WarehouseError

from ..support.bigquery_standin import BigQueryStandin, Column
from ..support.offline import offline_warehouse, sample_merge

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "bigquery_project"
UTC = dt.timezone.utc
ACCOUNTS = [Column("id", "INT64"), Column("name", "STRING")]


def accounts(n: int) -> list[tuple[int, str]]:
    return [(i, f"account {i}") for i in range(n)]


def connect(standin: BigQueryStandin) -> bigquery.Client:
    """The real client, as dbt-bigquery makes it, pointed at the stand-in."""
    return bigquery.Client(
        project=standin.project,
        credentials=AnonymousCredentials(),
        location=standin.location,
        client_options={"api_endpoint": standin.endpoint},
    )


@pytest.fixture
def standin() -> Iterator[BigQueryStandin]:
    with BigQueryStandin() as server:
        yield server


@pytest.fixture
def client(standin: BigQueryStandin) -> Iterator[bigquery.Client]:
    bq = connect(standin)
    yield bq
    bq.close()


def read(client: bigquery.Client, sql: str, fetch_rows: int) -> Iterator[Any]:
    return BigQueryReader().stream(client, sql, fetch_rows)


def read_all(standin: BigQueryStandin, sql: str, fetch_rows: int) -> list[Any]:
    """Every chunk of a query, through a client of its own."""
    client = connect(standin)
    try:
        return list(read(client, sql, fetch_rows))
    finally:
        client.close()


def test_bigquery_adapter_gets_the_bigquery_reader() -> None:
    assert isinstance(reader_for("bigquery"), BigQueryReader)


def test_every_row_arrives_in_order_in_chunks_of_at_most_fetch_rows(
    standin: BigQueryStandin, client: bigquery.Client
) -> None:
    standin.add_table("accounts", ACCOUNTS, accounts(25))

    chunks = list(read(client, "select id, name from `standin-project`.`analytics`.`accounts`", 10))

    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [row for chunk in chunks for row in chunk] == accounts(25)
    assert all(type(row) is tuple for chunk in chunks for row in chunk)
    # The client's calls: the job, its status, then one getQueryResults per page.
    assert [r.kind for r in standin.requests] == [
        "jobs.insert",
        "jobs.get",
        "jobs.getQueryResults",
        "jobs.getQueryResults",
        "jobs.getQueryResults",
    ]
    assert [r.params["maxResults"] for r in standin.calls("jobs.getQueryResults")] == ["10"] * 3
    assert standin.unhandled == []
    assert standin.rows_served == 25


def test_the_query_runs_as_googlesql_not_legacy_sql(
    standin: BigQueryStandin, client: bigquery.Client
) -> None:
    standin.add_table("accounts", ACCOUNTS, accounts(1))
    list(read(client, "select * from `standin-project`.`analytics`.`accounts`", 10))

    (insert,) = standin.calls("jobs.insert")
    assert insert.body["configuration"]["query"]["useLegacySql"] is False


def test_pages_are_fetched_only_as_chunks_are_consumed(
    standin: BigQueryStandin, client: bigquery.Client
) -> None:
    standin.add_table("accounts", ACCOUNTS, accounts(1000))
    stream = read(client, "select * from `standin-project`.`analytics`.`accounts`", 100)

    assert standin.requests == []  # nothing runs before the first chunk is asked for
    first = next(stream)
    assert len(first) == 100
    assert (standin.rows_served, len(standin.calls("jobs.getQueryResults"))) == (100, 1)
    second = next(stream)
    assert second[0] == (100, "account 100")
    assert (standin.rows_served, len(standin.calls("jobs.getQueryResults"))) == (200, 2)

    assert isinstance(stream, Generator)
    stream.close()  # a consumer that stops early: the other 800 rows are never fetched
    assert standin.rows_served == 200
    assert len(standin.calls("jobs.getQueryResults")) == 2


def test_all_rows_arrive_when_bigquery_sends_shorter_pages_than_asked() -> None:
    with BigQueryStandin(page_cap=4) as standin:  # as BigQuery cuts a page at ~10 MB
        standin.add_table("accounts", ACCOUNTS, accounts(25))
        chunks = read_all(standin, "select * from accounts", 10)

    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4, 4, 1]
    assert [row for chunk in chunks for row in chunk] == accounts(25)


def test_a_query_still_running_is_waited_for() -> None:
    with BigQueryStandin(running_polls=3) as standin:
        standin.add_table("accounts", ACCOUNTS, accounts(3))
        chunks = read_all(standin, "select * from accounts", 10)

    assert chunks == [accounts(3)]
    assert len(standin.calls("jobs.get")) == 4  # RUNNING three times, then DONE


def test_an_empty_result_yields_no_chunk(standin: BigQueryStandin, client: bigquery.Client) -> None:
    standin.add_table("accounts", ACCOUNTS, [])

    assert list(read(client, "select * from accounts where false", 10)) == []


TYPED = [
    Column("c_int", "INT64"),
    Column("c_float", "FLOAT64"),
    Column("c_numeric", "NUMERIC"),
    Column("c_bignumeric", "BIGNUMERIC"),
    Column("c_bool", "BOOL"),
    Column("c_string", "STRING"),
    Column("c_bytes", "BYTES"),
    Column("c_date", "DATE"),
    Column("c_datetime", "DATETIME"),
    Column("c_time", "TIME"),
    Column("c_timestamp", "TIMESTAMP"),
    Column("c_json", "JSON"),
    Column(
        "c_record",
        "RECORD",
        fields=(Column("plan", "STRING"), Column("seats", "INT64"), Column("tags", "STRING", "REPEATED")),
    ),
    Column("c_ints", "INT64", "REPEATED"),
    Column("c_records", "RECORD", "REPEATED", fields=(Column("k", "STRING"), Column("v", "FLOAT64"))),
]
TS = dt.datetime(2024, 3, 1, 12, 34, 56, 123456, tzinfo=UTC)
TYPED_ROW = (
    2**62 + 1,  # beyond a float's exact range: must stay an exact int
    0.1,
    Decimal("12345678901234567890123456789.123456789"),
    Decimal("0.12345678901234567890123456789012345678"),
    False,
    "Zoë's ☃",
    b"\x00\xffbin",
    dt.date(2024, 2, 29),
    dt.datetime(2024, 3, 1, 12, 34, 56, 5),
    dt.time(23, 59, 58, 250000),
    TS,
    {"plan": "pro", "flags": [1, True, None], "nested": {"a": 1.5}},
    {"plan": "enterprise", "seats": 40, "tags": ["a", "b"]},
    [3, 1, 2],
    [{"k": "x", "v": 1.5}, {"k": "y", "v": None}],
)


def test_values_come_out_as_python_values_a_sync_can_use(
    standin: BigQueryStandin, client: bigquery.Client
) -> None:
    standin.add_table("typed", TYPED, [TYPED_ROW, (None,) * len(TYPED)])

    (chunk,) = list(read(client, "select * from `standin-project`.`analytics`.`typed`", 10))
    values, nulls = chunk

    assert values == TYPED_ROW
    types = [type(v) for v in values]
    assert types == [
        int,
        float,
        Decimal,
        Decimal,
        bool,
        str,
        bytes,
        dt.date,
        dt.datetime,
        dt.time,
        dt.datetime,
        dict,  # JSON: the client parses it (json.loads), nested types and all
        dict,  # RECORD: {field: value}
        list,  # REPEATED
        list,
    ]
    assert values[10].tzinfo is not None and values[10].utcoffset() == dt.timedelta(0)  # TIMESTAMP
    assert values[8].tzinfo is None  # DATETIME is a wall-clock time, naive as BigQuery has it
    assert values[12]["tags"] == ["a", "b"] and values[14][1] == {"k": "y", "v": None}
    # NULLs are None, but a NULL array is an empty one (BigQuery stores no NULL arrays)
    assert nulls == (None,) * 13 + ([], [])


def test_an_unknown_table_is_bigquerys_not_found_error(
    standin: BigQueryStandin, client: bigquery.Client
) -> None:
    with pytest.raises(google_exceptions.NotFound) as raised:
        list(read(client, "select * from `standin-project`.`analytics`.`missing`", 10))

    message = str(raised.value)
    assert message.startswith(
        "404 Not found: Table standin-project:analytics.missing was not found in location US"
    )
    assert "Job ID:" in message
    # The failed job was found by its status; its results were never asked for.
    assert [r.kind for r in standin.requests] == ["jobs.insert", "jobs.get"]


# -- through the user's dbt-bigquery adapter ---------------------------------------------------


@pytest.fixture(scope="module")
def dbt_standin() -> Iterator[BigQueryStandin]:
    with BigQueryStandin() as server:
        yield server


@pytest.fixture(scope="module")
def warehouse(dbt_standin: BigQueryStandin) -> Iterator[Any]:
    """A Warehouse over dbt-bigquery's adapter, built from a profile that needs no network
    (`oauth-secrets` with a fixed token), its `api_endpoint` the stand-in."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BIGQUERY_STANDIN_ENDPOINT", dbt_standin.endpoint)
        with offline_warehouse(PROJECT) as w:
            yield w


def test_the_warehouse_streams_through_dbt_bigquerys_own_client(
    dbt_standin: BigQueryStandin, warehouse: Any
) -> None:
    dbt_standin.add_table("accounts", ACCOUNTS, accounts(7))
    dbt_standin.reset_counts()

    with warehouse.connection() as w:
        chunks = list(w.stream("select id, name from `standin-project`.`analytics`.`accounts`", 3))

    assert warehouse.adapter_type == "bigquery"
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [row for chunk in chunks for row in chunk] == accounts(7)
    (insert,) = dbt_standin.calls("jobs.insert")
    assert "dbt-bigquery-" in insert.headers["user-agent"]  # the adapter's client, not one of ours
    assert insert.headers["authorization"] == "Bearer standin-token"
    # The profile's job settings, as dbt applies them to its own queries.
    query = insert.body["configuration"]["query"]
    assert (query["maximumBytesBilled"], query["priority"]) == ("1000000000", "BATCH")


def test_a_failed_query_is_a_warehouse_error_naming_the_table_and_sql(
    dbt_standin: BigQueryStandin, warehouse: Any
) -> None:
    sql = "select * from `standin-project`.`analytics`.`missing`"
    with warehouse.connection() as w, pytest.raises(WarehouseError) as raised:
        w.query(sql)

    message = str(raised.value)
    assert message.startswith(
        "query failed: 404 Not found: Table standin-project:analytics.missing was not found in location US"
    )
    assert message.endswith(f"\n  SQL: {sql}")


def test_dbt_renders_the_ledgers_sql_in_bigquerys_dialect(warehouse: Any) -> None:
    from dbt_pendo_sync.ledger.snapshot import _fingerprint_sql

    w = warehouse
    assert w.macro("type_string") == "string"
    assert w.macro("type_timestamp") == "timestamp"
    assert w.macro("type_bigint") == "bigint"  # GoogleSQL's alias of INT64
    assert w.macro("current_timestamp") == "current_timestamp()"
    assert w.macro("hash", field="x") == "to_hex(md5(cast(x as string)))"
    assert w.macro("concat", fields=["a", "b"]) == "a || b"
    assert w.quote("id") == "`id`"
    assert w.literal("it's") == "'it\\'s'"  # BigQuery escapes quotes with a backslash

    table = w.table("standin-project", "analytics", "pendo_sync_snap_x")
    assert str(table) == "`standin-project`.`analytics`.`pendo_sync_snap_x`"
    ddl = " ".join(
        w.macro("create_table_as", temporary=False, relation=table, compiled_code="select 1").split()
    )
    assert ddl == (
        "create or replace table `standin-project`.`analytics`.`pendo_sync_snap_x` OPTIONS() as ( select 1 );"
    )

    fp = _fingerprint_sql(w, "visitor", {"acct id": "accountId", "plan": "plan"}, clear={"plan"})
    sep = "\x1f"
    assert fp == (
        f"to_hex(md5(cast('1{sep}visitor' || "
        f"case when `acct id` is null then '' else '{sep}accountId=' || cast(`acct id` as string) end || "
        f"case when `plan` is null then '{sep}plan:null' else '{sep}plan=' || cast(`plan` as string) end"
        " as string)))"
    )


def test_the_ledgers_merge_is_one_bigquery_transaction(warehouse: Any) -> None:
    """dbt-bigquery's begin and commit do nothing, so the merge's statements go as one script
    in BigQuery's own transaction: all of them or none."""
    from dbt_pendo_sync.ledger.dialect import TransactionalDialect, dialect_for

    w = warehouse
    merge = sample_merge(w, "standin-project", "analytics")
    (script,) = w.statements("pendo_sync_merge", journal=merge.journal, **merge.macro_args())
    lines = script.split("\n")
    assert lines[0] == "begin transaction;"
    assert lines[-1] == "commit transaction;"
    assert [line.split(" ")[0] for line in lines[1:-1]] == ["delete", "insert", "delete", "delete"]
    assert lines[-3] == (  # only the records that left the model: the snapshot lacks the unchanged
        "delete from `standin-project`.`analytics`.`pendo_sync_state` where model_id = 'model.p.m' and "
        "record_id in (select s.__rid from `standin-project`.`analytics`.`pendo_sync_snap_x` s "
        "where s.__change = 'dropped');"
    )
    assert (
        lines[-2]
        == "delete from `standin-project`.`analytics`.`pendo_sync_journal` where model_id = 'model.p.m';"
    )
    assert type(dialect_for(w)) is TransactionalDialect  # BigQuery tables take DELETE


def test_bigquery_literals_keep_their_backslashes(warehouse: Any) -> None:
    assert warehouse.literal("c:\\new\\it's") == "'c:\\\\new\\\\it\\'s'"


def test_bigquery_identifiers_escape_backticks_with_a_backslash(warehouse: Any) -> None:
    """BigQuery's quoted identifiers take the escapes of its literals: a backtick inside a
    column's name is \\`, never a doubled backtick, and cannot end the quotes."""
    assert warehouse.quote("ro`le") == "`ro\\`le`"
    assert warehouse.quote("c:\\x`") == "`c:\\\\x\\``"
