"""One HTTP client for Pendo's API: authentication, retries with backoff, answer reading.

It knows nothing of dbt. The integration key lives only in the session headers, never in
URLs, messages or logs.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import __version__
from ..errors import PendoAuthError, PendoError, PendoUnreachableError
from .answers import BatchOutcome, read_answer
from .settings import PendoSettings

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

AUTH_HELP = (
    "Pendo refused the integration key (403). Either the key is wrong, or it has no write "
    "access (Settings > Integrations > Integration Keys > 'Allow Write Access'), or it belongs "
    "to another region than {base} (set PENDO_REGION or PENDO_BASE_URL to your Pendo host)"
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and timeouts (seconds)."""

    attempts: int = 6
    backoff: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 330.0

    def urllib3_retry(self) -> Retry:
        """The same policy as urllib3's Retry, which also honours Retry-After."""
        return Retry(
            total=self.attempts - 1,
            connect=self.attempts - 1,
            read=self.attempts - 1,
            status=self.attempts - 1,
            other=0,
            allowed_methods=None,  # bulk metadata writes set values: repeating one is harmless
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff / 2,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )


class PendoClient:
    """Calls Pendo's API; safe to share between threads (one session per thread)."""

    def __init__(self, settings: PendoSettings, retry: RetryPolicy = RetryPolicy()) -> None:
        if settings.key is None:
            raise PendoError("no integration key: PendoClient needs PENDO_INTEGRATION_KEY")
        self._settings = settings
        self._retry = retry
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The API host this client talks to."""
        return self._settings.base_url

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            adapter = HTTPAdapter(max_retries=self._retry.urllib3_retry(), pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({
                "x-pendo-integration-key": self._settings.key.reveal(),
                "content-type": "application/json",
                "user-agent": f"dbt-pendo-sync/{__version__}",
            })
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _call(self, method: str, path: str, body: Any = None,
              params: dict[str, str] | None = None) -> requests.Response:
        url = f"{self.base_url}{path}"
        data = None if body is None else json.dumps(body, separators=(",", ":"), allow_nan=False)
        try:
            response = self._session().request(
                method, url, data=data, params=params,
                timeout=(self._retry.connect_timeout, self._retry.read_timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise PendoUnreachableError(
                f"Pendo at {self.base_url} could not be reached after {self._retry.attempts} "
                f"attempts ({type(exc).__name__}); check the network and PENDO_BASE_URL/PENDO_REGION"
            ) from None
        if response.status_code in (401, 403):
            raise PendoAuthError(AUTH_HELP.format(base=self.base_url))
        return response

    def write_values(self, kind: str, records: Sequence[dict], id_key: str,
                     create: bool = False) -> BatchOutcome:
        """POST one batch of `{id_key: id, "values": {...}}` records; the fate of each id."""
        ids = [r[id_key] for r in records]
        params = {"create": "true"} if create else None
        response = self._call("POST", f"/api/v1/metadata/{kind}/custom/value", list(records), params)
        status = response.status_code
        if status == 200:
            try:
                answer = response.json()
            except ValueError:
                return BatchOutcome.all_failed(ids, "Pendo answered 200 with a body that is not JSON")
            return read_answer(ids, answer)
        text = _short(response)
        if status == 400:
            return BatchOutcome.all_rejected(ids, f"Pendo answered 400: {text}")
        return BatchOutcome.all_failed(ids, f"Pendo answered {status} after retries: {text}")

    def close(self) -> None:
        """Close every session this client opened."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


def _short(response: requests.Response) -> str:
    text = (response.text or "").strip().replace("\n", " ")
    return text[:300] if text else "(empty body)"
