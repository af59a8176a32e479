"""The demo path: sample_project built on DuckDB, synced into the emulator."""

from __future__ import annotations

import json

import duckdb

from dbt_pendo_sync.emulator import EmulatorData

from ..conftest import emulator_key, make_emulator


def _warehouse_rows(project, table: str, id_col: str) -> dict[str, dict]:
    con = duckdb.connect(str(project.path / "sample.duckdb"), read_only=True)
    try:
        cur = con.execute(f"select * from main.{table}")
        names = [d[0] for d in cur.description]
        return {row[names.index(id_col)]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    finally:
        con.close()


def test_sample_sync_lands_warehouse_values_and_reports_missing(sample, emulator):
    result = sample.sync(emulator=emulator)
    assert result.code == 0, result.output

    visitors = _warehouse_rows(sample, "pendo_visitors", "visitor_id")
    held = emulator.all_values("visitor")
    known = {f"u-{i:04d}" for i in range(1, 51)}
    assert set(held) == known  # unknown ids were not created
    for vid in known:
        row, got = visitors[vid], held[vid]
        assert got["email"] == row["email"]
        assert got["company_plan"] == row["plan_tier"]  # renamed through `fields:`
        assert got["is_admin"] is row["is_admin"]
        assert got["events_30d"] == row["events_30d"]
        assert got["signup_date"] == f"{row['signup_date'].isoformat()}T00:00:00+00:00"
        assert got["last_active_at"] == row["last_active_at"].isoformat() + "+00:00"

    accounts = emulator.all_values("account")
    assert set(accounts) == {f"acc-{i:03d}" for i in range(1, 13)}
    acme = _warehouse_rows(sample, "pendo_accounts", "account_id")["acc-001"]
    assert accounts["acc-001"]["mrr"] == float(acme["mrr_usd"])  # column-level rename
    assert "internal_notes" not in accounts["acc-001"]  # column-level exclude
    assert "mrr_usd" not in accounts["acc-001"]

    results = {m["model"]: m for m in sample.results()["models"]}
    assert results["pendo_visitors"]["status"] == "success"
    assert results["pendo_visitors"]["counts"] == {
        "rows": 53,
        "new": 53,
        "changed": 0,
        "unchanged": 0,
        "sent": 53,
        "updated": 50,
        "missing": 3,
        "invalid": 0,
        "rejected": 0,
        "failed": 0,
        "removed": 0,
        "too_old": 0,
        "too_new": 0,
        "frozen": 53,  # a first sync: every row is new, every row frozen
        "adopted": 0,  # no --adopt
    }
    assert sorted(s["id"] for s in results["pendo_visitors"]["samples"]["missing"]) == [
        "u-0051",
        "u-0052",
        "u-0053",
    ]
    assert results["pendo_accounts"]["counts"]["missing"] == 1
    assert "pendo_visitors" in result.stdout and "missing" in result.stdout
    assert "u-0051" in result.stdout


def test_requests_follow_pendos_documented_shapes(sample, emulator):
    assert sample.sync(emulator=emulator).code == 0
    writes = [r for r in emulator.request_log() if r.method == "POST"]
    assert {r.path for r in writes} == {
        "/api/v1/metadata/visitor/custom/value",
        "/api/v1/metadata/account/custom/value",
        "/data/track",  # the sample's recent product events
    }
    for r in writes:
        assert r.key_ok and r.content_type == "application/json"
        assert r.query == {}  # update-only: never ?create=true unless asked
        if r.path == "/data/track":  # one event per call
            assert set(r.body) == {
                "type",
                "event",
                "visitorId",
                "accountId",
                "timestamp",
                "properties",
                "context",
            }
            continue
        assert isinstance(r.body, list) and r.body
        id_key = "visitorId" if "/visitor/" in r.path else "accountId"
        for record in r.body:
            assert set(record) == {id_key, "values"}
            assert isinstance(record[id_key], str) and isinstance(record["values"], dict)


def test_dry_run_sends_nothing_and_shows_payloads(sample, emulator):
    result = sample.sync("--dry-run", emulator=emulator)
    assert result.code == 0, result.output
    assert emulator.write_calls() == 0
    assert emulator.all_values("visitor") == {}
    assert '"visitorId": "u-0001"' in result.stdout
    assert "would send" in result.stdout
    plan = {m["model"]: m for m in sample.results("pendo_sync_plan.json")["models"]}
    assert plan["pendo_visitors"]["counts"]["sent"] == 53
    assert not (sample.path / "target" / "pendo_sync_results.json").exists()


def test_dry_run_needs_no_key(sample, emulator):
    result = sample.sync("--dry-run", emulator=emulator, key="")  # Pendo's URL, no key
    assert result.code == 0, result.output
    assert emulator.request_log() == []  # not even the field list is read without a key
    assert emulator.all_values("visitor") == {} and emulator.all_values("account") == {}
    plan = {m["model"]: m for m in sample.results("pendo_sync_plan.json")["models"]}
    assert plan["pendo_visitors"]["counts"]["sent"] == 53


def test_wrong_key_gets_one_clear_message_naming_all_causes(sample, emulator):
    wrong = "pk-wrong-" + emulator_key(emulator)[::-1]
    result = sample.sync(emulator=emulator, key=wrong)
    assert result.code == 1
    assert "Traceback" not in result.output
    message = result.stderr.lower()
    assert "403" in message and "wrong" in message
    assert "write access" in message and "region" in message
    assert wrong not in result.output


def test_select_and_exclude_use_dbt_selection(sample, emulator):
    result = sample.sync("--select", "pendo_accounts", emulator=emulator)
    assert result.code == 0, result.output
    assert emulator.all_values("visitor") == {} and emulator.all_values("account")
    models = [m["model"] for m in sample.results()["models"]]
    assert models == ["pendo_accounts"]

    result = sample.sync("--exclude", "pendo_accounts", emulator=emulator)
    assert [m["model"] for m in sample.results()["models"]] == ["pendo_product_events", "pendo_visitors"]


def test_given_manifest_skips_parsing(sample, emulator, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text((sample.path / "target" / "manifest.json").read_text())
    # A broken project file proves dbt does not parse the project again.
    (sample.path / "models" / "broken.yml").write_text("models: [ {name: x\n")
    result = sample.sync("--manifest", str(manifest), emulator=emulator)
    assert result.code == 0, result.output
    assert len(emulator.all_values("visitor")) == 50


def test_stale_manifest_is_parsed_again(sample, emulator):
    yml = sample.path / "models" / "marts" / "_pendo.yml"
    yml.write_text(yml.read_text().replace("plan_tier: company_plan", "plan_tier: role"))
    result = sample.sync("--dry-run")
    assert result.code == 2, result.output  # two columns now map to `role`
    assert "both map to Pendo field 'role'" in result.stderr


def test_create_missing_is_an_opt_in_upsert(sample, emulator):
    result = sample.sync("--create-missing", "--select", "pendo_visitors", emulator=emulator)
    assert result.code == 0, result.output
    writes = [r for r in emulator.request_log() if r.method == "POST"]
    assert writes and all(r.query == {"create": "true"} for r in writes)
    assert {"u-0051", "u-0052", "u-0053"} <= set(emulator.all_values("visitor"))
    assert sample.results()["models"][0]["counts"]["missing"] == 0


def _emulator_with_visitor_field(name: str, pendo_type: str | None):
    """The default emulator, with one visitor field removed (None) or retyped."""
    data = EmulatorData.default()
    fields = data.schema["visitor"]["custom"]
    if pendo_type is None:
        del fields[name]
    else:
        fields[name]["Type"] = pendo_type
    return make_emulator(data)


def test_a_field_pendo_lacks_stops_that_model_before_any_write(sample):
    with _emulator_with_visitor_field("company_plan", None) as emulator:
        result = sample.sync(emulator=emulator)
        assert result.code == 1
        models = {m["model"]: m for m in sample.results()["models"]}
        assert models["pendo_visitors"]["status"] == "error"
        message = models["pendo_visitors"]["message"]
        assert "'plan_tier' -> 'company_plan' (string)" in message
        assert "Settings > Data Mappings" in message and "--create-fields" in message
        assert not [r for r in emulator.request_log() if "/visitor/custom/value" in r.path]
        assert models["pendo_accounts"]["status"] == "success"  # other models go on

        result = sample.sync("--create-fields", emulator=emulator)
        assert result.code == 0, result.output
        assert emulator.fields("visitor")["company_plan"] == "string"
        assert "created Pendo visitor fields: company_plan (string)" in result.stdout
        assert emulator.values("visitor", "u-0001")["company_plan"] == "enterprise"


def test_a_type_conflict_names_column_field_and_both_types(sample):
    with _emulator_with_visitor_field("signup_date", "integer") as emulator:  # a date column
        result = sample.sync("--select", "pendo_visitors", emulator=emulator)
        assert result.code == 1
        message = sample.results()["models"][0]["message"]
        assert (
            "column 'signup_date' (DATE) can never be a value of Pendo visitor field "
            "'signup_date' (type integer)"
        ) in message
        assert emulator.write_calls() == 0


def test_ls_lists_the_configured_syncs_for_people_and_machines(sample):
    result = sample.command("ls", "--output", "json")
    assert result.code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert rows["pendo_visitors"]["object"] == "visitor"
    assert rows["pendo_visitors"]["fields"]["plan_tier"] == "company_plan"
    assert rows["pendo_accounts"]["fields"]["mrr_usd"] == "mrr"
    assert rows["pendo_accounts"]["fields"]["internal_notes"] == "(excluded)"
    assert rows["pendo_accounts"]["relation"] == '"sample"."main"."pendo_accounts"'
    assert rows["pendo_accounts"]["state_table"] == "main.pendo_sync_state"
    table = sample.command("ls", "--select", "pendo_visitors")
    assert table.code == 0 and "pendo_visitors" in table.stdout and "pendo_accounts" not in table.stdout


def test_two_projects_synced_in_one_process_each_read_their_own_warehouse(sample, built_sample, tmp_path):
    """As an orchestrator runs syncs: one process, the Python API's path twice, two projects
    of the same adapter type (dbt hands back the first adapter registered unless told not to)."""
    from ..conftest import _clone_built

    other = _clone_built(built_sample, tmp_path / "other")
    other.env["DBT_PENDO_SAMPLE_DB"] = str(other.path / "sample.duckdb")  # not the same profile
    con = duckdb.connect(str(other.path / "sample.duckdb"))
    con.execute("delete from main.pendo_visitors where visitor_id > 'u-0010'")
    con.close()
    rows = {p.path: len(_warehouse_rows(p, "pendo_visitors", "visitor_id")) for p in (sample, other)}
    assert rows[other.path] == 10 < rows[sample.path]
    with make_emulator() as emulator:
        for project in (sample, other):
            result = project.sync(emulator=emulator)
            assert result.code == 0, result.output
            [counts] = [m["counts"] for m in project.results()["models"] if m["object"] == "visitor"]
            assert counts["rows"] == rows[project.path]
    con = duckdb.connect(str(other.path / "sample.duckdb"))  # the run let go of the file
    con.close()
