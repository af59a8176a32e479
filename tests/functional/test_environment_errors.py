"""Bad environments get one clear line and the right exit code, before any warehouse work;
the integration key never appears in anything the tool prints or writes."""

from __future__ import annotations

import json

import pytest

from dbt_pendo_sync.emulator import Fault

from ..conftest import BIN, base_env, emulator_key, emulator_track_secret, run


def test_missing_key_stops_before_the_warehouse(sample, emulator):
    result = sample.sync(PENDO_BASE_URL=emulator.url)
    assert result.code == 2
    assert "PENDO_INTEGRATION_KEY is not set" in result.stderr
    assert "--dry-run" in result.stderr
    assert emulator.request_log() == []
    assert not (sample.path / "target" / "pendo_sync_results.json").exists()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"PENDO_BASE_URL": "http://pendo.example.com"}, "plain http"),
        ({"PENDO_BASE_URL": "ftp://app.pendo.io"}, "is not an http(s) URL"),
        ({"PENDO_REGION": "mars"}, "use one of: us, us1, eu, jpn, au"),
        ({"PENDO_REGION": "eu", "PENDO_BASE_URL": "https://app.eu.pendo.io"}, "not both"),
    ],
)
def test_pendo_location_problems_are_usage_errors(sample, env, expected):
    result = sample.sync(PENDO_INTEGRATION_KEY="pk-whatever", **env)
    assert result.code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_not_a_dbt_project(tmp_path):
    result = run([str(BIN / "dbt-pendo"), "sync", "--dry-run", "--project-dir", str(tmp_path)], base_env())
    assert result.code == 2
    assert "no dbt_project.yml" in result.stderr and "--project-dir" in result.stderr


def test_bad_vars_is_a_usage_error(sample):
    result = sample.sync("--dry-run", "--vars", "[1, 2]")
    assert result.code == 2
    assert "--vars" in result.stderr and "YAML mapping" in result.stderr


def test_project_dir_from_env_var(sample, emulator):
    env = dict(
        sample.env,
        DBT_PROJECT_DIR=str(sample.path),
        DBT_PROFILES_DIR=str(sample.path),
        DBT_PENDO_SAMPLE_DB=str(sample.path / "sample.duckdb"),  # run from another folder
        PENDO_INTEGRATION_KEY=emulator_key(emulator),
        PENDO_TRACK_SECRET=emulator_track_secret(emulator),
        PENDO_BASE_URL=emulator.url,
    )
    result = run([str(BIN / "dbt-pendo"), "sync"], env, cwd=sample.path.parent)
    assert result.code == 0, result.output
    assert len(emulator.all_values("visitor")) == 50


def test_partial_failure_rows_are_rejected_and_fail_the_run(sample, emulator):
    emulator.faults.add(Fault(kind="partial", ids=frozenset({"u-0004", "u-0009"})))
    result = sample.sync(emulator=emulator)
    assert result.code == 1
    visitors = {m["model"]: m for m in sample.results()["models"]}["pendo_visitors"]
    assert visitors["counts"]["rejected"] == 2 and visitors["counts"]["updated"] == 48
    assert {r["id"] for r in sample.rejected() if r["category"] == "rejected"} == {"u-0004", "u-0009"}
    assert "u-0004" not in emulator.all_values("visitor")


def test_the_key_never_appears_in_output_or_files(sample, emulator):
    key = emulator_key(emulator)
    runs = [
        sample.sync(emulator=emulator),  # success
        sample.sync("--dry-run", emulator=emulator),  # dry run with a key set
        sample.sync(emulator=emulator, key=key + "x"),  # 403 (the key is a prefix)
        sample.sync("--select", "nothing_matches", emulator=emulator),
    ]
    emulator.faults.add(Fault(kind="status", status=400))
    runs.append(sample.sync(emulator=emulator))  # batches rejected
    files = [*(sample.path / "target").glob("pendo_sync_*"), *(sample.path / "logs").glob("*")]
    assert files
    written = "".join(p.read_text(errors="replace") for p in files if p.is_file())
    for result in runs:
        assert key not in result.output
    assert key not in written
    assert "x-pendo-integration-key" not in written.lower()


def test_pendo_unreachable_is_one_clear_line(sample):
    result = sample.sync(
        "--retries",
        "2",
        "--retry-time",
        "3",
        PENDO_INTEGRATION_KEY="pk-secret-unreachable",
        PENDO_BASE_URL="http://127.0.0.1:9",
    )
    assert result.code == 1
    assert "could not be reached" in result.stderr and "PENDO_BASE_URL" in result.stderr
    assert "Traceback" not in result.output
    assert "pk-secret-unreachable" not in result.output


def test_manifest_from_another_adapter_is_refused(sample, emulator, tmp_path):
    manifest = json.loads((sample.path / "target" / "manifest.json").read_text())
    manifest["metadata"]["adapter_type"] = "postgres"
    other = tmp_path / "manifest.json"
    other.write_text(json.dumps(manifest))
    result = sample.sync("--manifest", str(other), emulator=emulator)
    assert result.code == 1
    assert "written for a postgres target" in result.stderr
    assert emulator.write_calls() == 0


def test_the_key_stays_out_of_debug_output_and_every_failure(sample, emulator):
    key = emulator_key(emulator)
    emulator.faults.add(Fault(kind="status", status=503, first=1))
    emulator.faults.add(Fault(kind="malformed", requests=frozenset({2})))
    emulator.faults.add(Fault(kind="partial", ids=frozenset({"u-0001"})))
    runs = [
        sample.sync("--debug", "--retry-time", "30", emulator=emulator),
        sample.sync("--debug", emulator=emulator, key=key[:-1]),
        sample.sync("--debug", "--retries", "1", emulator=emulator, PENDO_BASE_URL="http://127.0.0.1:9"),
    ]
    files = [p for p in (sample.path / "target").glob("pendo_sync_*")]
    for result in runs:
        assert key not in result.output and key[:-1] not in result.output
    for path in files:
        assert key[:-1] not in path.read_text()


def test_a_state_schema_the_user_cannot_create_is_one_clear_error(
    built_typed_postgres, postgres, typed_emulator, tmp_path
):
    """A read-only warehouse user: the model stops with what to grant or where to point the
    state, nothing is sent, and there is no traceback."""
    import psycopg2

    from ..conftest import _clone_built

    con = psycopg2.connect(postgres.dsn())
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("drop role if exists pendo_reader")
        cur.execute("create role pendo_reader login")
        cur.execute("grant usage on schema analytics_pendo_out to pendo_reader")
        cur.execute("grant select on all tables in schema analytics_pendo_out to pendo_reader")
    con.close()
    project = _clone_built(built_typed_postgres, tmp_path)
    result = project.sync(
        "--select",
        "people_for_pendo",
        emulator=typed_emulator,
        TYPED_PG_USER="pendo_reader",
        DBT_PENDO_STATE_SCHEMA="pendo_state_ro",
    )
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "cannot keep sync state in schema pendo_state_ro" in result.output
    assert "--state-schema" in result.output and "permission denied" in result.output.lower()
    assert typed_emulator.write_calls() == 0
