"""Records the warehouse writes (DuckDB, macros/payload.sql) are the records Python builds:
one model of edge values per column kind (tests/fixtures/records_project), synced once with
DuckDB writing each record's JSON and once with Python building them (the project turns the
macro off by dispatch), leaves Pendo with the same values, typed alike, and the same rows
invalid for the same reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dbt_pendo_sync.emulator import EmulatorData

from ..conftest import ROOT, IncrementalProject, _copy, base_env, make_emulator

FIXTURE = ROOT / "tests" / "fixtures" / "records_project"
FIELDS = {
    "name": "string",
    "score": "integer",
    "big": "number",
    "ratio": "number",
    "amount": "number",
    "active": "boolean",
    "born": "time",
    "seen": "time",
    "note": "string",
}
PYTHON_ONLY = (
    "{% macro duckdb__pendo_sync_record_json(id_key, id, fields, blank) %}{{ return(none) }}{% endmacro %}\n"
)


@dataclass
class Synced:
    built_by: str
    values: dict[str, dict]
    invalid: list[tuple[str, str]]


def _sync(project: IncrementalProject, *args: str) -> Synced:
    data = EmulatorData.default()
    for name, pendo_type in FIELDS.items():
        data.schema["visitor"]["custom"][name] = {"Type": pendo_type, "DisplayName": name}
    with make_emulator(data) as emulator:
        result = project.sync("--create-missing", *args, emulator=emulator)
        assert result.code == 1, result.output  # the model's invalid rows, on purpose
        model = project.results()["models"][0]
        assert model["status"] == "partial", model["message"]
        invalid = sorted(
            (str(r["id"]), r["reason"]) for r in project.rejected() if r["category"] == "invalid"
        )
        return Synced(model["records_built_by"], emulator.all_values("visitor"), invalid)


def test_records_the_warehouse_writes_are_the_records_python_builds(tmp_path):
    path = _copy(FIXTURE, tmp_path / "records_project")
    project = IncrementalProject(path, base_env(INCR_DUCKDB_PATH=str(path / "records.duckdb")), "duckdb")
    project.build()
    by_warehouse = _sync(project)

    (path / "macros").mkdir()
    (path / "macros" / "python_only.sql").write_text(PYTHON_ONLY)
    with (path / "dbt_project.yml").open("a") as config:
        config.write("dispatch:\n  - macro_namespace: dbt_pendo_sync\n")
        config.write("    search_order: [records_project, dbt_pendo_sync]\n")
    by_python = _sync(project, "--full-resync")

    assert (by_warehouse.built_by, by_python.built_by) == ("warehouse", "python")
    assert json.dumps(by_warehouse.values, sort_keys=True) == json.dumps(by_python.values, sort_keys=True)
    assert by_warehouse.invalid == by_python.invalid
    assert by_warehouse.invalid[:3] == [("None", "id is blank")] * 2 + [("None", "id is null")]
    assert [rid for rid, _ in by_warehouse.invalid[3:]] == ["v-dup", "v-dup", "v-inf", "v-long", "v-nan"]
    assert "v-nulls" not in by_warehouse.values  # skipped nulls left out, the cleared one null
    assert by_warehouse.values["v-whole"]["ratio"] == 5.0 and by_warehouse.values["v-whole"]["amount"] == 100
    assert by_warehouse.values["v-unicode"]["seen"] == "2038-01-19T03:14:08.500000+00:00"
