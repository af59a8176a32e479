"""Only what built: run_results.json decides which models are synced; --all, --state and a
dbt Cloud run's artifacts (against the local stand-in of dbt Cloud's API)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dbt_pendo_sync.dbt.artifacts import Manifest, ModelNode, load_run_results
from dbt_pendo_sync.dbt.builds import belongs_to, last_build
from dbt_pendo_sync.errors import DbtError

from ..conftest import DbtProject, Run, _clone_built
from ..support.dbt_cloud import FINISHED_AT, DbtCloudStandIn
from ..support.inprocess import run_dbt

TOKEN = "dbtc_Zq8-run-results-t0ken"
ACCOUNT = "4242"
ACCOUNTS = {f"acc-{i:03d}" for i in range(1, 13)}

# -- the rule, on hand-written artifacts


def _model(name: str, relation: str | None = None) -> ModelNode:
    return ModelNode(
        unique_id=f"model.p.{name}",
        name=name,
        package_name="p",
        database="db",
        schema="main",
        alias=name,
        relation_name=relation or f'"db"."main"."{name}"',
        materialized="table",
        enabled=True,
        meta={},
        columns={},
        tags=(),
        original_file_path=f"models/{name}.sql",
        patch_path=None,
    )


def _artifacts(
    tmp_path: Path,
    *,
    manifest_id: str = "inv-1",
    manifest_at: str = "2024-05-06T10:00:00Z",
    run_id: str = "inv-1",
    run_at: str = "2024-05-06T10:05:00Z",
    which: str | None = "build",
    results: list | None = None,
    parents: dict[str, tuple[str, ...]] | None = None,
) -> Manifest:
    run_results = {
        "metadata": {"invocation_id": run_id, "generated_at": run_at, "new_key": 1},
        "args": {"which": which} if which else {},
        "results": results
        if results is not None
        else [
            {
                "unique_id": "model.p.bad",
                "status": "error",
                "message": "Runtime Error in model bad (models/bad.sql)\n  Catalog Error: no table x",
                "relation_name": '"db"."main"."bad"',
                "unknown": [1],
            },
            {"unique_id": "model.p.after_bad", "status": "skipped", "message": None},
            {"unique_id": "model.p.good", "status": "success"},
            "not a result",
            {"status": "error"},
        ],
    }
    (tmp_path / "run_results.json").write_text(json.dumps(run_results))
    return Manifest(
        path=tmp_path / "manifest.json",
        generated_at=manifest_at,
        invocation_id=manifest_id,
        adapter_type="duckdb",
        project_name="p",
        models=(),
        parents=parents or {},
    )


def test_run_results_are_read_leniently(tmp_path: Path) -> None:
    assert load_run_results(tmp_path / "run_results.json") is None
    _artifacts(tmp_path)
    read = load_run_results(tmp_path / "run_results.json")
    assert (read.invocation_id, read.generated_at, read.command) == ("inv-1", "2024-05-06T10:05:00Z", "build")
    assert read.statuses == {
        "model.p.bad": "error",
        "model.p.after_bad": "skipped",
        "model.p.good": "success",
    }
    (tmp_path / "run_results.json").write_text('{"results": []}')
    empty = load_run_results(tmp_path / "run_results.json")
    assert (empty.invocation_id, empty.command, empty.statuses) == (None, None, {})
    for broken in ('{"results": ', '{"nodes": {}}', "[]"):
        (tmp_path / "run_results.json").write_text(broken)
        with pytest.raises(DbtError, match="--all"):
            load_run_results(tmp_path / "run_results.json")


def test_failed_and_skipped_models_are_named_with_the_reason(tmp_path: Path) -> None:
    build = last_build(_artifacts(tmp_path))
    assert build.note is None
    bad = build.problem(_model("bad"))
    assert bad == (
        "its last dbt build failed (Catalog Error: no table x; run_results.json of "
        "2024-05-06 10:05:00 UTC): fix it and rebuild, or pass --all to sync what the "
        "warehouse has"
    )
    assert "skipped it, as something it depends on failed" in build.problem(_model("after_bad"))
    assert build.problem(_model("good")) is None
    assert build.problem(_model("not_in_that_build")) is None
    # A build of another target (another schema) says nothing about this relation.
    assert build.problem(_model("bad", '"db"."prod"."bad"')) is None
    assert build.problem(_model("bad", '"DB"."MAIN"."BAD"')) is not None


def test_a_skipped_model_names_what_failed_upstream_of_it(tmp_path: Path) -> None:
    """The manifest's depends_on says what dbt skipped a model for: a node upstream of it
    that errored (however far up), or a failed test of one; not a test of the model itself."""
    results = [
        {
            "unique_id": "model.p.bad",
            "status": "error",
            "message": "Runtime Error in model bad (x)\n  no table x",
        },
        {"unique_id": "test.p.unique_seeded_id.1a", "status": "fail", "message": "Got 2 results"},
        {"unique_id": "test.p.not_null_after_id.2b", "status": "fail"},
        {"unique_id": "model.p.middle", "status": "skipped"},
        {"unique_id": "model.p.after_bad", "status": "skipped"},
        {"unique_id": "model.p.after_seed", "status": "skipped"},
    ]
    parents = {
        "model.p.middle": ("model.p.bad",),
        "model.p.after_bad": ("model.p.middle", "model.p.fine"),
        "test.p.unique_seeded_id.1a": ("seed.p.seeded",),
        "test.p.not_null_after_id.2b": ("model.p.after_seed",),
        "model.p.after_seed": ("seed.p.seeded", "model.p.bad"),
    }
    build = last_build(_artifacts(tmp_path, results=results, parents=parents))
    assert build.problem(_model("after_bad")).startswith(
        "its last dbt build skipped it, as upstream model bad failed (no table x; run_results.json of "
    )
    assert build.problem(_model("after_bad")).endswith(
        "fix what failed and rebuild, or pass --all to sync what the warehouse has"
    )
    assert build.problem(_model("after_seed")).startswith(
        "its last dbt build skipped it, as upstream model bad and test unique_seeded_id failed "
        "(run_results.json of "
    )


def test_which_run_results_belong_to_the_manifest(tmp_path: Path) -> None:
    same = _artifacts(tmp_path)  # one dbt build wrote both
    assert belongs_to(load_run_results(tmp_path / "run_results.json"), same)
    # `dbt parse` / `dbt ls` after the build: a newer manifest of another invocation.
    reparsed = _artifacts(tmp_path, manifest_id="inv-2", manifest_at="2024-05-06T11:00:00Z")
    assert last_build(reparsed).problem(_model("bad")) is not None
    # A run_results newer than a manifest of another invocation: not this manifest's build.
    mixed = _artifacts(tmp_path, manifest_id="inv-0", manifest_at="2024-05-06T09:00:00Z")
    ignored = last_build(mixed)
    assert ignored.problem(_model("bad")) is None
    assert "newer than the manifest" in ignored.note and "ignored" in ignored.note
    # Times dbt did not write: the file next to the manifest gets the benefit of the doubt.
    unknown = _artifacts(tmp_path, manifest_id="inv-0", manifest_at="", run_at="")
    assert last_build(unknown).problem(_model("bad")) is not None
    # Commands that build nothing replaced the build's record: nothing is skipped.
    compiled = last_build(_artifacts(tmp_path, which="compile"))
    assert compiled.problem(_model("bad")) is None and "not of a build" in compiled.note
    assert last_build(_artifacts(tmp_path, which=None)).problem(_model("bad")) is not None
    assert last_build(_artifacts(tmp_path, which="retry")).problem(_model("bad")) is not None


# -- real dbt builds, synced into the emulator


def _build_fails(project: DbtProject, cause: str) -> None:
    """`dbt build` of `project` (in this process), which fails naming `cause`."""
    done = Run(*run_dbt(["build", *project.args()], project.env, project.path))
    assert done.code == 1 and cause in done.output, done.output


@pytest.fixture(scope="module")
def failed_build(built_sample: DbtProject, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """sample_project built once fine, then again with pendo_accounts broken: the second
    `dbt build` fails that model, whose table from the first build is still there. The
    first build's artifacts are kept in good_artifacts/."""
    project = _clone_built(built_sample, tmp_path_factory.mktemp("failed"))
    good = project.path / "good_artifacts"
    good.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy2(project.path / "target" / name, good / name)
    sql = project.path / "models" / "marts" / "pendo_accounts.sql"
    sql.write_text(sql.read_text().replace("from companies\n", "from companies_gone\n"))
    _build_fails(project, "companies_gone")
    return project


