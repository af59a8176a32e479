"""A dbt Cloud run's artifacts (manifest.json, run_results.json), fetched through the
Administrative API v2, so the sync can run next to a dbt Cloud job.

The API token lives only in the session's Authorization header: never in URLs, messages,
logs or exceptions (requests' own exceptions, which carry the request, are reduced to their
class name and never chained).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import __version__
from ..errors import DbtCloudError, UnwritableFolderError, UsageError, one_line
from ..safety import Secret, is_loopback

DEFAULT_HOST = "cloud.getdbt.com"
SUCCESS = 10  # run status codes: 1 queued, 2 starting, 3 running, 10 success, 20 error, 30 cancelled
_COMPLETE = frozenset({10, 20, 30})
TIMEOUT = (10.0, 300.0)  # connect, read: the manifest of a big project takes a while
RETRY = Retry(
    total=4,
    connect=4,
    read=4,
    status=4,
    other=0,
    allowed_methods=frozenset({"GET"}),
    status_forcelist=frozenset({429, 500, 502, 503, 504}),
    backoff_factor=1.0,
    backoff_max=30,
    respect_retry_after_header=True,
    retry_after_max=120,
    raise_on_status=False,
)
_ENV_HINTS = {
    "DBT_CLOUD_API_TOKEN": "a dbt Cloud service token or personal access token that can read "
    "the account's jobs and runs",
    "DBT_CLOUD_ACCOUNT_ID": "the number after /deploy/ or /accounts/ in your dbt Cloud URLs",
}
_ARTIFACT_STEPS = "`dbt build`, `dbt run`, `dbt compile` or `dbt docs generate`"


@dataclass(frozen=True)
class DbtCloudSettings:
    """Which dbt Cloud account, on which host, with which API token (never shown)."""

    token: Secret = field(repr=False)
    account_id: str
    base_url: str = f"https://{DEFAULT_HOST}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbtCloudSettings:
        """Read DBT_CLOUD_API_TOKEN, DBT_CLOUD_ACCOUNT_ID and DBT_CLOUD_HOST (optional)."""
        env = os.environ if env is None else env
        token = (env.get("DBT_CLOUD_API_TOKEN") or "").strip()
        account_id = (env.get("DBT_CLOUD_ACCOUNT_ID") or "").strip()
        missing = [
            name
            for name, value in (("DBT_CLOUD_API_TOKEN", token), ("DBT_CLOUD_ACCOUNT_ID", account_id))
            if not value
        ]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise UsageError(
                f"{' and '.join(missing)} {verb} not set: export "
                + "; ".join(f"{name} ({_ENV_HINTS[name]})" for name in missing)
            )
        if not re.fullmatch(r"[\x21-\x7e]+", token):  # never echoed: it is the secret
            raise UsageError(
                "DBT_CLOUD_API_TOKEN holds spaces or characters no dbt Cloud token has: copy the token again"
            )
        if not re.fullmatch(r"[0-9]+", account_id):
            raise UsageError(
                f"DBT_CLOUD_ACCOUNT_ID={account_id!r} is not a dbt Cloud account id: "
                f"use {_ENV_HINTS['DBT_CLOUD_ACCOUNT_ID']}"
            )
        return cls(Secret(token), account_id, base_url_from_host(env.get("DBT_CLOUD_HOST") or ""))


def base_url_from_host(host: str) -> str:
    """https://<host> for a host name ("" means cloud.getdbt.com); an http(s) URL as given."""
    raw = host.strip().rstrip("/") or DEFAULT_HOST
    url = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise UsageError(
            f"DBT_CLOUD_HOST={host!r} is not a dbt Cloud host: set your account's access URL "
            "without a path, e.g. cloud.getdbt.com, emea.dbt.com or ab123.us1.dbt.com"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"DBT_CLOUD_HOST={host!r} uses plain http: the API token would travel in clear text; "
            "use https (plain http is allowed only for 127.0.0.1/localhost)"
        )
    return url


@dataclass(frozen=True)
class CloudRun:
    """A finished dbt Cloud run and where its artifacts were saved."""

    run_id: int
    job_id: int | None
    status: str  # as dbt Cloud words it: "Success", "Error", "Cancelled"
    finished_at: str | None
    manifest: Path
    run_results: Path | None  # None when the run produced no run_results.json


def download_run(
    settings: DbtCloudSettings, dest: Path, *, run_id: int | None = None, job_id: int | None = None
) -> CloudRun:
    """Save manifest.json and run_results.json of a finished run into dest (created).

    Give run_id for that run, or job_id for the job's latest successful run.
    """
    if (run_id is None) == (job_id is None):
        raise UsageError("give either a dbt Cloud run id or a job id, not both or neither")
    with _Client(settings) as client:
        chosen = client.latest_successful_run(job_id) if job_id is not None else int(run_id or 0)
        run = client.finished_run(chosen)
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only target folder, or a path through a file
            raise UnwritableFolderError(dest / "manifest.json", exc) from None
        manifest = client.artifact(chosen, "manifest.json", dest)
        if manifest is None:
            raise DbtCloudError(
                f"dbt Cloud run {chosen} has no manifest.json: its artifacts were not generated. "
                f"The job must run a step such as {_ARTIFACT_STEPS}"
            )
        run_results = client.artifact(chosen, "run_results.json", dest)
    job = run.get("job_definition_id")
    return CloudRun(
        run_id=chosen,
        job_id=int(job) if job is not None else None,
        status=str(run.get("status_humanized") or run.get("status")),
        finished_at=run.get("finished_at"),
        manifest=manifest,
        run_results=run_results,
    )


