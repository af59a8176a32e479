"""The package's warehouse SQL (every dispatched macro of dbt_pendo_sync/macros/) as the
adapters with no server here render it: SQL Server, Azure Synapse and Fabric (T-SQL),
Databricks, and Redshift (which also runs end to end on PostgreSQL: test_incremental.py).
Each adapter is built once per module from tests/fixtures/rendered_project, offline."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dbt_pendo_sync.dbt.compat import _package_macros
from dbt_pendo_sync.dbt.warehouse import Warehouse
from dbt_pendo_sync.errors import ConfigError
from dbt_pendo_sync.ledger.dialect import Merge, TransactionalDialect, dialect_for
from dbt_pendo_sync.ledger.snapshot import _fingerprint_sql

from ..support.offline import offline_warehouse, sample_merge

TSQL = ("sqlserver", "synapse", "fabric")
ADAPTERS = (*TSQL, "databricks", "redshift")
SELECT = "select 1 as x"
WHERE = "model_id = 'm'"


@pytest.fixture(scope="module", params=ADAPTERS)
def w(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """The adapter's Warehouse, built once per module. dbt keeps one adapter registered at a
    time, so every test takes every adapter (what differs per adapter is in tables below)."""
    with offline_warehouse(target=request.param) as warehouse:
        assert warehouse.adapter_type == request.param
        yield warehouse


def table(w: Warehouse, name: str) -> Any:
    return w.table("analytics", "pendo", name)


def merge(w: Warehouse) -> Merge:
    return sample_merge(w, "analytics", "pendo")


def _record_json_args(w: Warehouse) -> dict[str, Any]:
    field = {"column": w.quote("plan"), "kind": "text", "key": w.literal('"plan":'), "clear": False}
    id_key = w.literal('{"visitorId":')
    return {"id_key": id_key, "id": {"column": "__id", "kind": "text"}, "fields": [field], "blank": "'x'"}


# Every dispatched macro of the package, with arguments as the sync passes them.
CALLS: dict[str, Callable[[Warehouse], dict[str, Any]]] = {
    "pendo_sync_rewrites_tables": lambda w: {},
    "pendo_sync_create_table": lambda w: {"relation": table(w, "t"), "columns": "a int"},
    "pendo_sync_create_table_as": lambda w: {"relation": table(w, "t"), "sql": SELECT},
    "pendo_sync_delete": lambda w: {"relation": table(w, "t"), "where": WHERE},
    "pendo_sync_rows_kept": lambda w: {"relation": table(w, "t"), "where": WHERE},
    "pendo_sync_heartbeat": lambda w: {
        "lock": table(w, "pendo_sync_lock"),
        "model_id": "'m'",
        "owner": "'o'",
        "now": 5,
    },
    "pendo_sync_fingerprint": lambda w: {
        "prefix": "'1'",
        "fields": [{"column": w.quote("plan"), "tag": "'plan='", "if_null": "''"}],
    },
    "pendo_sync_merge": lambda w: {"journal": merge(w).journal, **merge(w).macro_args()},
    "pendo_sync_state_after_merge": lambda w: merge(w).macro_args(),
    "pendo_sync_record_json": _record_json_args,
    "pendo_sync_select_first": lambda w: {
        "columns": "id",
        "relation": table(w, "t"),
        "where": "id is not null",
        "order_by": "1",
        "n": 10,
    },
}


def rendered(w: Warehouse) -> dict[str, Any]:
    """What each macro returns for this adapter (a list of statements for the merge)."""
    return {name: w.call_macro(name, **args(w)) for name, args in CALLS.items()}


def sql_texts(w: Warehouse) -> dict[str, str]:
    """Each macro's SQL as one text (the statements of the merge joined)."""
    texts = {}
    for name, value in rendered(w).items():
        if isinstance(value, list):
            value = ";\n".join(map(str, value))
        texts[name] = " ".join(str(value).split())
    return texts


def test_the_tests_render_every_dispatched_macro_of_the_package():
    dispatched = {m.name for m in _package_macros().values() if "adapter.dispatch(" in m.macro_sql}
    assert dispatched == set(CALLS)


def test_every_macro_renders_and_the_ledger_deletes_in_transactions(w: Warehouse):
    values = rendered(w)
    assert values["pendo_sync_rewrites_tables"] is False
    assert type(dialect_for(w)) is TransactionalDialect
    assert [s.split(" ")[0] for s in values["pendo_sync_merge"]] == ["delete", "insert", "delete", "delete"]
    assert values["pendo_sync_record_json"] is None  # Python builds the records' JSON
    assert not any(re.search(r"\bmerge\s+into\b", text) for text in sql_texts(w).values())


def _t_sql_rules(w: Warehouse, texts: dict[str, str]) -> None:
    """What no T-SQL statement may hold, and the package's T-SQL versions of LIMIT, a
    condition as a value, and CREATE TABLE IF NOT EXISTS."""
    for name, text in texts.items():
        assert "||" not in text, name
        assert not re.search(r"\blimit\b", text), name
        assert "if not exists" not in text, name
        assert "coalesce((" not in text, name  # a condition is no value in T-SQL
    t = table(w, "t")
    assert texts["pendo_sync_select_first"] == f"select top (10) id from {t} where id is not null order by 1"
    assert (
        texts["pendo_sync_rows_kept"] == f"select * from {t} where case when ({WHERE}) then 0 else 1 end = 1"
    )
    name = str(t).replace("'", "''")
    assert texts["pendo_sync_create_table"] == f"if object_id('{name}', 'U') is null create table {t} (a int)"
    assert w.macro("current_timestamp") == "CAST(SYSDATETIME() AS DATETIME2(6))"


