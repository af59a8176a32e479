"""Parent accounts, on real dbt (DuckDB) and the emulator playing each side of what Pendo's
documentation leaves open: `object: parent_account` writes Pendo's parentAccount metadata
whichever id key Pendo takes, stops with the fix when the subscription has no parent
accounts, and account models with `parent_account_id_column` send `parent::child` ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_pendo_sync.emulator import EmulatorData, Fault, PendoEmulator

from ..conftest import ROOT, IncrementalProject, fixture_on, make_emulator

PARENT = ROOT / "tests" / "fixtures" / "parent_project"
ENABLE_FIX = "parent accounts must be enabled for the subscription by Pendo support"
# Pendo's accounts: org-1 and org-2 are known parents (their children name them); org-3 is not.
KNOWN_ACCOUNTS = {"org-1::a1", "org-1::a2", "a3", "a4", "org-2::a5"}
PARENT_VALUES = {
    "org-1": {"name": "Acme Group", "region": "eu", "arr": 120000.5},
    "org-2": {"name": "Globex", "region": "us", "arr": 50000},
}


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path) -> IncrementalProject:
    """The parent fixture project, built on DuckDB (or the warehouse a test's parameter names)."""
    built = fixture_on(request, PARENT, tmp_path, getattr(request, "param", "duckdb"))
    built.build()
    return built


def _emulator(**switches: object) -> PendoEmulator:
    data = EmulatorData.default()
    data.accounts = set(KNOWN_ACCOUNTS)
    return make_emulator(data, **switches)


@pytest.fixture
def pendo() -> Iterator[PendoEmulator]:
    """Pendo with parent accounts, keyed parentAccountId."""
    with _emulator() as em:
        yield em


def _writes(emulator: PendoEmulator) -> list[tuple[int, tuple[str, ...]]]:
    """Each parent account write: its status and the keys of its first record."""
    return [
        (r.status, tuple(sorted(r.body[0])))
        for r in emulator.request_log()
        if r.method == "POST" and r.path.startswith("/api/v1/metadata/parentAccount/")
    ]


@pytest.mark.parametrize("id_key", ["parentAccountId", "accountId"])
def test_parent_account_writes_land_whichever_id_key_pendo_takes(project, id_key):
    with _emulator(parent_account_id_key=id_key) as pendo:
        synced = project.sync("--select", "parent_accounts", emulator=pendo)
        assert synced.code == 0, synced.output
        assert pendo.all_values("parentAccount") == PARENT_VALUES
        (model,) = project.results()["models"]
        assert (model["object"], model["status"]) == ("parent_account", "success")
        assert (model["counts"]["updated"], model["counts"]["missing"]) == (2, 1)  # org-3: no child names it
        if id_key == "parentAccountId":
            assert _writes(pendo) == [(200, (id_key, "values"))]
            assert "named accountId" not in synced.output
        else:  # refused keyed parentAccountId (400 naming accountId), then the same batch again
            assert _writes(pendo) == [(400, ("parentAccountId", "values")), (200, ("accountId", "values"))]
            assert (
                "parent_accounts: Pendo refused parent account records keyed parentAccountId" in synced.output
            )
            assert "this run sent them keyed accountId" in synced.output

        pendo.add_records("account", ["org-3::a9"])  # org-3 now has a child: Pendo knows it
        again = project.sync("--select", "parent_accounts", emulator=pendo)
        assert again.code == 0, again.output
        assert pendo.values("parentAccount", "org-3") == {"name": "Initech", "region": "us", "arr": 7500}


def test_a_subscription_without_parent_accounts_stops_the_model_with_the_fix(project):
    with _emulator(parent_accounts=False) as pendo:
        synced = project.sync(emulator=pendo)
        assert synced.code == 1, synced.output
        assert ENABLE_FIX in synced.output and "Traceback" not in synced.output
        by_model = {m["model"]: m for m in project.results()["models"]}
        parent = by_model["parent_accounts"]
        assert parent["status"] == "error" and "parent_accounts (models/_models.yml)" in parent["message"]
        assert "Pendo refused parent accounts (Pendo answered 404" in parent["message"]
        assert by_model["child_accounts"]["counts"]["updated"] == 5  # the run went on
        assert _writes(pendo) == []

        checked = project.command("validate", emulator=pendo)
        assert checked.code == 1 and ENABLE_FIX in checked.output, checked.output
        assert "child_accounts" not in checked.output  # its fields were checked, and are fine


def test_a_write_pendo_answers_404_stops_the_model_with_the_fix(project, pendo):
    pendo.faults.add(
        Fault("status", status=404, path_prefix="/api/v1/metadata/parentAccount/", method="POST")
    )
    synced = project.sync("--select", "parent_accounts", emulator=pendo)
    assert synced.code == 1 and "Traceback" not in synced.output, synced.output
    (model,) = project.results()["models"]
    assert model["status"] == "error" and ENABLE_FIX in model["message"]
    assert "Pendo refused parent accounts (404 to a write" in model["message"]
    assert pendo.all_values("parentAccount") == {}


def test_a_batch_pendo_refuses_for_a_record_settles_the_key_and_is_split_as_ever(project, pendo):
    pendo.faults.add(Fault("bad_rows", ids=frozenset({"org-2"})))  # 400 to any batch holding org-2
    synced = project.sync("--select", "parent_accounts", emulator=pendo)
    assert synced.code == 1, synced.output
    assert pendo.all_values("parentAccount") == {"org-1": PARENT_VALUES["org-1"]}
    (model,) = project.results()["models"]
    assert (model["counts"]["updated"], model["counts"]["rejected"], model["counts"]["missing"]) == (1, 1, 1)
    assert {keys for _, keys in _writes(pendo)} == {("parentAccountId", "values")}
    assert "named accountId" not in synced.output


@pytest.mark.parametrize("project", ["duckdb", "postgres"], indirect=True)
def test_account_ids_are_parent_child_built_in_the_warehouse(project, pendo):
    synced = project.sync("--select", "child_accounts", emulator=pendo)
    assert synced.code == 1, synced.output  # the row without an account id is invalid
    assert set(pendo.all_values("account")) == KNOWN_ACCOUNTS  # a null or blank parent: the plain id
    assert pendo.values("account", "org-1::a1") == {"plan": "pro", "seats": 10}
    (model,) = project.results()["models"]
    built_by = "warehouse" if project.target == "duckdb" else "python"  # payload.sql: DuckDB's
    assert (model["counts"]["updated"], model["counts"]["invalid"], model["records_built_by"]) == (
        5,
        1,
        built_by,
    )
    assert [(r["id"], r["reason"]) for r in project.rejected()] == [(None, "id is null")]
    assert project.state_ids() == KNOWN_ACCOUNTS  # the ledger keeps the ids Pendo knows

    project.build(a1_parent="org-3")  # a1 moves: Pendo knows it under another id
    pendo.add_records("account", ["org-3::a1"])
    moved = project.sync("--select", "child_accounts", emulator=pendo)
    (model,) = project.results()["models"]
    counts = model["counts"]
    assert (counts["new"], counts["unchanged"], counts["sent"]) == (2, 4, 1), moved.output  # new: a1, null id
    assert pendo.values("account", "org-3::a1") == {"plan": "pro", "seats": 10}
    assert "org-1::a1" not in project.state_ids()  # left the model: forgotten (on_remove: keep)


def test_ls_and_validate_show_the_parent_account_target(project, pendo):
    listed = project.command("ls", "--output", "json")
    assert listed.code == 0, listed.output
    rows = {r["model"]: r for r in json.loads(listed.stdout)}
    assert (rows["parent_accounts"]["object"], rows["parent_accounts"]["id_column"]) == (
        "parent_account",
        "parent_id",
    )
    assert rows["child_accounts"]["fields"] == {
        "*": "(every other column)",
        "parent_id": "(parent account of each id: parent_id::account_id)",
    }
    checked = project.command("validate", emulator=pendo)
    assert checked.code == 0, checked.output

    yml = project.path / "models" / "_models.yml"
    yml.write_text(
        yml.read_text().replace("parent_account_id_column: parent_id", "parent_account_id_column: org")
    )
    checked = project.command("validate", "--offline")
    assert checked.code == 1 and "parent_account_id_column 'org' is not a column" in checked.output


def test_parent_account_id_column_belongs_to_account_blocks(project):
    yml = project.path / "models" / "_models.yml"
    yml.write_text(
        yml.read_text().replace(
            "id_column: parent_id\n", "id_column: parent_id\n          parent_account_id_column: region\n", 1
        )
    )
    checked = project.command("validate", "--offline")
    assert checked.code == 1, checked.output
    assert "pendo.parent_account_id_column: a parent_account block has no parent account" in checked.output


def test_the_emulator_refuses_a_parent_id_key_it_does_not_play():
    with pytest.raises(ValueError, match='parent_account_id_key must be "parentAccountId" or "accountId"'):
        PendoEmulator("key", parent_account_id_key="id")
