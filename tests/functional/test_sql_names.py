"""Names that reach SQL cannot run SQL of their own: a state schema (option, variable or block
key) that is not a plain name, and a model whose schema or alias holds a quote, stop the run
before any statement (the user's tables stay); a column whose name holds a quote is quoted
safely and syncs."""

from __future__ import annotations

import duckdb
import pytest

from ..conftest import DbtProject

ATTACK = 'x"; drop table main.users; --'
YAML = "models/marts/_pendo.yml"


def tables(project: DbtProject) -> set[str]:
    """Every schema.table of the sample's DuckDB file."""
    con = duckdb.connect(str(project.path / "sample.duckdb"), read_only=True)
    try:
        rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    finally:
        con.close()
    return {f"{schema}.{name}" for schema, name in rows}


def edit(project: DbtProject, path: str, old: str, new: str) -> None:
    file = project.path / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, 1))


def assert_nothing_ran(project: DbtProject, before: set[str], result) -> None:
    assert "Traceback" not in result.output and "Internal error" not in result.output
    assert tables(project) == before  # users still there, no state or snapshot table made
    assert "main.users" in before


@pytest.mark.parametrize("how", ["option", "variable"])
def test_a_state_schema_that_is_not_a_plain_name_stops_sync_and_validate(sample, emulator, how):
    before = tables(sample)
    if how == "option":
        runs = [
            sample.sync("--state-schema", ATTACK, emulator=emulator),
            sample.command("validate", "--offline", "--state-schema", ATTACK),
        ]
        named = "Invalid value for '--state-schema'"
    else:
        runs = [
            sample.sync(emulator=emulator, DBT_PENDO_STATE_SCHEMA=ATTACK),
            sample.command("validate", "--offline", DBT_PENDO_STATE_SCHEMA=ATTACK),
        ]
        named = "Invalid value for environment variable DBT_PENDO_STATE_SCHEMA"
    for result in runs:
        assert result.code == 2, result.output
        assert named in result.output
        assert "is not a schema name dbt-pendo-sync accepts (letters, digits, _ and $" in result.output
        assert_nothing_ran(sample, before, result)
    assert emulator.write_calls() == 0


def test_a_state_schema_block_key_that_is_not_a_plain_name_is_a_config_error(sample, emulator):
    edit(
        sample,
        YAML,
        "          object: visitor\n",
        f"          object: visitor\n          state_schema: '{ATTACK}'\n",
    )
    before = tables(sample)

    synced = sample.sync(emulator=emulator)
    checked = sample.command("validate", "--offline")

    assert synced.code == 2, synced.output
    assert (
        f"model pendo_visitors ({YAML}): pendo.state_schema: '{ATTACK}' is not a schema name" in synced.stderr
    )
    assert_nothing_ran(sample, before, synced)
    assert emulator.write_calls() == 0
    assert checked.code == 1, checked.output
    assert "pendo.state_schema" in checked.stdout and "not a schema name" in checked.stdout
    assert_nothing_ran(sample, before, checked)


def test_a_model_alias_holding_a_quote_stops_the_run_before_any_statement(sample, emulator):
    edit(sample, YAML, '      tags: ["pendo"]\n', f"      tags: [\"pendo\"]\n      alias: '{ATTACK}'\n")
    before = tables(sample)

    synced = sample.sync(emulator=emulator)
    checked = sample.command("validate", "--offline")

    assert synced.code == 2, synced.output
    assert (
        f"model pendo_visitors ({YAML}): its table name '{ATTACK}' holds \", which dbt writes "
        "into SQL without escaping; rename it"
    ) in synced.stderr
    assert_nothing_ran(sample, before, synced)
    assert emulator.write_calls() == 0
    assert checked.code == 1, checked.output
    assert 'holds ", which dbt writes' in checked.stdout
    assert_nothing_ran(sample, before, checked)


def test_a_column_whose_name_holds_a_quote_syncs(sample, emulator):
    edit(
        sample,
        "models/marts/pendo_visitors.sql",
        "u.role                                            as role,",
        'u.role as "ro""le",',
    )
    edit(sample, YAML, "            role: role\n", "            'ro\"le': role\n")
    sample.dbt("build", "--select", "pendo_visitors")

    result = sample.sync("--select", "pendo_visitors", emulator=emulator)

    assert result.code == 0, result.output
    held = emulator.all_values("visitor")
    assert held["u-0001"]["role"] in ("admin", "member", "viewer")
    assert {held[v]["role"] for v in held} >= {"admin", "member"}


def test_the_python_api_refuses_the_state_schema_by_its_keyword(sample, monkeypatch):
    from dbt_pendo_sync import api
    from dbt_pendo_sync.errors import ConfigError

    monkeypatch.setenv("DBT_PENDO_SAMPLE_DB", sample.env["DBT_PENDO_SAMPLE_DB"])
    monkeypatch.chdir(sample.path)  # the DuckDB file is named relative to the project
    before = tables(sample)
    with pytest.raises(ConfigError) as refused:
        api.sync(sample.path, profiles_dir=sample.path, dry_run=True, quiet=True, state_schema=ATTACK)
    assert str(refused.value) == (
        f"state_schema: '{ATTACK}' is not a schema name dbt-pendo-sync accepts "
        "(letters, digits, _ and $, not starting with a digit)"
    )
    assert tables(sample) == before
