"""Fetching a dbt Cloud run's artifacts, against a local stand-in of dbt Cloud's API v2."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from urllib3.util.retry import Retry

from dbt_pendo_sync.dbt import cloud
from dbt_pendo_sync.dbt.cloud import DbtCloudSettings, base_url_from_host, download_run
from dbt_pendo_sync.errors import DbtCloudError, UsageError, exit_code_for
from dbt_pendo_sync.safety import Secret

from ..support.dbt_cloud import FINISHED_AT, DbtCloudStandIn

TOKEN = "dbtc_s3cr3t-t0ken-value"
ACCOUNT = "70403"
MANIFEST = b'{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}}'
RUN_RESULTS = b'{"results": []}'
BOTH = {"manifest.json": MANIFEST, "run_results.json": RUN_RESULTS}


@pytest.fixture
def stand_in() -> Iterator[DbtCloudStandIn]:
    with DbtCloudStandIn(TOKEN, ACCOUNT) as server:
        yield server


def settings_for(server: DbtCloudStandIn, token: str = TOKEN, account: str = ACCOUNT) -> DbtCloudSettings:
    return DbtCloudSettings.from_env(
        {"DBT_CLOUD_API_TOKEN": token, "DBT_CLOUD_ACCOUNT_ID": account, "DBT_CLOUD_HOST": server.url}
    )


def assert_secret_kept(error: BaseException, token: str = TOKEN) -> None:
    """The token is nowhere in the error, and nothing that could hold it is chained to it."""
    assert token not in str(error) and token not in repr(error)
    assert "\n" not in str(error)
    assert error.__cause__ is None and error.__context__ is None


def test_run_id_downloads_manifest_and_run_results(stand_in: DbtCloudStandIn, tmp_path: Path) -> None:
    stand_in.add_run(9001, job_id=42, artifacts=BOTH)

    run = download_run(settings_for(stand_in), tmp_path / "cloud" / "target", run_id=9001)

    assert (run.run_id, run.job_id, run.status, run.finished_at) == (9001, 42, "Success", FINISHED_AT)
    assert run.manifest == tmp_path / "cloud" / "target" / "manifest.json"
    assert run.manifest.read_bytes() == MANIFEST
    assert run.run_results is not None and run.run_results.read_bytes() == RUN_RESULTS
    assert sorted(p.name for p in run.manifest.parent.iterdir()) == ["manifest.json", "run_results.json"]
    prefix = f"/api/v2/accounts/{ACCOUNT}/runs/9001"
    assert [r.path for r in stand_in.requests()] == [
        f"{prefix}/",
        f"{prefix}/artifacts/manifest.json",
        f"{prefix}/artifacts/run_results.json",
    ]
    assert {r.headers["Authorization"] for r in stand_in.requests()} == {f"Token {TOKEN}"}


def test_job_id_takes_the_latest_successful_run_not_a_newer_failed_one(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    stand_in.add_run(100, job_id=42, artifacts={"manifest.json": b'{"run": 100}'})
    stand_in.add_run(101, job_id=42, artifacts={"manifest.json": b'{"run": 101}'})
    stand_in.add_run(102, job_id=42, status=20, artifacts={"manifest.json": b'{"run": 102}'})
    stand_in.add_run(103, job_id=42, status=3)
    stand_in.add_run(104, job_id=77, artifacts={"manifest.json": b'{"run": 104}'})

    run = download_run(settings_for(stand_in), tmp_path, job_id=42)

    assert (run.run_id, run.job_id, run.status) == (101, 42, "Success")
    assert json.loads(run.manifest.read_text()) == {"run": 101}
    listing = stand_in.requests()[0]
    assert listing.path == f"/api/v2/accounts/{ACCOUNT}/runs/"
    assert listing.query == {"job_definition_id": "42", "status": "10", "order_by": "-id", "limit": "1"}


def test_a_run_without_run_results_is_fine_and_leaves_no_stale_copy(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    (tmp_path / "run_results.json").write_text('{"from": "an older download"}')
    manifest_file = tmp_path / "source_manifest.json"
    manifest_file.write_bytes(MANIFEST)
    stand_in.add_run(9002, job_id=42, artifacts={"manifest.json": manifest_file})

    run = download_run(settings_for(stand_in), tmp_path, run_id=9002)

    assert run.run_results is None
    assert run.manifest.read_bytes() == MANIFEST
    assert not (tmp_path / "run_results.json").exists()


def test_a_wrong_token_says_what_to_check_and_never_shows_the_token(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    stand_in.add_run(9001, job_id=42, artifacts=BOTH)
    wrong = "dbtc_wr0ng-t0ken-value"
    settings = settings_for(stand_in, token=wrong)

    with pytest.raises(DbtCloudError) as caught:
        download_run(settings, tmp_path, run_id=9001)

    message = str(caught.value)
    assert "401" in message and "Invalid token." in message and "DBT_CLOUD_API_TOKEN" in message
    assert_secret_kept(caught.value, wrong)
    assert wrong not in repr(settings) and "***" in repr(settings.token)
    assert exit_code_for(caught.value) == 1
    assert not list(tmp_path.iterdir())


def test_another_account_is_denied_and_names_the_account_variable(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    with pytest.raises(
        DbtCloudError, match=r"denied access to account 99999 .*DBT_CLOUD_ACCOUNT_ID"
    ) as caught:
        download_run(settings_for(stand_in, account="99999"), tmp_path, run_id=9001)
    assert_secret_kept(caught.value)


def test_an_unknown_run_is_named_with_its_account(stand_in: DbtCloudStandIn, tmp_path: Path) -> None:
    with pytest.raises(DbtCloudError, match=f"there is no run 424242 in dbt Cloud account {ACCOUNT}"):
        download_run(settings_for(stand_in), tmp_path, run_id=424242)


def test_a_job_without_a_successful_run_is_refused(stand_in: DbtCloudStandIn, tmp_path: Path) -> None:
    stand_in.add_run(300, job_id=42, status=20, artifacts=BOTH)
    with pytest.raises(DbtCloudError, match=f"job 42 has no successful run in dbt Cloud account {ACCOUNT}"):
        download_run(settings_for(stand_in), tmp_path, job_id=42)


def test_a_run_that_is_not_complete_is_refused_before_any_download(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    stand_in.add_run(9003, job_id=42, status=3)
    with pytest.raises(DbtCloudError, match=r"run 9003 is not complete \(status: Running\): wait"):
        download_run(settings_for(stand_in), tmp_path, run_id=9003)
    assert not any("/artifacts/" in r.path for r in stand_in.requests())


def test_a_run_without_a_manifest_says_which_steps_make_one(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    stand_in.add_run(9004, job_id=42, artifacts={})
    with pytest.raises(DbtCloudError, match=r"run 9004 has no manifest.json") as caught:
        download_run(settings_for(stand_in), tmp_path, run_id=9004)
    assert "`dbt build`" in str(caught.value) and "`dbt docs generate`" in str(caught.value)


@pytest.mark.parametrize("status, retry_after", [(503, None), (429, "0")])
def test_a_passing_fault_is_retried(
    stand_in: DbtCloudStandIn,
    tmp_path: Path,
    status: int,
    retry_after: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stand_in.add_run(9001, job_id=42, artifacts=BOTH)
    stand_in.fail_next(1, status=status, retry_after=retry_after)

    run = download_run(settings_for(stand_in), tmp_path, run_id=9001)

    assert run.manifest.read_bytes() == MANIFEST
    first, second = stand_in.requests()[:2]
    assert (first.path, first.status) == (second.path, status) and second.status == 200
    assert TOKEN not in caplog.text


def test_an_unreachable_host_is_one_line_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloud, "RETRY", Retry(total=0, raise_on_status=False))
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = DbtCloudSettings(Secret(TOKEN), ACCOUNT, f"http://127.0.0.1:{port}")

    with pytest.raises(
        DbtCloudError, match=r"could not be reached \(ConnectionError, 1 attempts\)"
    ) as caught:
        download_run(settings, tmp_path, job_id=42)
    assert_secret_kept(caught.value)


def test_missing_environment_variables_are_named() -> None:
    with pytest.raises(UsageError) as caught:
        DbtCloudSettings.from_env({})
    assert "DBT_CLOUD_API_TOKEN and DBT_CLOUD_ACCOUNT_ID are not set" in str(caught.value)

    with pytest.raises(UsageError, match=r"^DBT_CLOUD_ACCOUNT_ID is not set: export DBT_CLOUD_ACCOUNT_ID \("):
        DbtCloudSettings.from_env({"DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_ACCOUNT_ID": "  "})
    with pytest.raises(UsageError, match="DBT_CLOUD_ACCOUNT_ID='acme' is not a dbt Cloud account id"):
        DbtCloudSettings.from_env({"DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_ACCOUNT_ID": "acme"})
    mangled = f"{TOKEN}\u2019 pasted"
    with pytest.raises(UsageError, match="DBT_CLOUD_API_TOKEN holds spaces or characters") as caught:
        DbtCloudSettings.from_env({"DBT_CLOUD_API_TOKEN": mangled, "DBT_CLOUD_ACCOUNT_ID": ACCOUNT})
    assert TOKEN not in str(caught.value)


def test_settings_from_env_default_to_cloud_getdbt_com() -> None:
    settings = DbtCloudSettings.from_env(
        {"DBT_CLOUD_API_TOKEN": f" {TOKEN} ", "DBT_CLOUD_ACCOUNT_ID": ACCOUNT}
    )
    assert (settings.token.reveal(), settings.account_id, settings.base_url) == (
        TOKEN,
        ACCOUNT,
        "https://cloud.getdbt.com",
    )
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    "host, base_url",
    [
        ("", "https://cloud.getdbt.com"),
        ("cloud.getdbt.com", "https://cloud.getdbt.com"),
        ("emea.dbt.com", "https://emea.dbt.com"),
        ("ab123.us1.dbt.com", "https://ab123.us1.dbt.com"),
        (" ab123.us1.dbt.com/ ", "https://ab123.us1.dbt.com"),
        ("https://au.dbt.com/", "https://au.dbt.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765", "http://localhost:8765"),
    ],
)
def test_dbt_cloud_host_is_a_host_name_or_a_url(host: str, base_url: str) -> None:
    assert base_url_from_host(host) == base_url


@pytest.mark.parametrize(
    "host, problem",
    [
        ("http://cloud.getdbt.com", "plain http"),
        ("ftp://cloud.getdbt.com", "not a dbt Cloud host"),
        ("https://cloud.getdbt.com/api/v2", "not a dbt Cloud host"),
        ("cloud.getdbt.com:https", "not a dbt Cloud host"),
    ],
)
def test_a_dbt_cloud_host_that_cannot_work_is_refused(host: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        base_url_from_host(host)


def test_exactly_one_of_run_id_and_job_id(tmp_path: Path) -> None:
    settings = DbtCloudSettings(Secret(TOKEN), ACCOUNT)
    for ids in ({}, {"run_id": 1, "job_id": 2}):
        with pytest.raises(UsageError, match="either a dbt Cloud run id or a job id"):
            download_run(settings, tmp_path, **ids)


def test_a_target_folder_that_cannot_be_written_is_named_before_any_download(
    stand_in: DbtCloudStandIn, tmp_path: Path
) -> None:
    stand_in.add_run(9001, job_id=42, artifacts=BOTH)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    dest = blocker / "dbt_cloud_run_9001"

    with pytest.raises(UsageError) as raised:
        download_run(settings_for(stand_in), dest, run_id=9001)

    message = str(raised.value)
    assert message.startswith(
        f"cannot write manifest.json in {dest}: Not a directory. Make that folder writable"
    )
    assert "--target-path (DBT_TARGET_PATH)" in message
    assert exit_code_for(raised.value) == 2
    assert [r.path for r in stand_in.requests()] == [f"/api/v2/accounts/{ACCOUNT}/runs/9001/"]
