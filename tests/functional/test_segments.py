"""A Pendo segment kept equal to a model's visitors (`object: segment`): created with the first
members, then only the members that joined are added and those that left removed. On DuckDB and
PostgreSQL (tests/fixtures/segment_project: visitors u-<first>..u-<last>)."""

from __future__ import annotations

import re
import secrets

import pytest
from jsonschema import Draft202012Validator

from dbt_pendo_sync.emulator import Fault
from dbt_pendo_sync.outputs import results_schema

from ..conftest import ROOT, IncrementalProject, dbt_pendo, fixture_on, make_emulator, wait_until

SEGMENT = "Churn risk (dbt)"
FIXTURE = ROOT / "tests" / "fixtures" / "segment_project"


@pytest.fixture(params=["duckdb", "postgres"])
def segment(request: pytest.FixtureRequest, tmp_path) -> IncrementalProject:
    return fixture_on(request, FIXTURE, tmp_path)


@pytest.fixture
def emulator():
    with make_emulator() as em:
        yield em


def _members(first: int, last: int) -> set[str]:
    return {f"u-{i:06d}" for i in range(first, last + 1)}


def _calls(emulator) -> list:
    return [r for r in emulator.request_log() if r.path.startswith("/api/v1/segment") and r.method != "GET"]


def _sync_ok(project, emulator, *args: str) -> dict:
    result = project.sync(*args, emulator=emulator)
    assert result.code == 0, result.output
    return project.results()["models"][0]["counts"]


def test_a_segment_is_created_then_kept_equal_to_the_model(segment, emulator):
    segment.build(first=1, last=50)
    counts = _sync_ok(segment, emulator)
    assert counts["new"] == 50 and counts["updated"] == 50
    assert emulator.segment_members(SEGMENT) == _members(1, 50)
    assert [r.path for r in _calls(emulator)] == ["/api/v1/segment/upload"]

    segment.build(first=3, last=53)  # 3 join, 2 leave
    emulator.reset_log()
    result = segment.sync(emulator=emulator)
    assert result.code == 0, result.output
    counts = segment.results()["models"][0]["counts"]
    assert (counts["new"], counts["removed"], counts["updated"]) == (3, 2, 5)
    # What a person reads says members added and removed, not rows sent and updated.
    words = "segment 'Churn risk (dbt)' (51 members): 3 added, 2 removed"
    assert re.search(
        rf"^\d\d:\d\d:\d\d churn_risk: success in [\d.]+s: {re.escape(words)}$", result.stdout, re.M
    )
    assert re.search(r"┃ unchanged ┃ removed ┃ sent ┃", result.stdout)
    assert re.search(
        r"│ churn_risk │ segment │ success │\s+51 │\s+3 │\s+0 │\s+48 │\s+2 │\s+5 │", result.stdout
    )
    assert f"\nchurn_risk: {words}\n" in result.stdout  # below the table
    assert (
        "5 sent, 5 updated, 0 missing, 0 invalid, 0 rejected, 0 failed; 2 removals among them"
        in (result.stdout.splitlines()[-1])
    )
    (patch,) = _calls(emulator)
    assert patch.method == "PATCH" and patch.body == {
        "patch": [
            {"op": "add", "path": "/visitors", "value": ["u-000051", "u-000052", "u-000053"]},
            {"op": "remove", "path": "/visitors", "value": ["u-000001", "u-000002"]},
        ]
    }
    assert emulator.segment_members(SEGMENT) == _members(3, 53)

    emulator.reset_log()
    assert _sync_ok(segment, emulator)["sent"] == 0
    assert _calls(emulator) == []


def test_2500_members_go_in_three_calls_and_a_dry_run_shows_the_changes(segment, emulator):
    segment.build(first=1, last=2500)
    preview = segment.sync("--dry-run", "--show", "2", emulator=emulator)
    assert preview.code == 0, preview.output
    assert '{"op": "add", "visitorId": "u-000001"}' in preview.output
    assert _calls(emulator) == []

    _sync_ok(segment, emulator)
    assert [r.path.rsplit("/", 1)[-1] for r in _calls(emulator)] == ["upload", "visitor", "visitor"]
    assert emulator.segment_members(SEGMENT) == _members(1, 2500)


