"""`dbt-pendo exposures`: dbt exposures that put Pendo downstream of the synced models,
checked with real dbt (parse and `+exposure:` selection) on sample_project."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from dbt_pendo_sync.api import exposures
from dbt_pendo_sync.errors import UsageError
from dbt_pendo_sync.exposures import DEFAULT_OWNER, HEADER, Exposure, Owner, SyncedModel, owner_from, render

from ..conftest import ROOT, IncrementalProject, _copy, base_env

VISITORS, ACCOUNTS = "pendo_visitor_metadata", "pendo_account_metadata"
EVENTS, SEGMENTS = "pendo_track_events", "pendo_segments"


def _exposures(project, *args: str):
    return project.command("exposures", *args)


def _model_ancestors(manifest: dict, roots: set[str]) -> set[str]:
    """`roots` and every model upstream of them, from the manifest's own graph."""
    found, todo = set(), list(roots)
    while todo:
        node = todo.pop()
        if node in found or not node.startswith("model."):
            continue
        found.add(node)
        todo += manifest["parent_map"].get(node, [])
    return found


def test_written_exposures_parse_and_select_the_synced_models_upstream(sample):
    result = _exposures(sample, "--write", "models/pendo_exposures.yml")
    assert result.code == 0, result.output
    written = sample.path / "models" / "pendo_exposures.yml"
    assert result.stdout.count("\n") == 1  # one line: where, and how to check
    assert str(written) in result.stdout and f"+exposure:{VISITORS}" in result.stdout
    assert written.read_text().startswith(HEADER)

    parsed = sample.dbt("parse")  # real dbt parses the file (sample.dbt asserts exit 0)...
    assert "deprecat" not in parsed.output.lower(), parsed.output
    # ...and selects through the exposure.
    listed = sample.dbt(
        "ls",
        "--select",
        f"+exposure:{VISITORS}",
        "--resource-type",
        "model",
        "--output",
        "json",
        "--output-keys",
        "unique_id",
    )
    assert "deprecat" not in listed.output.lower(), listed.output
    selected = {json.loads(line)["unique_id"] for line in listed.stdout.splitlines() if line.startswith("{")}

    manifest = json.loads((sample.path / "target" / "manifest.json").read_text())
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    synced = {
        kind: {
            uid
            for uid, n in models.items()
            if (n["config"].get("meta") or {}).get("pendo", {}).get("object") == kind
        }
        for kind in ("visitor", "account", "event")
    }
    assert synced["visitor"] and synced["account"] and synced["event"]
    assert selected == _model_ancestors(manifest, synced["visitor"])
    assert selected - synced["visitor"]  # upstream staging models are listed too

    for kind, name in (("visitor", VISITORS), ("account", ACCOUNTS), ("event", EVENTS)):
        exposure = manifest["exposures"][f"exposure.{manifest['metadata']['project_name']}.{name}"]
        assert set(exposure["depends_on"]["nodes"]) == synced[kind]
        assert exposure["type"] == "application"
        assert exposure["owner"]["name"] == DEFAULT_OWNER.name
        assert "dbt-pendo-sync" in exposure["description"]


def test_stdout_is_the_yaml_only_with_the_given_owner(sample):
    result = _exposures(sample, "--owner", "Growth analytics")
    assert result.code == 0, result.output
    assert result.stdout.startswith(HEADER)
    doc = yaml.safe_load(result.stdout)
    assert doc["version"] == 2
    by_name = {e["name"]: e for e in doc["exposures"]}
    assert list(by_name) == [VISITORS, ACCOUNTS, EVENTS]
    assert by_name[VISITORS]["depends_on"] == ["ref('pendo_visitors')"]
    assert by_name[ACCOUNTS]["depends_on"] == ["ref('pendo_accounts')"]
    assert by_name[EVENTS]["depends_on"] == ["ref('pendo_product_events')"]
    assert by_name[EVENTS]["label"] == "Pendo Track Events"
    for exposure in by_name.values():
        assert exposure["owner"] == {"name": "Growth analytics"}
        assert re.fullmatch(r"[A-Za-z0-9_]+", exposure["name"])
    # The description names the Pendo fields: renamed, every other column, never sent.
    assert "company_plan (from plan_tier)" in by_name[VISITORS]["description"]
    assert "mrr (from mrr_usd)" in by_name[ACCOUNTS]["description"]
    assert "never internal_notes" in by_name[ACCOUNTS]["description"]
    assert by_name[EVENTS]["description"] == (
        "Pendo Track Events, one per row, synced from dbt by dbt-pendo-sync (`dbt-pendo sync`). "
        "pendo_product_events sends visitorId (from visitor_id), timestamp (from occurred_at), "
        "event (from event_name), accountId (from account_id), properties.user_role (from role)."
    )
    assert not (sample.path / "models" / "pendo_exposures.yml").exists()


