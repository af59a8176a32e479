"""Records that leave a metadata model: `on_remove: clear` sets every field the model wrote to
null in Pendo, once, then forgets the record; `--max-removals` stops a model whose source
emptied. On DuckDB and PostgreSQL (the incremental fixture)."""

from __future__ import annotations

import re

import pytest

from dbt_pendo_sync.emulator import Fault

from ..conftest import (
    INCREMENTAL,
    IncrementalProject,
    agent_emulator_data,
    fixture_on,
    incremental_emulator_data,
    make_emulator,
)

N = 200


@pytest.fixture(params=["duckdb", "postgres"])
def clearing(request: pytest.FixtureRequest, tmp_path) -> IncrementalProject:
    """The incremental fixture with `on_remove: clear`, built with N visitors."""
    project = fixture_on(request, INCREMENTAL, tmp_path)
    models = project.path / "models" / "_models.yml"
    models.write_text(models.read_text() + "          on_remove: clear\n")
    project.build(rows=N)
    return project


@pytest.fixture
def emulator():
    with make_emulator(incremental_emulator_data()) as em:
        yield em


def _counts(project) -> dict:
    return project.results()["models"][0]["counts"]


def _cleared(emulator) -> list[str]:
    """Ids sent with every field null."""
    return sorted(
        rec["visitorId"]
        for r in emulator.request_log()
        if r.method == "POST"
        for rec in r.body
        if rec["values"] and all(v is None for v in rec["values"].values())
    )


def test_departed_records_are_cleared_once_then_forgotten(clearing, emulator):
    assert clearing.sync(emulator=emulator).code == 0
    clearing.build(rows=N, drop=3)  # u-000198..u-000200 leave the model
    emulator.reset_log()

    result = clearing.sync(emulator=emulator)
    assert result.code == 0, result.output
    assert (_counts(clearing)["removed"], _counts(clearing)["sent"]) == (3, 3)
    # The clears are named as such in the model's line, the table and below it.
    assert re.search(
        r"^\d\d:\d\d:\d\d visitor_scores: success in [\d.]+s: 197 rows, 3 to send; 3 sent, "
        r"3 updated, 0 missing, 0 invalid, 0 rejected, 0 failed; 3 cleared$",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"│ visitor_scores │ visitor │ success │\s+197 │\s+0 │\s+0 │\s+197 │\s+3 │\s+3 │", result.stdout
    )
    assert "\nvisitor_scores: 3 cleared (records that left the model: on_remove: clear)\n" in result.stdout
    assert _cleared(emulator) == ["u-000198", "u-000199", "u-000200"]
    assert emulator.values("visitor", "u-000200") == {}  # a null clears the value in Pendo
    assert emulator.values("visitor", "u-000197")["score"] == 1970  # the others untouched
    assert len(clearing.state_ids()) == N - 3

    emulator.reset_log()
    assert clearing.sync(emulator=emulator).code == 0
    assert _counts(clearing)["sent"] == 0 and _cleared(emulator) == []  # only once


def test_a_clear_pendo_did_not_confirm_is_retried_next_run(clearing, emulator):
    assert clearing.sync(emulator=emulator).code == 0
    clearing.build(rows=N, drop=2)
    emulator.faults.add(Fault(kind="status", status=500, first=10))
    failed = clearing.sync("--retries", "1", emulator=emulator)
    assert failed.code == 1 and _counts(clearing)["failed"] == 2
    assert len(clearing.state_ids()) == N  # still known: the clear is owed

    emulator.faults.clear()
    emulator.reset_log()
    assert clearing.sync(emulator=emulator).code == 0
    assert _cleared(emulator) == ["u-000199", "u-000200"]
    assert len(clearing.state_ids()) == N - 2


def test_a_dry_run_counts_the_clears(clearing, emulator):
    assert clearing.sync(emulator=emulator).code == 0
    clearing.build(rows=N, drop=4)
    assert clearing.sync("--dry-run").code == 0
    assert clearing.results("pendo_sync_plan.json")["models"][0]["counts"]["removed"] == 4


def test_max_removals_stops_a_model_whose_source_emptied(clearing, emulator):
    assert clearing.sync(emulator=emulator).code == 0
    clearing.build(rows=N, drop=N)  # the upstream broke: the model is empty
    emulator.reset_log()

    stopped = clearing.sync(emulator=emulator)
    assert stopped.code == 1
    assert (
        f"this run would clear {N} of the {N} records synced before (100% > --max-removals 20%)"
        in stopped.output
    )
    assert "--allow-removals" in stopped.output
    assert emulator.write_calls() == 0 and len(clearing.state_ids()) == N

    allowed = clearing.sync("--allow-removals", emulator=emulator)
    assert allowed.code == 0, allowed.output
    assert len(_cleared(emulator)) == N and clearing.state_ids() == set()


def test_group_agent_writes_pendos_agent_fields(clearing):
    """`group: agent` writes the visitor's agent metadata group, checked against that group's
    fields; the custom group is left alone."""
    models = clearing.path / "models" / "_models.yml"
    models.write_text(models.read_text().replace("          on_remove: clear\n", "          group: agent\n"))
    with make_emulator(agent_emulator_data()) as agent_emulator:
        counts = clearing.sync(emulator=agent_emulator)
        assert counts.code == 0, counts.output
        assert agent_emulator.values("visitor", "u-000003", group="agent") == {
            "plan": "pro",
            "score": 30,
            "is_active": False,
        }
        assert agent_emulator.all_values("visitor") == {}
        writes = {r.path for r in agent_emulator.request_log() if r.method == "POST"}
        assert writes == {"/api/v1/metadata/visitor/agent/value"}
