"""A Pendo segment kept equal to a model's visitors (`object: segment`): created with the first
members, then only the members that joined are added and those that left removed. On DuckDB and
PostgreSQL (tests/fixtures/segment_project: visitors u-<first>..u-<last>)."""

from __future__ import annotations

import re

import pytest

from dbt_pendo_sync.emulator import Fault

from .conftest import ROOT, IncrementalProject, fixture_on, make_emulator

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

    allowed = segment.sync("--allow-removals", emulator=emulator)
    assert allowed.code == 0, allowed.output
    assert f"segment '{SEGMENT}' emptied" in allowed.output
    assert emulator.segment_members(SEGMENT) == set()


def test_two_models_naming_one_segment_is_a_config_error(segment, emulator):
    (segment.path / "models" / "churn_risk_copy.sql").write_text(
        (FIXTURE / "models" / "churn_risk.sql").read_text()
    )
    with (segment.path / "models" / "_models.yml").open("a") as blocks:
        blocks.write(
            "  - name: churn_risk_copy\n    config:\n      meta:\n        pendo:\n"
            f"          object: segment\n          segment: {SEGMENT}\n          id_column: visitor_id\n"
        )
    segment.build()
    result = segment.sync(emulator=emulator)
    assert result.code == 2
    assert f"segment '{SEGMENT}' is also the segment of model churn_risk" in result.output
