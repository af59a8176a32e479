"""`dbt-pendo audit`: what a user sees after a sync (no drift), after a Pendo admin edits values
(exactly those found, `--fix` and a sync correct exactly those), right after a sync (too recent
to judge), and for nulls a sync leaves alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator

from dbt_pendo_sync.emulator import PendoEmulator
from dbt_pendo_sync.schemas import load_schema

from ..conftest import IncrementalProject, agent_emulator_data, incremental_emulator_data, make_emulator

# The warehouses whose bulk loads differ: DuckDB reads a CSV file, PostgreSQL takes COPY
# (`insert ... values`, the other warehouses' loader, is tested in tests/unit/test_readback_tables.py).
BULK_LOADERS = pytest.mark.parametrize("incremental", ["duckdb", "postgres"], indirect=True)


@pytest.fixture
def pendo() -> Iterator[PendoEmulator]:
    with make_emulator(incremental_emulator_data()) as em:
        yield em


def _audit(project: IncrementalProject, pendo: PendoEmulator, *args: str) -> tuple[int, dict]:
    run = project.command("audit", "--settle-minutes", "0", *args, emulator=pendo)
    assert run.code in (0, 1), run.output
    (model,) = project.results("pendo_audit_results.json")["models"]
    return run.code, model


def test_an_audit_after_a_sync_finds_no_drift(duck, pendo):
    assert duck.sync(emulator=pendo).code == 0
    code, model = _audit(duck, pendo)
    assert code == 0 and model["status"] == "ok"
    assert model["records"] == model["compared"] == model["equal"] == 2000
    assert model["drifted"] == model["absent"] == 0
    assert model["fields"]["plan"] == {"equal": 2000, "different": 0, "examples": []}
    schema = load_schema("pendo_audit_results.schema.json")
    Draft202012Validator(schema).validate(duck.results("pendo_audit_results.json"))


@BULK_LOADERS
def test_values_edited_in_pendo_are_found_and_fix_then_sync_corrects_exactly_those(incremental, pendo):
    project = incremental
    assert project.sync(emulator=pendo).code == 0
    pendo.set_values("visitor", "u-000003", {"plan": "edited in Pendo"})
    pendo.set_values("visitor", "u-000010", {"score": 7})
    code, model = _audit(project, pendo, "--log-format", "json")
    assert code == 1 and model["status"] == "drift" and model["drifted"] == 2
    assert model["fields"]["plan"]["examples"] == [
        {"id": "u-000003", "warehouse": "pro", "pendo": "edited in Pendo"}
    ]
    assert model["fields"]["score"]["different"] == 1

    code, model = _audit(project, pendo, "--fix")
    assert code == 1 and model["fixed"] == 2
    writes = pendo.write_calls()
    synced = project.sync(emulator=pendo)
    (result,) = project.results()["models"]
    assert synced.code == 0 and result["counts"]["sent"] == 2 and pendo.write_calls() == writes + 1
    assert (
        pendo.values("visitor", "u-000003")["plan"] == "pro"
        and pendo.values("visitor", "u-000010")["score"] == 100
    )
    assert _audit(project, pendo)[1]["drifted"] == 0


def test_records_synced_within_the_settle_time_are_reported_apart(duck, pendo):
    assert duck.sync(emulator=pendo).code == 0
    run = duck.command("audit", "--log-format", "json", emulator=pendo)  # the default: 2 hours
    (line,) = [json.loads(x) for x in run.stdout.splitlines() if '"audit_model"' in x]
    assert run.code == 0 and line["recent"] == 2000 and line["compared"] == 0


def test_nulls_a_sync_skips_are_never_drift_and_a_sample_compares_fewer(duck, pendo):
    duck.build(with_vip=True)
    assert duck.sync(emulator=pendo).code == 0
    pendo.set_values("visitor", "u-000001", {"vip": "set by an admin"})  # null in the model: skip
    code, model = _audit(duck, pendo)
    assert code == 0 and model["drifted"] == 0 and model["fields"]["vip"]["equal"] == 20
    code, model = _audit(duck, pendo, "--sample", "50")
    assert code == 0 and model["records"] == 50 and model["compared"] == 50


def test_an_audit_of_a_model_never_synced_finds_its_records_absent(duck, pendo):
    code, model = _audit(duck, pendo)
    assert model["absent"] + model["compared"] == 2000


def _as_the_model_has_it(i: int) -> dict:
    """Visitor u-<i>'s values as the incremental fixture builds them."""
    return {"plan": "pro" if i % 3 == 0 else "free", "score": i * 10, "is_active": i % 2 == 0}


@BULK_LOADERS
def test_adopt_sends_only_what_pendo_does_not_hold_equal(incremental, pendo):
    project = incremental
    project.build(rows=1010)
    for i in range(1, 1011):
        values = _as_the_model_has_it(i)
        if i % 101 == 0:  # 10 records another tool wrote differently
            values["plan"] = "from the old tool"
        pendo.set_values("visitor", f"u-{i:06d}", values)
    preview = project.sync("--adopt", "--dry-run", emulator=pendo)
    (planned,) = project.results("pendo_sync_plan.json")["models"]
    assert preview.code == 0 and (planned["counts"]["adopted"], planned["counts"]["sent"]) == (1000, 10)

    synced = project.sync("--adopt", emulator=pendo)
    (result,) = project.results()["models"]
    assert synced.code == 0, synced.output
    assert (result["counts"]["adopted"], result["counts"]["sent"], result["counts"]["updated"]) == (
        1000,
        10,
        10,
    )
    assert pendo.values("visitor", "u-000101")["plan"] == "free"
    again = project.sync(emulator=pendo)  # the adopted records are in the state: nothing to send
    (result,) = project.results()["models"]
    assert again.code == 0 and result["counts"]["sent"] == 0 and result["counts"]["unchanged"] == 1010


def test_agent_fields_edited_in_pendo_are_drift_of_an_agent_group_model(duck):
    models = duck.path / "models" / "_models.yml"
    models.write_text(
        models.read_text().replace(
            "          batch_size: 100\n", "          batch_size: 100\n          group: agent\n"
        )
    )
    with make_emulator(agent_emulator_data()) as pendo:
        assert duck.sync(emulator=pendo).code == 0
        pendo.set_values("visitor", "u-000004", {"is_active": False}, group="agent")  # the snippet's
        pendo.set_values("visitor", "u-000005", {"plan": "a custom field of its own"})  # not the model's
        code, model = _audit(duck, pendo)
    assert code == 1 and model["drifted"] == 1
    assert model["fields"]["is_active"]["examples"] == [{"id": "u-000004", "warehouse": True, "pendo": False}]