def test_selection_narrows_the_exposures(sample):
    result = _exposures(sample, "--select", "pendo_accounts", "--owner-email", "data@example.com")
    assert result.code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    assert [e["name"] for e in doc["exposures"]] == [ACCOUNTS]
    assert doc["exposures"][0]["owner"] == {"email": "data@example.com"}


def test_owners_groups_and_packages_come_from_the_manifest(sample, tmp_path: Path):
    """meta.owner, the dbt group's owner, and another package's model, through the API
    (an edited manifest with --manifest: no dbt run)."""
    manifest = json.loads((sample.path / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    nodes["model.pendo_sample.pendo_visitors"]["config"]["meta"]["owner"] = "web-team@example.com"
    accounts = nodes.pop("model.pendo_sample.pendo_accounts")
    accounts.update(package_name="crm_package", unique_id="model.crm_package.pendo_accounts")
    accounts["config"]["group"] = "revenue"
    nodes["model.crm_package.pendo_accounts"] = accounts
    manifest["groups"] = {
        "group.crm_package.revenue": {
            "name": "revenue",
            "owner": {"name": "Revenue ops", "email": ["rev@example.com"]},
        }
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))

    result = exposures(sample.path, manifest=path)
    by_name = {e["name"]: e for e in yaml.safe_load(result.text)["exposures"]}
    assert by_name[VISITORS]["owner"] == {"email": "web-team@example.com"}
    assert by_name[ACCOUNTS]["owner"] == {"name": "Revenue ops", "email": "rev@example.com"}
    assert by_name[ACCOUNTS]["depends_on"] == ["ref('crm_package', 'pendo_accounts')"]
    assert result.path is None and result.notes == ()

    outside = exposures(sample.path, manifest=path, write=tmp_path / "elsewhere" / "pendo.yml")
    assert outside.path.read_text() == result.text  # folders created
    assert "outside the project's model" in outside.notes[0]
    with pytest.raises(UsageError, match=r"\.yml or \.yaml"):
        exposures(sample.path, manifest=path, write="models/pendo_exposures.txt")


def test_a_segment_model_gets_a_segments_exposure(tmp_path: Path):
    path = _copy(ROOT / "tests" / "fixtures" / "segment_project", tmp_path / "segment_project")
    project = IncrementalProject(path, base_env(INCR_DUCKDB_PATH=str(path / "fixture.duckdb")), "duckdb")
    result = _exposures(project)
    assert result.code == 0, result.output
    (exposure,) = yaml.safe_load(result.stdout)["exposures"]
    assert (exposure["name"], exposure["label"]) == (SEGMENTS, "Pendo segments")
    assert exposure["depends_on"] == ["ref('churn_risk')"]
    assert exposure["description"].endswith(
        "churn_risk: each visitor_id is a member of segment 'Churn risk (dbt)'."
    )


def _model(name: str, **extra) -> SyncedModel:
    visitors = Exposure(VISITORS, "Pendo visitor metadata", "Pendo visitor custom metadata")
    return SyncedModel(
        name=name, package="shop", exposure=visitors, sentence=f"{name} writes email.", **extra
    )


def test_render_refs_owners_and_empty():
    assert _model("a").ref("shop") == "ref('a')"
    assert _model("a").ref("other") == "ref('shop', 'a')"
    assert _model("a", version=2).ref("shop") == "ref('a', v=2)"
    assert owner_from("@alice") == Owner(name="@alice")
    assert owner_from("  ") is None and owner_from(["x"]) is None and owner_from({}) is None

    owned = render([_model("a"), _model("b", owner=Owner(name="B team"))], root_package="shop")
    doc = yaml.safe_load(owned.text)
    assert owned.names == (VISITORS,)
    assert doc["exposures"][0]["owner"] == {"name": "B team"}  # the first model with an owner
    assert doc["exposures"][0]["depends_on"] == ["ref('a')", "ref('b')"]
    assert owned.check_command() == f"dbt ls --select +exposure:{VISITORS}"

    explicit = render(
        [_model("b", owner=Owner(name="B team"))], root_package="shop", owner=Owner(email="x@example.com")
    )
    assert yaml.safe_load(explicit.text)["exposures"][0]["owner"] == {"email": "x@example.com"}

    empty = render([], root_package="shop")
    assert yaml.safe_load(empty.text) == {"version": 2, "exposures": []} and empty.names == ()