@pytest.fixture
def failed(failed_build: DbtProject, tmp_path: Path) -> DbtProject:
    """A private copy of the failed build."""
    return _clone_built(failed_build, tmp_path)


@pytest.fixture(scope="module")
def upstream_failed_build(built_sample: DbtProject, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """sample_project built once fine, then again with stg_users and stg_companies broken:
    dbt skips every pendo model, none of which failed itself."""
    project = _clone_built(built_sample, tmp_path_factory.mktemp("upstream"))
    for name, column in (("stg_users", "user_id"), ("stg_companies", "company_id")):
        sql = project.path / "models" / "staging" / f"{name}.sql"
        sql.write_text(
            sql.read_text().replace(f"cast({column} as varchar)", "cast(no_such_column as varchar)", 1)
        )
    _build_fails(project, "no_such_column")
    return project


def _models(project: DbtProject) -> dict[str, dict]:
    return {m["model"]: m for m in project.results()["models"]}


def test_a_failed_model_is_skipped_with_the_reason_and_all_syncs_it(failed, emulator) -> None:
    result = failed.sync(emulator=emulator)
    assert result.code == 0, result.output  # a skipped model does not fail the run
    models = _models(failed)
    assert models["pendo_visitors"]["status"] == "success"
    skipped = models["pendo_accounts"]
    assert skipped["status"] == "skipped"
    assert skipped["message"].startswith(
        "its last dbt build failed (Catalog Error: Table with name "
        "companies_gone does not exist!; run_results.json of "
    )
    assert skipped["message"].endswith("fix it and rebuild, or pass --all to sync what the warehouse has")
    assert "skipping pendo_accounts: its last dbt build failed" in result.stdout
    run_results = json.loads((failed.path / "target" / "run_results.json").read_text())
    assert (
        failed.results()["metadata"]["dbt"]["run_results_invocation_id"]
        == (run_results["metadata"]["invocation_id"])
    )
    assert emulator.all_values("account") == {} and len(emulator.all_values("visitor")) == 50

    # The project changed since: this tool parses it again (a new manifest, a new invocation
    # id), and the build's run_results.json still speaks for the warehouse.
    (failed.path / "models" / "marts" / "_pendo.yml").touch()
    result = failed.sync("--dry-run", "--show", "0")
    assert result.code == 0, result.output
    plan = failed.results("pendo_sync_plan.json")
    assert plan["manifest"]["invocation_id"] != run_results["metadata"]["invocation_id"]
    assert {m["model"]: m["status"] for m in plan["models"]} == {
        "pendo_accounts": "skipped",
        "pendo_product_events": "planned",
        "pendo_visitors": "planned",
    }

    result = failed.sync("--all", emulator=emulator)
    assert result.code == 0, result.output
    assert _models(failed)["pendo_accounts"]["status"] == "success"
    assert set(emulator.all_values("account")) == ACCOUNTS  # from the first build's table


def test_every_model_skipped_for_an_upstream_failure_is_named_with_it(
    upstream_failed_build, emulator, tmp_path
) -> None:
    project = _clone_built(upstream_failed_build, tmp_path)
    result = project.sync(emulator=emulator)
    assert result.code == 0, result.output  # skipped models do not fail the run (dbt's exit code did)
    text = " ".join(result.output.split())
    assert "no selected model has a pendo block" not in text
    assert "nothing to sync: all 3 selected model(s) with a pendo block were skipped" in text
    models = _models(project)
    assert {name: m["status"] for name, m in models.items()} == {
        "pendo_accounts": "skipped",
        "pendo_product_events": "skipped",
        "pendo_visitors": "skipped",
    }
    assert models["pendo_accounts"]["message"].startswith(
        "its last dbt build skipped it, as upstream model stg_companies failed (Binder Error: "
    )
    assert "no_such_column" in models["pendo_accounts"]["message"]
    assert models["pendo_visitors"]["message"].startswith(
        "its last dbt build skipped it, as upstream model stg_companies and model stg_users failed "
        "(run_results.json of "
    )
    assert (
        "skipping pendo_product_events: its last dbt build skipped it, as upstream model stg_users failed"
    ) in text
    assert emulator.write_calls() == 0


def test_state_reads_the_artifacts_of_that_folder_without_parsing(failed, emulator, tmp_path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy2(failed.path / "target" / name, state / name)
    (failed.path / "target" / "run_results.json").unlink()  # only the state folder's counts
    (failed.path / "models" / "broken.yml").write_text("models: [ {name: x\n")  # no parse
    result = failed.sync("--state", str(state), emulator=emulator)
    assert result.code == 0, result.output
    models = _models(failed)  # results still go to the project's target path
    assert models["pendo_accounts"]["status"] == "skipped"
    assert models["pendo_visitors"]["status"] == "success"
    assert models["pendo_visitors"]["counts"]["updated"] == 50
    assert not (state / "pendo_sync_results.json").exists()

    listed = failed.command("ls", "--state", str(state), "--output", "json")
    assert listed.code == 0, listed.output
    assert {r["model"] for r in json.loads(listed.stdout)} == {
        "pendo_accounts",
        "pendo_product_events",
        "pendo_visitors",
    }

    clash = failed.sync("--dry-run", "--state", str(state), "--manifest", str(state / "manifest.json"))
    assert clash.code == 2 and "give one of them" in clash.stderr


def _cloud_env(cloud: DbtCloudStandIn) -> dict[str, str]:
    return {"DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_ACCOUNT_ID": ACCOUNT, "DBT_CLOUD_HOST": cloud.url}


def _assert_token_kept(result, project: DbtProject) -> None:
    assert TOKEN not in result.output
    for path in project.path.rglob("*"):
        if path.is_file() and path.suffix not in (".duckdb", ".wal"):
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_dbt_cloud_run_is_synced_as_its_artifacts_say(failed, emulator) -> None:
    with DbtCloudStandIn(TOKEN, ACCOUNT) as cloud:
        cloud.add_run(
            9001,
            job_id=42,
            status=20,
            artifacts={
                "manifest.json": failed.path / "target" / "manifest.json",
                "run_results.json": failed.path / "target" / "run_results.json",
            },
        )
        # The local project may have moved on (even broken): the run's manifest is used.
        (failed.path / "models" / "broken.yml").write_text("models: [ {name: x\n")
        result = failed.sync("--dbt-cloud-run-id", "9001", emulator=emulator, **_cloud_env(cloud))
        seen = cloud.requests()
    assert result.code == 0, result.output
    assert (
        f"syncing what dbt Cloud run 9001 of job 42 built: status Error, finished at {FINISHED_AT}"
    ) in result.stdout
    folder = failed.path / "target" / "dbt_cloud_run_9001"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "run_results.json"]
    models = _models(failed)
    assert models["pendo_accounts"]["status"] == "skipped"  # failed in that run
    assert "its last dbt build failed" in models["pendo_accounts"]["message"]
    assert models["pendo_visitors"]["status"] == "success"
    assert failed.results()["dbt_cloud_run"] == {
        "run_id": 9001,
        "job_id": 42,
        "status": "Error",
        "finished_at": FINISHED_AT,
    }
    assert {r.headers["Authorization"] for r in seen} == {f"Token {TOKEN}"}
    _assert_token_kept(result, failed)


def test_a_dbt_cloud_job_syncs_its_latest_successful_run(failed, emulator) -> None:
    good, bad = failed.path / "good_artifacts", failed.path / "target"
    with DbtCloudStandIn(TOKEN, ACCOUNT) as cloud:
        cloud.add_run(
            100,
            job_id=42,
            artifacts={
                "manifest.json": good / "manifest.json",
                "run_results.json": good / "run_results.json",
            },
        )
        cloud.add_run(
            101,
            job_id=42,
            status=20,
            artifacts={"manifest.json": bad / "manifest.json", "run_results.json": bad / "run_results.json"},
        )
        result = failed.sync("--dbt-cloud-job-id", "42", emulator=emulator, **_cloud_env(cloud))
        both = failed.sync(
            "--dry-run", "--dbt-cloud-job-id", "42", "--dbt-cloud-run-id", "100", **_cloud_env(cloud)
        )
    assert result.code == 0, result.output
    assert "dbt Cloud run 100 of job 42 built: status Success" in result.stdout
    assert {m["model"]: m["status"] for m in failed.results()["models"]} == {
        "pendo_accounts": "success",
        "pendo_product_events": "success",
        "pendo_visitors": "success",
    }
    assert set(emulator.all_values("account")) == ACCOUNTS
    assert sorted(p.name for p in (failed.path / "target").iterdir() if p.name.startswith("dbt_cloud")) == [
        "dbt_cloud_run_100"
    ]
    _assert_token_kept(result, failed)
    assert both.code == 2 and "not both" in both.stderr