class _Client:
    """GETs under /api/v2/accounts/{id}, with retries, reading dbt Cloud's answers."""

    def __init__(self, settings: DbtCloudSettings) -> None:
        self._settings = settings
        self._prefix = f"{settings.base_url}/api/v2/accounts/{settings.account_id}"
        self._session = requests.Session()
        self._session.trust_env = False  # no .netrc replacing the header, no proxy surprises
        adapter = HTTPAdapter(max_retries=RETRY)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Token {settings.token.reveal()}",
                "Accept": "application/json",
                "User-Agent": f"dbt-pendo-sync/{__version__}",
            }
        )

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._session.close()

    def latest_successful_run(self, job_id: int) -> int:
        """The id of the job's newest run with status Success."""
        params = {"job_definition_id": job_id, "status": SUCCESS, "order_by": "-id", "limit": 1}
        runs = self._data(self._get("/runs/", params=params), f"the runs of job {job_id}")
        if not isinstance(runs, list):
            raise self._not_api(f"the runs of job {job_id}")
        if not runs:
            raise DbtCloudError(
                f"job {job_id} has no successful run in dbt Cloud account "
                f"{self._settings.account_id}: check the job id (the number after /jobs/ in the "
                "job's page URL), or wait until a run of the job succeeds"
            )
        return int(runs[0]["id"])

    def finished_run(self, run_id: int) -> dict[str, Any]:
        """The run's details; refused unless it is complete."""
        response = self._get(f"/runs/{run_id}/")
        if response.status_code == 404:
            raise DbtCloudError(
                f"there is no run {run_id} in dbt Cloud account {self._settings.account_id}: "
                "check the run id (the number after /runs/ in the run's page URL)"
            )
        run = self._data(response, f"run {run_id}")
        if not isinstance(run, dict):
            raise self._not_api(f"run {run_id}")
        complete = run.get("is_complete")
        if complete is None:
            complete = run.get("status") in _COMPLETE
        if not complete:
            status = run.get("status_humanized") or run.get("status")
            raise DbtCloudError(
                f"dbt Cloud run {run_id} is not complete (status: {status}): "
                "wait until it finishes, then try again"
            )
        return run

    def artifact(self, run_id: int, name: str, dest: Path) -> Path | None:
        """Save one artifact of the run as dest/name; None (and no stale copy) if it has none."""
        target = dest / name
        with self._get(f"/runs/{run_id}/artifacts/{name}", stream=True) as response:
            if response.status_code == 404:
                target.unlink(missing_ok=True)
                return None
            if response.status_code != 200:
                raise DbtCloudError(
                    f"dbt Cloud answered {response.status_code} to the request "
                    f"for {name} of run {run_id}: {self._problem(response)}"
                )
            partial = target.with_name(name + ".part")
            failure = _save(response, partial)
        if failure is not None:
            partial.unlink(missing_ok=True)
            raise DbtCloudError(
                f"the download of {name} of dbt Cloud run {run_id} broke off ({failure}): try again"
            )
        partial.replace(target)
        return target

    def _get(
        self, path: str, *, params: Mapping[str, Any] | None = None, stream: bool = False
    ) -> requests.Response:
        try:
            response = self._session.get(self._prefix + path, params=params, stream=stream, timeout=TIMEOUT)
        except requests.RequestException as exc:
            failure = type(exc).__name__
        else:
            return self._authorized(response)
        # Raised outside the except block, so the request (and its header) is not chained.
        raise DbtCloudError(
            f"dbt Cloud at {self._settings.base_url} could not be reached ({failure}, "
            f"{int(RETRY.total or 0) + 1} attempts): check the network and DBT_CLOUD_HOST"
        )

    def _authorized(self, response: requests.Response) -> requests.Response:
        if response.status_code == 401:
            raise DbtCloudError(
                f"dbt Cloud refused the API token (401: {self._problem(response)}): check "
                "DBT_CLOUD_API_TOKEN (a service token or personal access token, not expired or "
                f"revoked) and that DBT_CLOUD_HOST ({self._settings.base_url}) is your account's "
                "access URL"
            )
        if response.status_code == 403:
            raise DbtCloudError(
                f"dbt Cloud denied access to account {self._settings.account_id} "
                f"(403: {self._problem(response)}): check DBT_CLOUD_ACCOUNT_ID, and that "
                "DBT_CLOUD_API_TOKEN belongs to that account and may read its jobs and runs"
            )
        return response

    def _data(self, response: requests.Response, what: str) -> Any:
        """The "data" of a 200 answer, else an error naming what was asked for."""
        if response.status_code != 200:
            raise DbtCloudError(
                f"dbt Cloud answered {response.status_code} to the request for "
                f"{what}: {self._problem(response)}"
            )
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError):
            pass
        raise self._not_api(what)

    def _not_api(self, what: str) -> DbtCloudError:
        return DbtCloudError(
            f"{self._settings.base_url} did not answer the request for {what} "
            "as dbt Cloud's API does: check DBT_CLOUD_HOST"
        )

    def _problem(self, response: requests.Response) -> str:
        """dbt Cloud's own words (status.user_message) or the body's start, on one line."""
        try:
            message = response.json()["status"]["user_message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        text = one_line(message or "", 200) or "(empty body)"
        token = self._settings.token.reveal()
        return text.replace(token, "***") if token else text


def _save(response: requests.Response, path: Path) -> str | None:
    """Stream the body into path; the class name of the network error that broke it, if any."""
    try:
        with path.open("wb") as out:
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None