def test_a_segment_deleted_in_pendo_is_created_again(segment, emulator):
    segment.build(first=1, last=20)
    _sync_ok(segment, emulator)
    (segment_id,) = emulator.segments()
    emulator.delete_segment(segment_id)
    segment.build(first=1, last=22)

    result = segment.sync(emulator=emulator)
    assert result.code == 0, result.output
    assert f"segment '{SEGMENT}' ({segment_id}) no longer exists in Pendo" in result.output
    assert emulator.segment_members(SEGMENT) == _members(1, 22)
    assert len(emulator.segments()) == 1


def test_a_failed_operation_inside_a_200_is_retried_next_run_and_409_is_waited_out(segment, emulator):
    segment.build(first=1, last=10)
    _sync_ok(segment, emulator)
    segment.build(first=2, last=12)
    emulator.faults.add(Fault(kind="multistatus", operation="remove", first=1, path_prefix="/api/v1/segment"))
    partial = segment.sync(emulator=emulator)
    assert partial.code == 1
    assert segment.results()["models"][0]["counts"]["failed"] == 1  # the remove of u-000001
    assert emulator.segment_members(SEGMENT) == _members(1, 12)

    emulator.faults.clear()
    emulator.faults.add(
        Fault(kind="status", status=409, retry_after="0", first=1, path_prefix="/api/v1/segment")
    )
    emulator.reset_log()
    counts = _sync_ok(segment, emulator)
    assert (counts["removed"], counts["updated"]) == (1, 1)
    assert [r.status for r in _calls(emulator)] == [409, 200]
    assert emulator.segment_members(SEGMENT) == _members(2, 12)


def test_an_emptied_model_is_stopped_unless_removals_are_allowed(segment, emulator):
    segment.build(first=1, last=10)
    _sync_ok(segment, emulator)
    segment.build(first=1, last=0)  # no rows
    stopped = segment.sync(emulator=emulator)
    assert stopped.code == 1 and "--allow-removals" in stopped.output
    assert "this run would remove 10 of the 10 members synced before (100% > --max-removals 20%)" in (
        stopped.output
    )
    assert emulator.segment_members(SEGMENT) == _members(1, 10)
    usage = " ".join(dbt_pendo(["sync", "--help"], segment.env).stdout.split())
    assert "clear (on_remove: clear) or remove from its segment (object: segment) more than PCT" in usage

    allowed = segment.sync("--allow-removals", emulator=emulator)
    assert allowed.code == 0, allowed.output
    assert f"segment '{SEGMENT}' emptied" in allowed.output
    assert emulator.segment_members(SEGMENT) == set()


@pytest.mark.parametrize("segment", ["duckdb"], indirect=True)
def test_a_segment_name_belongs_to_one_model_of_the_project_whatever_the_selection(segment, emulator):
    """A second model naming the segment (in another case, in another file) stops validate,
    ls and every sync, whichever model is selected, naming both models and both files."""
    (segment.path / "models" / "churn_risk_copy.sql").write_text(
        (FIXTURE / "models" / "churn_risk.sql").read_text()
    )
    (segment.path / "models" / "copy.yml").write_text(
        "version: 2\nmodels:\n  - name: churn_risk_copy\n    config:\n      meta:\n        pendo:\n"
        f"          object: segment\n          segment: {SEGMENT.upper()}\n          id_column: visitor_id\n"
    )
    segment.build()
    runs = [
        segment.command("validate", "--offline", "--select", "churn_risk", emulator=emulator),
        segment.command("ls", "--select", "churn_risk", emulator=emulator),
        segment.sync("--select", "churn_risk", emulator=emulator),
        segment.sync("--select", "churn_risk_copy", emulator=emulator),
        segment.sync(emulator=emulator),
    ]
    for result in runs:
        assert result.code == 2, result.output
        text = " ".join(result.output.split())
        assert (
            f"model churn_risk_copy (models/copy.yml): segment '{SEGMENT.upper()}' is also the segment "
            f"of model churn_risk (models/_models.yml)"
        ) in text, text
    assert emulator.segments() == {} and _calls(emulator) == []


