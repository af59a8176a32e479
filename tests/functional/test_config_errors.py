"""Invalid pendo blocks stop the run before any warehouse or network work, with exit 2 and a
message naming the model, its YAML file, the bad key and what is allowed."""

from __future__ import annotations

import shutil

import pytest

from ..conftest import ROOT, SAMPLE, DbtProject, _copy, base_env, dbt_pendo

FIXTURE = "tests/fixtures/bad_config_project"
YAML = "models/_models.yml"


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "bad_config_project"
    shutil.copytree(ROOT / FIXTURE, path)
    project = DbtProject(
        path,
        base_env(
            BAD_DUCKDB_PATH=str(path / "bad.duckdb"),
            PENDO_INTEGRATION_KEY="pk-unused",
            PENDO_BASE_URL="http://127.0.0.1:9",
        ),
    )
    result = project.sync()
    return project, result


def _line(result, model: str) -> str:
    lines = [line for line in result.stderr.splitlines() if f"model {model} ({YAML})" in line]
    assert lines, f"no message for {model}:\n{result.stderr}"
    return "\n".join(lines)


def test_exit_code_two_without_traceback_or_warehouse_work(bad_run):
    project, result = bad_run
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert not (project.path / "bad.duckdb").exists()  # no warehouse connection was made
    assert "good_model" not in result.stderr


@pytest.mark.parametrize(
    "model, expected",
    [
        (
            "typo_key",
            [
                "unknown key 'fileds'",
                "did you mean 'fields'?",
                "allowed keys: batch_size, create_fields, date_format, fields, group, id_column, nulls, "
                "object, on_remove, parent_account_id_column, state_schema, timezone, truncate_text",
            ],
        ),
        (
            "bad_object",
            [
                "pendo.object",
                "'visitors' is not allowed",
                "use one of: visitor, account, parent_account, event, segment",
            ],
        ),
        ("no_id_column", ["'id_column' is a required property", "add it"]),
        ("string_batch_size", ["pendo.batch_size", "'500' must be of type integer"]),
        ("zero_batch_size", ["pendo.batch_size", "0 is out of range", "minimum is 1"]),
        ("bad_field_name", ["pendo.fields.plan", "'plan-tier'", "try 'plan_tier'"]),
        ("empty_fields", ["pendo.fields", "must not be empty"]),
        (
            "column_typo",
            [
                "columns.plan.pendo",
                "unknown key 'feild'",
                "did you mean 'field'?",
                "allowed keys: exclude, field, nulls",
            ],
        ),
        ("column_exclude_type", ["columns.plan.pendo.exclude", "'yes' must be of type boolean"]),
        ("block_not_mapping", ["pendo: 'visitor' must be of type object"]),
        ("duplicate_field", ["columns 'plan' and 'tier' both map to Pendo field 'plan'"]),
        ("empty_id_column", ["pendo.id_column", "must not be empty"]),
        ("bad_timezone", ["pendo.timezone: 'Mars/Olympus' is not an IANA time zone", "America/New_York"]),
        ("bad_nulls", ["pendo.nulls: 'drop' is not allowed", "use one of: skip, clear"]),
    ],
)
def test_each_bad_block_gets_its_own_message(bad_run, model, expected):
    _, result = bad_run
    message = _line(result, model)
    for fragment in expected:
        assert fragment in message, message


def test_selecting_only_a_good_model_runs_once_it_is_built(bad_run):
    project, _ = bad_run
    result = project.sync("--select", "good_model", "--dry-run")
    assert result.code == 1
    assert "does not exist in the warehouse; run `dbt build`" in result.output
    project.dbt("run", "--select", "good_model")
    result = project.sync("--select", "good_model", "--dry-run")
    assert result.code == 0, result.output
    assert '"visitorId": "u-0001"' in result.stdout


def test_a_properties_file_that_is_not_yaml_exits_two_naming_the_file(tmp_path):
    path = _copy(SAMPLE, tmp_path / "sample_project")
    staging = path / "models" / "staging" / "_staging.yml"
    staging.write_text(staging.read_text().replace("    columns:\n", "    columns:\n   - broken: [\n", 1))
    project = DbtProject(path, base_env(DBT_PENDO_SAMPLE_DB=str(path / "sample.duckdb")))
    for command in (["sync", "--dry-run"], ["ls"], ["validate", "--offline"]):
        result = dbt_pendo([*command, *project.args()], project.env)
        assert result.code == 2, result.output
        assert "models/staging/_staging.yml is not valid YAML; fix that file" in result.stderr
        assert "Syntax error near line" in result.stderr and "Traceback" not in result.output