def _sqlserver(w: Warehouse, texts: dict[str, str]) -> None:
    _t_sql_rules(w, texts)
    ddl = texts["pendo_sync_create_table_as"]  # SQL Server has no CREATE TABLE AS
    assert ddl == f'select * into "analytics"."pendo"."t" from ({SELECT}) as pendo_sync_rows'


def _synapse(w: Warehouse, texts: dict[str, str]) -> None:
    _t_sql_rules(w, texts)
    assert texts["pendo_sync_create_table_as"] == (  # dbt-synapse's relations leave the database out
        f'create table "pendo"."t" with (distribution = round_robin, clustered columnstore index) as {SELECT}'
    )


def _fabric(w: Warehouse, texts: dict[str, str]) -> None:
    _t_sql_rules(w, texts)
    assert texts["pendo_sync_create_table_as"] == f"create table [analytics].[pendo].[t] as {SELECT}"


def _databricks(w: Warehouse, texts: dict[str, str]) -> None:
    rel = "`analytics`.`pendo`.`t`"
    assert texts["pendo_sync_create_table"] == f"create table if not exists {rel} (a int)"
    assert texts["pendo_sync_create_table_as"] == f"create table {rel} as {SELECT}"  # not dbt-databricks'
    assert texts["pendo_sync_heartbeat"] == (  # Delta tables take UPDATE (Spark's plain ones do not)
        "update `analytics`.`pendo`.`pendo_sync_lock` set heartbeat = 5 where model_id = 'm' and owner = 'o'"
    )
    assert texts["pendo_sync_select_first"].endswith("order by 1 limit 10")
    assert "left anti join" in texts["pendo_sync_state_after_merge"]  # Spark's plan


def _redshift(w: Warehouse, texts: dict[str, str]) -> None:
    rel = '"analytics"."pendo"."t"'
    assert texts["pendo_sync_create_table"] == f"create table if not exists {rel} (a int)"
    assert texts["pendo_sync_create_table_as"] == f"create table {rel} as ( {SELECT} );"  # dbt-redshift's
    assert texts["pendo_sync_select_first"].endswith("order by 1 limit 10")
    assert w.macro("current_timestamp") == "getdate()"
    assert w.macro("hash", field="x") == "md5(cast(x as TEXT))"  # dbt's: TEXT is VARCHAR(256) on Redshift


ADAPTER_SQL = {"sqlserver": _sqlserver, "synapse": _synapse, "fabric": _fabric, "databricks": _databricks}
ADAPTER_SQL["redshift"] = _redshift


def test_the_sql_each_adapter_writes(w: Warehouse):
    ADAPTER_SQL[w.adapter_type](w, sql_texts(w))


S = "\x1f"  # snapshot.py's separator
NVARCHAR = (
    f"lower(convert(varchar(64), hashbytes('SHA2_256', cast('1{S}visitor' as nvarchar(max)) + "
    f"case when [plan] is null then '{S}plan:null' else '{S}plan=' + convert(nvarchar(max), [plan], 126) end"
    "), 2))"
)
FINGERPRINTS = {  # [plan]: the adapter's quotes
    "sqlserver": NVARCHAR,
    "synapse": NVARCHAR,
    "fabric": NVARCHAR.replace("nvarchar", "varchar"),  # no nvarchar in Fabric; its varchar is UTF-8
    "databricks": (
        f"md5(cast(concat('1{S}visitor', case when [plan] is null then '{S}plan:null' else "
        f"concat('{S}plan=', cast([plan] as string)) end) as string))"
    ),
    "redshift": (  # up to Redshift's longest varchar, not dbt's hash's TEXT (256 characters)
        f"md5('1{S}visitor' || case when [plan] is null then '{S}plan:null' else "
        f"'{S}plan=' || cast([plan] as varchar(65535)) end)"
    ),
}


def test_the_fingerprint_of_each_adapter(w: Warehouse):
    """T-SQL: HASHBYTES over texts joined with `+`; the others: md5."""
    expected = FINGERPRINTS[w.adapter_type].replace("[plan]", w.quote("plan"))
    assert _fingerprint_sql(w, "visitor", {"plan": "plan"}, clear={"plan"}) == expected


# Per adapter: a name with the closing quote in it, quoted; a relation name refused; a literal.
QUOTING = {
    "sqlserver": ('ro"le', '"ro""le"', 'x"y', "'it''s'"),
    "synapse": ('ro"le', '"ro""le"', 'x"y', "'it''s'"),
    "fabric": ("ro]le", "[ro]]le]", "x]y", "'it''s'"),  # dbt-fabric's relations quote with []
    "databricks": ("ro`le", "`ro``le`", "x`y", "'it\\'s'"),
    "redshift": ('ro"le', '"ro""le"', 'x"y', "'it''s'"),
}


def test_names_are_quoted_with_the_closing_quote_escaped(w: Warehouse):
    name, quoted, refused, literal = QUOTING[w.adapter_type]
    assert (w.quote(name), w.literal("it's")) == (quoted, literal)
    assert w.quote(name)[-1] == str(table(w, "t"))[-1]  # as the adapter's own relations
    with pytest.raises(ConfigError, match="which dbt writes into SQL without escaping"):
        table(w, refused)