@pytest.mark.parametrize("segment", ["duckdb"], indirect=True)
def test_a_segment_made_elsewhere_is_adopted_and_the_run_says_so(segment, emulator):
    """An API-made segment of the block's name that the model's state does not know: the run
    says it adopts it, the results name its id, and its members stay beside the model's."""
    made = emulator.add_segment(SEGMENT, ["u-999999"], created_by_api=True)
    segment.build(first=1, last=5)
    preview = segment.sync("--dry-run", emulator=emulator)
    assert f"would adopt segment '{SEGMENT}' ({made}) created elsewhere" in " ".join(preview.output.split())
    assert segment.results("pendo_sync_plan.json")["models"][0]["adopted_segment_id"] == made
    result = segment.sync(emulator=emulator)
    assert result.code == 0, result.output
    assert f"adopting segment '{SEGMENT}' ({made}) created elsewhere" in " ".join(result.output.split())
    document = segment.results()
    Draft202012Validator(results_schema()).validate(document)
    assert document["models"][0]["adopted_segment_id"] == made
    assert emulator.segment_members(made) == _members(1, 5) | {"u-999999"}

    again = segment.sync(emulator=emulator)
    assert again.code == 0 and "adopting" not in again.output
    assert segment.results()["models"][0]["adopted_segment_id"] is None


@pytest.mark.parametrize("segment", ["postgres"], indirect=True)
@pytest.mark.parametrize("listing_seconds", [0, 3])
def test_two_runs_at_once_of_a_new_segment_model_make_one_segment(segment, emulator, listing_seconds):
    """Two syncs of a new segment model started together (also while Pendo takes seconds to
    answer the segment listing): one creates the segment, the other, once it holds the
    lock, finds it in the state and has nothing to send."""
    segment.build(first=1, last=60)
    if listing_seconds:
        emulator.faults.add(
            Fault(kind="delay", delay=listing_seconds, method="GET", path_prefix="/api/v1/segment")
        )
    runs = [segment.start_sync(emulator=emulator) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr
        assert "the model is empty" not in stdout + stderr and "adopting" not in stdout + stderr
    (made,) = emulator.segments().values()
    assert made["name"] == SEGMENT and set(made["members"]) == _members(1, 60)
    # Only the run that created it listed Pendo's segments: the other read its id in the lock.
    assert len([r for r in emulator.request_log() if r.method == "GET" and r.path == "/api/v1/segment"]) == 1


def _blocked_on_state_table(segment: IncrementalProject) -> int:
    rows = segment.query(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
        "and query ilike 'create table if not exists%pendo_sync_state%'"
    )
    return int(rows[0][0])


@pytest.mark.parametrize("segment", ["postgres"], indirect=True)
def test_two_first_syncs_creating_the_ledger_tables_at_once_both_go_on(segment, emulator, postgres):
    """Another creator of the state table (here a transaction the test holds open, so that
    both syncs' CREATE TABLE IF NOT EXISTS wait on it, then fail on PostgreSQL's
    pg_type_typname_nsp_index once it commits) is not an error."""
    import psycopg2

    segment.build(first=1, last=60)
    holder = psycopg2.connect(postgres.dsn())
    try:
        with holder.cursor() as cur:
            cur.execute(
                f"create table {segment.schema}.pendo_sync_state "
                "(model_id text, record_id text, fingerprint text, synced_at timestamp)"
            )
        runs = [segment.start_sync(emulator=emulator) for _ in range(2)]
        wait_until(lambda: _blocked_on_state_table(segment) == 2, "both syncs to wait on the state table")
        holder.commit()
    finally:
        holder.close()
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stdout + stderr
    assert emulator.segment_members(SEGMENT) == _members(1, 60)


@pytest.mark.parametrize("segment", ["postgres"], indirect=True)
def test_a_user_who_cannot_create_tables_in_the_state_schema_is_told_what_to_grant(
    segment, emulator, postgres
):
    """The model's schema exists and the user may read it, not create in it (nor create
    schemas): the message is PostgreSQL's refusal for that schema and the permission fix."""
    import psycopg2

    segment.build(first=1, last=5)
    role = f"reader_{secrets.token_hex(4)}"
    con = psycopg2.connect(postgres.dsn())
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"create role {role} login")
        cur.execute(f"grant usage on schema {segment.schema} to {role}")
        cur.execute(f"grant select on all tables in schema {segment.schema} to {role}")
    con.close()
    result = segment.sync(emulator=emulator, INCR_PG_USER=role)
    assert result.code == 1, result.output
    text = " ".join(result.output.split())
    assert f"permission denied for schema {segment.schema}" in text, text
    assert "Grant the profile's user the right to create tables" in text
    assert emulator.segments() == {}
