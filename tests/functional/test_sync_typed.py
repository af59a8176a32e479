"""A project that is not sample_project (custom schema, alias, top-level meta, every common
column type), synced from DuckDB and from PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

ALL_KNOWN = {
    "u-0001",
    "u-0002",
    "u-0003",
    "u-0005",
    "u-0008",
    "u-0011",
    "u-0013",
    "u-0017",
    "u-0021",
    "u-0025",
    "u-0030",
    "u-0034",
    "u-0042",
    "u-0050",
}


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
def synced(typed, typed_emulator):
    result = typed.sync(emulator=typed_emulator)
    return typed, typed_emulator, result


def test_every_known_visitor_ends_with_the_warehouse_values(synced):
    project, emulator, result = synced
    held = emulator.all_values("visitor")
    assert set(held) == ALL_KNOWN  # ghosts are missing (not created), u-0007 is invalid

    ava = held["u-0001"]
    assert ava["nickname"] == "Ava"  # column-level rename of c_varchar
    assert "c_varchar" not in ava and "c_json" not in ava  # renamed / excluded
    assert ava["c_text"] == "plain ascii text"
    assert ava["c_bool"] is True
    assert ava["c_int"] == 42 and isinstance(ava["c_int"], int)
    assert ava["c_bigint"] == 9007199254740993
    assert ava["c_numeric"] == pytest.approx(12345678901234.123456789)
    assert ava["c_double"] == 0.1
    assert ava["c_date"] == "2024-03-10T00:00:00+00:00"
    assert ava["c_ts"] == "2024-03-10T02:30:00+00:00"
    assert _instant(ava["c_tstz"]) == dt.datetime(2024, 3, 10, 6, 59, 59, tzinfo=dt.timezone.utc)

    liam = held["u-0002"]
    assert liam["c_text"] == "Ünïcödé — ✓ 日本語 🎉"
    assert liam["c_bool"] is False
    assert liam["c_numeric"] == pytest.approx(1e-9)
    assert liam["c_bigint"] == 9007199254740992

    ethan = held["u-0011"]
    assert ethan["c_ts"] == "2024-06-15T12:00:00.500000+00:00"
    assert "c_text" not in ethan and "c_date" not in ethan  # nulls leave Pendo's values alone

    assert held["u-0030"] == {"nickname": "Hannah"}  # a row of nulls sends only what it has
    assert _instant(held["u-0008"]["c_tstz"]) == dt.datetime(2024, 6, 30, 9, 59, 59, tzinfo=dt.timezone.utc)


def test_invalid_and_missing_rows_are_counted_listed_and_not_sent(synced):
    project, emulator, result = synced
    assert result.code == 1, result.output  # invalid rows fail the run
    models = {m["model"]: m for m in project.results()["models"]}
    people = models["people_for_pendo"]
    assert people["status"] == "partial"
    assert people["counts"] == {
        "rows": 20,
        "new": 20,
        "changed": 0,
        "unchanged": 0,
        "sent": 17,
        "updated": 14,
        "missing": 3,
        "invalid": 3,
        "rejected": 0,
        "failed": 0,
        "removed": 0,
        "too_old": 0,
        "too_new": 0,
        "frozen": 20,  # a first sync: every row is new, every row frozen
        "adopted": 0,  # no --adopt
    }
    invalid = people["samples"]["invalid"]
    assert sorted(str(i["id"]) for i in invalid) == ["None", "u-0007", "u-0007"]
    assert any("null" in i["reason"] for i in invalid)
    assert any("more than one row" in i["reason"] for i in invalid)
    assert sorted(i["id"] for i in people["samples"]["missing"]) == ["ghost-1", "ghost-2", "ghost-3"]
    sent_ids = {
        rec["visitorId"]
        for r in emulator.request_log()
        if r.method == "POST" and "/visitor/" in r.path
        for rec in r.body
    }
    assert "u-0007" not in sent_ids

    rejected = project.rejected()
    assert sorted(r["category"] for r in rejected if r["model"] == "people_for_pendo") == (
        ["invalid"] * 3 + ["missing"] * 3
    )
    assert all(r["payload"] for r in rejected)


def test_accounts_use_batch_size_and_field_mapping(synced):
    project, emulator, result = synced
    calls = [r for r in emulator.request_log() if r.path == "/api/v1/metadata/account/custom/value"]
    assert sorted(len(r.body) for r in calls) == [2, 3, 3]  # batch_size: 3 (sent concurrently)
    accounts = emulator.all_values("account")
    assert set(accounts) == {"acc-001", "acc-002", "acc-004", "acc-006", "acc-008", "acc-010", "acc-012"}
    assert accounts["acc-001"] == {
        "name": "Northwind Analytics",
        "plan": "enterprise",
        "mrr": 8775,
        "seats": 250,
        "is_paying": True,
        "created_at": "2021-03-14T00:00:00+00:00",
        "industry": "Software",
    }
    assert "owner_email" not in accounts["acc-002"]  # not listed under fields
    org = {m["model"]: m for m in project.results()["models"]}["org_rollup"]
    assert org["counts"]["missing"] == 1 and org["status"] == "success"


def test_ephemeral_and_disabled_models_are_skipped_with_a_note(synced):
    project, emulator, result = synced
    models = {m["model"]: m for m in project.results()["models"]}
    assert models["people_preview"]["status"] == "skipped"
    assert "ephemeral" in models["people_preview"]["message"]
    assert models["legacy_people_export"]["status"] == "skipped"
    assert "disabled" in models["legacy_people_export"]["message"]
    assert "skipping people_preview" in result.stdout
    assert "org_headcount" not in {m for m in models}  # no pendo block: not a sync


def test_nulls_skip_keeps_pendo_values_and_clear_clears_them(typed, typed_emulator):
    typed_emulator.set_value("visitor", "u-0030", "c_text", "set by hand in Pendo")
    typed_emulator.set_value("visitor", "u-0030", "c_int", 5)
    typed.sync(emulator=typed_emulator)
    assert typed_emulator.values("visitor", "u-0030")["c_text"] == "set by hand in Pendo"  # skip

    yml = typed.path / "models" / "exports" / "_exports.yml"
    text = yml.read_text()
    text = text.replace(
        "        id_column: person_key\n", "        id_column: person_key\n        nulls: clear\n", 1
    )
    text = text.replace(
        "      - name: c_json\n",
        "      - name: c_int\n        meta: {pendo: {nulls: skip}}\n      - name: c_json\n",
        1,
    )
    yml.write_text(text)
    typed_emulator.reset_log()
    typed.sync(emulator=typed_emulator)
    held = typed_emulator.values("visitor", "u-0030")
    assert "c_text" not in held  # cleared by a null
    assert held["c_int"] == 5  # the column keeps `nulls: skip`
    sent = {
        rec["visitorId"]: rec["values"]
        for r in typed_emulator.request_log()
        if r.method == "POST" and "/visitor/" in r.path
        for rec in r.body
    }
    assert sent["u-0030"]["c_text"] is None and "c_int" not in sent["u-0030"]
    assert "u-0001" not in sent  # no nulls in that row: its payload did not change


def test_values_follow_the_pendo_field_types_and_date_options(typed):
    from ..conftest import make_emulator, typed_emulator_data

    data = typed_emulator_data()
    data.schema["visitor"]["custom"]["c_int"]["Type"] = "string"  # a number column into text
    yml = typed.path / "models" / "exports" / "_exports.yml"
    yml.write_text(
        yml.read_text().replace(
            "        id_column: person_key\n",
            "        id_column: person_key\n        date_format: epoch_ms\n"
            "        timezone: America/New_York\n",
            1,
        )
    )
    with make_emulator(data) as emulator:
        typed.sync(emulator=emulator)
        ava, ethan = emulator.values("visitor", "u-0001"), emulator.values("visitor", "u-0011")
    assert ava["c_int"] == "42"
    assert ava["c_date"] == 1710046800000  # 2024-03-10 midnight in New York (EST)
    assert ava["c_tstz"] == 1710053999000  # aware: its own offset wins
    assert ethan["c_ts"] == 1718467200500  # 2024-06-15 12:00:00.5 in New York (EDT)


def test_a_json_column_is_an_invalid_row_with_its_reason_on_either_warehouse(typed, typed_emulator):
    """DuckDB hands json over as text and psycopg2 as a dict: both are refused the same way."""
    yml = typed.path / "models" / "exports" / "_exports.yml"
    yml.write_text(
        yml.read_text()
        .replace("        meta: {pendo: {exclude: true}}\n", "        meta: {pendo: {field: c_text}}\n", 1)
        .replace(
            "      - name: c_varchar\n",
            "      - name: c_text\n        meta: {pendo: {exclude: true}}\n      - name: c_varchar\n",
            1,
        )
    )
    result = typed.sync("--select", "people_for_pendo", emulator=typed_emulator)
    assert result.code == 1, result.output
    nested = [r for r in typed.rejected() if "nested values" in r["reason"]]
    assert nested and all(r["category"] == "invalid" for r in nested)
    assert "json column holds nested values" in nested[0]["reason"].lower()
    sent = [rec for r in typed_emulator.request_log() if r.method == "POST" for rec in r.body]
    assert not [rec for rec in sent if "c_text" in rec["values"]]  # no json reached Pendo
