"""What may go into SQL: identifiers quoted with their quote character escaped, for each
adapter's quote character; state schemas only as plain names; relation name parts that dbt
would write unescaped refused."""

from __future__ import annotations

import sqlite3

import pytest

from dbt_pendo_sync.sqlnames import quote_identifier, relation_part_problem, schema_name_problem


@pytest.mark.parametrize(
    ("name", "quote_char", "backslash", "quoted"),
    [
        ("plan", '"', False, '"plan"'),
        ('ro"le', '"', False, '"ro""le"'),  # DuckDB, PostgreSQL, Snowflake
        ('x" from t; drop table t; --', '"', False, '"x"" from t; drop table t; --"'),
        ("ro`le", "`", False, "`ro``le`"),  # Spark, Databricks, MySQL
        ("ro`le", "`", True, "`ro\\`le`"),  # BigQuery: backslash escapes
        ("a\\`", "`", True, "`a\\\\\\``"),  # its backslash escaped too, so it cannot eat the quote
        ("it's", '"', False, '"it\'s"'),
    ],
)
def test_an_identifier_is_quoted_with_its_quote_character_escaped(name, quote_char, backslash, quoted):
    assert quote_identifier(name, quote_char, backslash_escapes=backslash) == quoted


def test_a_doubled_quote_reads_back_as_the_name_in_a_real_database():
    con = sqlite3.connect(":memory:")  # standard SQL quoting, as DuckDB and PostgreSQL
    name = 'x" from t; drop table t; --'
    con.execute(f"create table t ({quote_identifier(name, chr(34))} integer)")
    con.execute("insert into t values (7)")
    assert con.execute(f"select {quote_identifier(name, chr(34))} from t").fetchall() == [(7,)]
    assert [row[1] for row in con.execute("pragma table_info(t)")] == [name]


@pytest.mark.parametrize("name", ["pendo_state", "State_2", "_s", "s$1"])
def test_plain_schema_names_are_state_schemas(name):
    assert schema_name_problem(name) is None


@pytest.mark.parametrize("name", ['x"; drop table t; --', "a'b", "a b", "1st", "a-b", "a.b", "a`b", ""])
def test_other_schema_names_are_refused_with_the_rule(name):
    assert schema_name_problem(name) == (
        f"{name!r} is not a schema name dbt-pendo-sync accepts "
        "(letters, digits, _ and $, not starting with a digit)"
    )


def test_a_quoted_relation_part_may_hold_anything_but_its_quote_a_quote_mark_or_a_backslash():
    assert relation_part_problem("my-project.x y", quoted=True, quote_char="`") is None
    assert relation_part_problem('a"b', quoted=True, quote_char="`") is None  # not BigQuery's quote
    assert relation_part_problem('a"b', quoted=True, quote_char='"') == (
        "'a\"b' holds \", which dbt writes into SQL without escaping"
    )
    assert "holds '" in str(relation_part_problem("o'brien", quoted=True, quote_char='"'))
    assert "holds \\" in str(relation_part_problem("a\\b", quoted=True, quote_char='"'))


def test_an_unquoted_relation_part_must_be_a_plain_name():
    assert relation_part_problem("ANALYTICS_2", quoted=False, quote_char='"') is None
    assert relation_part_problem("données$1", quoted=False, quote_char='"') is None
    why = relation_part_problem("a; drop table t", quoted=False, quote_char='"')
    assert why is not None and "is not quoted" in why and "not a plain name" in why


def test_t_sql_brackets_close_on_a_doubled_bracket_only():
    """dbt-fabric's relations quote as [name]: `]` ends them, `"` and `[` do not."""
    assert quote_identifier("ro]le", "[", close="]") == "[ro]]le]"
    assert quote_identifier('a"[b', "[", close="]") == '[a"[b]'
    assert relation_part_problem('a"[b', quoted=True, quote_char="]") is None
    assert relation_part_problem("x]y", quoted=True, quote_char="]") == (
        "'x]y' holds ], which dbt writes into SQL without escaping"
    )
