"""One HTTP client for Pendo's API: authentication, retries with backoff, answer reading.

It knows nothing of dbt. The integration key lives only in the session headers, never in
URLs, messages or logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.util.retry import Retry

from .. import __version__
from ..errors import (
    PendoAuthError,
    PendoError,
    PendoKindRefusedError,
    PendoUnreachableError,
    SegmentGoneError,
)
from ..records import Record
from .answers import BatchOutcome, WriteAnswer, read_answer, short_body
from .bodies import json_body, records_body
from .concurrency import AdaptiveLimit
from .pacing import Pacer
from .policy import RetryPolicy
from .settings import PendoSettings

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})  # 409: "operation in progress"
BACKOFF_MAX = 30.0  # seconds: the longest wait between attempts of our own choosing
RETRY_AFTER_MAX = 120  # seconds: the longest Retry-After we honour


@dataclass(frozen=True)
class RetryNotice:
    """One retry, as told to the client's `on_retry` callback: the call (its method and path
    only, so never the key, which travels in a header), why it failed, and how long until
    the next attempt."""

    method: str | None
    path: str | None
    status: int | None  # the HTTP status that is retried; None for a connection error or timeout
    error: str | None  # the exception's class name, e.g. ReadTimeoutError
    attempt: int  # the number of the attempt that failed (1 = the first call)
    wait: float  # seconds until the next attempt (Retry-After or backoff with jitter)
    cause: str | None = None  # the connection error in a few words: connection refused, ...


class Contact:
    """Whether Pendo has answered this client yet (any status): until it has, a connection
    that cannot be made is tried only FIRST_CONTACT_ATTEMPTS times, so a wrong host or a
    closed port fails in seconds while an established run keeps its whole retry budget."""

    def __init__(self) -> None:
        self.reached = False


FIRST_CONTACT_ATTEMPTS = 3


class _BoundedRetry(Retry):
    """urllib3's Retry, bounded in total time too (and in connection attempts before Pendo
    first answered), telling the pacer about each 429, the window about each 5xx and
    `on_retry` about each retry; a retried attempt waits for the pace too."""

    def __init__(
        self,
        *args: Any,
        time_budget: float = 600.0,
        started: float | None = None,
        pacer: Pacer | None = None,
        window: AdaptiveLimit | None = None,
        contact: Contact | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.time_budget = time_budget
        self.started = started
        self.pacer = pacer
        self.window = window
        self.contact = contact
        self.on_retry = on_retry

    def new(self, **kw: Any) -> _BoundedRetry:
        kw.setdefault("time_budget", self.time_budget)
        kw.setdefault("started", self.started if self.started is not None else time.monotonic())
        kw.setdefault("pacer", self.pacer)
        kw.setdefault("window", self.window)
        kw.setdefault("contact", self.contact)
        kw.setdefault("on_retry", self.on_retry)
        return super().new(**kw)

    def sleep(self, response: Any = None) -> None:
        """urllib3's wait before the next attempt (Retry-After, else backoff), told first."""
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        if not wait:
            wait = self.get_backoff_time()
        if self.on_retry is not None and self.history:
            last = self.history[-1]
            self.on_retry(
                RetryNotice(
                    method=last.method,
                    path=urlsplit(last.url).path if last.url else None,
                    status=last.status,
                    error=type(last.error).__name__ if last.error else None,
                    cause=_cause(last.error) if last.error else None,
                    attempt=len(self.history),
                    wait=round(wait, 3),
                )
            )
        if wait > 0:
            time.sleep(wait)
        if self.pacer is not None:
            self.pacer.wait()

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        status = None if response is None else response.status
        if status == 429 and self.pacer is not None:
            self.pacer.throttled()  # a rate limit: a pace, not a smaller window
        if status == 429 and self.window is not None:
            self.window.refused()
        if status is not None and status >= 500 and self.window is not None:
            self.window.congested()
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def is_exhausted(self) -> bool:
        over_time = self.started is not None and time.monotonic() - self.started > self.time_budget
        return over_time or self._never_connected() or super().is_exhausted()

    def _never_connected(self) -> bool:
        if self.contact is None or self.contact.reached:
            return False
        refused = sum(1 for h in self.history if h.error is not None and self._is_connection_error(h.error))
        return refused >= FIRST_CONTACT_ATTEMPTS


def urllib3_retry(
    policy: RetryPolicy,
    pacer: Pacer | None = None,
    window: AdaptiveLimit | None = None,
    contact: Contact | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
    repeat_unanswered: bool = True,
) -> Retry:
    """The policy as urllib3's Retry, which also honours Retry-After. Without
    `repeat_unanswered`, a call that may have reached Pendo without an answer (read timeout,
    connection dropped once made) is not retried: urllib3 raises its error at once."""
    return _BoundedRetry(
        total=policy.attempts - 1,
        connect=policy.attempts - 1,
        read=policy.attempts - 1 if repeat_unanswered else False,
        status=policy.attempts - 1,
        other=0,
        allowed_methods=None,  # bulk metadata writes set values: repeating one is harmless
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff,
        backoff_max=BACKOFF_MAX,
        backoff_jitter=policy.backoff / 2,
        retry_after_max=RETRY_AFTER_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        time_budget=policy.time_budget,
        pacer=pacer,
        window=window,
        contact=contact,
        on_retry=on_retry,
    )


class PendoClient:
    """Calls Pendo's API; safe to share between threads (one session per thread)."""

    def __init__(
        self,
        settings: PendoSettings,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        max_in_flight: int = 48,
    ) -> None:
        if settings.key is None:
            raise PendoError("no integration key: PendoClient needs PENDO_INTEGRATION_KEY")
        self._key = settings.key
        self._settings = settings
        self._retry = retry or RetryPolicy()
        self._on_retry = on_retry  # told of every retry (from the calling thread)
        self._pacer = Pacer(self._retry.rate)
        self._window = AdaptiveLimit(max_in_flight)
        self._contact = Contact()
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
            adapter = HTTPAdapter(
                max_retries=urllib3_retry(
                    self._retry,
                    self._pacer,
                    self._window,
                    self._contact,
                    self._on_retry,
                    self._settings.repeat_unanswered,
                ),
                pool_maxsize=4,
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {
                    "x-pendo-integration-key": self._key.reveal(),
                    "content-type": "application/json",
                    "user-agent": f"dbt-pendo-sync/{__version__}",
                }
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        bulk: tuple[str, int] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request, paced. A call a sync sends in bulk gives `bulk` (its kind and its work,
        in records): it takes a place in the window of calls in flight, which its answer
        adapts. Reads and one-off calls go outside the window. `stream` leaves the body unread."""
        url = f"{self.base_url}{path}"
        data = body if body is None or isinstance(body, bytes) else json_body(body)
        try:
            with self._window.slot(*bulk) if bulk else nullcontext() as call:
                self._pacer.wait()
                if call is not None:
                    call.sent()
                response = self._session().request(
                    method,
                    url,
                    data=data,
                    params=params,
                    timeout=self._retry.timeout,
                    allow_redirects=False,
                    stream=stream,
                )
        except requests.RequestException as exc:
            raise self._unanswered(exc) from None
        self._contact.reached = True
        if response.status_code in (401, 403):
            response.close()
            raise PendoAuthError(
                self._settings.refused.format(base=self.base_url),
                unsent=not self._settings.repeat_unanswered,
            )
        if response.status_code < 400:
            self._pacer.succeeded()
        return response

    def _unanswered(self, exc: requests.RequestException) -> PendoUnreachableError:
        """The error of a call that got no answer. When unanswered calls are not repeated,
        only its last attempt can have been unanswered (the others were refused connections
        or answered statuses), so that attempt tells whether the call surely had no effect
        (`unsent`); a call that is repeated may have reached Pendo on any attempt."""
        once = not self._settings.repeat_unanswered
        if once and not _never_left(exc):
            return PendoUnreachableError(
                f"Pendo at {self.base_url} did not answer a call ({_cause(exc)}); its request may "
                "have reached Pendo, so it is not made again. Check the network"
            )
        attempts = (
            self._retry.attempts
            if self._contact.reached
            else min(self._retry.attempts, FIRST_CONTACT_ATTEMPTS)
        )
        return PendoUnreachableError(
            f"Pendo at {self.base_url} could not be reached ({_cause(exc)}) after {attempts} "
            "attempts; check the network and PENDO_BASE_URL/PENDO_REGION",
            unsent=once,
        )

    def write_values(
        self,
        kind: str,
        records: Sequence[Record],
        ids: Sequence[str],
        create: bool = False,
        group: str = "custom",
    ) -> BatchOutcome:
        """POST one batch of `{id_key: id, "values": {...}}` records (`ids`: each one's id);
        the fate of each id.

        A batch Pendo refuses with 400 is split in halves until the refused records are
        isolated: the good ones still go through, each bad one carries Pendo's answer.
        """
        answer = self.write_once(kind, group, create, records, ids)
        if answer.status == 400 and len(records) > 1:
            half = len(records) // 2
            return BatchOutcome.combine(
                self.write_values(kind, records[:half], ids[:half], create, group),
                self.write_values(kind, records[half:], ids[half:], create, group),
            )
        return answer.outcome

    def write_once(
        self, kind: str, group: str, create: bool, records: Sequence[Record], ids: Sequence[str]
    ) -> WriteAnswer:
        """One POST of a batch of `kind` records (`group`, `create` as for write_values), never
        split: Pendo's status and answer, and the fate of each id."""
        params = {"create": "true"} if create else None
        path, body = f"/api/v1/metadata/{kind}/{group}/value", records_body(records)
        response = self._call("POST", path, body, params, bulk=("metadata", len(records)))
        status = response.status_code
        if status != 200:
            text = short_body(response)
            return WriteAnswer(status, text, BatchOutcome.of_status(ids, status, text))
        try:
            outcome = read_answer(ids, response.json())
        except ValueError:
            outcome = BatchOutcome.all_failed(ids, "Pendo answered 200 with a body that is not JSON")
        return WriteAnswer(status, "", outcome)

    def track(self, event: dict, event_id: str) -> BatchOutcome:
        """POST one Track Event to the track endpoint (this client's base URL); any 200 is
        Pendo's confirmation (its body is not documented, so it is never read)."""
        response = self._call("POST", "", event, bulk=("track", 1))
        status = response.status_code
        if status == 200:
            return BatchOutcome(confirmed=[event_id])
        return BatchOutcome.of_status([event_id], status, short_body(response))

    def api_segments(self) -> dict[str, str]:
        """{name: id} of the segments created through the API (GET segment?createdByApi=true)."""
        response = self._call("GET", "/api/v1/segment", params={"createdByApi": "true"})
        if response.status_code != 200:
            raise PendoError(
                f"Pendo answered {response.status_code} to the segment list: {short_body(response)}"
            )
        try:
            listed = response.json() or []
            return {str(s["name"]): str(s["id"]) for s in listed if s.get("createdByApi", True)}
        except (ValueError, TypeError, KeyError, AttributeError):
            raise PendoError("Pendo's segment list is not a list of segments") from None

    def create_segment(self, name: str, visitors: Sequence[str]) -> str:
        """Create a segment with its first members (Pendo refuses an empty one); its id."""
        response = self._call("POST", "/api/v1/segment/upload", {"name": name, "visitors": list(visitors)})
        if response.status_code != 200:
            raise PendoError(
                f"Pendo answered {response.status_code} to creating segment '{name}': {short_body(response)}"
            )
        try:
            return str(response.json()["segmentId"])
        except (ValueError, TypeError, KeyError):
            raise PendoError(f"Pendo created segment '{name}' but its answer holds no segmentId") from None

    def patch_segment(self, segment_id: str, add: Sequence[str], remove: Sequence[str]) -> BatchOutcome:
        """Add and remove members in one call (one operation of each at most); the fate of
        every id, from the answer's multistatus (one entry per operation, for all its ids).
        SegmentGoneError when the segment no longer exists."""
        ops = [(op, ids) for op, ids in (("add", list(add)), ("remove", list(remove))) if ids]
        patch = [{"op": op, "path": "/visitors", "value": ids} for op, ids in ops]
        every = [i for _, ids in ops for i in ids]
        response = self._call(
            "PATCH", f"/api/v1/segment/{segment_id}/visitor", {"patch": patch}, bulk=("segment", len(every))
        )
        if response.status_code == 404:
            raise SegmentGoneError(segment_id)
        if response.status_code != 200:
            return BatchOutcome.of_status(every, response.status_code, short_body(response))
        try:
            statuses = {str(e.get("operation")): e for e in response.json().get("multistatus") or []}
        except (ValueError, AttributeError):
            return BatchOutcome.all_failed(every, "Pendo answered 200 with a body that is not JSON")
        outcome = BatchOutcome()
        for op, ids in ops:
            entry = statuses.get(op)
            status = entry.get("status") if isinstance(entry, dict) else None
            if status == 200:
                outcome.confirmed += ids
            else:
                why = (
                    f"the {op} operation failed ({status}): {entry.get('message') if entry else 'no status'}"
                )
                outcome.failed += [(i, why) for i in ids]
        return outcome

    def field_types(self, kind: str, group: str = "custom") -> dict[str, str]:
        """Pendo's fields of a kind in a metadata group (custom, agent): {name: Type}
        (GET metadata/schema/{kind})."""
        response = self._call("GET", f"/api/v1/metadata/schema/{kind}")
        if response.status_code != 200:  # 400 or 404: Pendo has no such kind here
            refused = PendoKindRefusedError if response.status_code in (400, 404) else PendoError
            raise refused(
                f"Pendo answered {response.status_code} to the {kind} field schema: {short_body(response)}"
            )
        try:
            listed = (response.json() or {}).get(group) or {}
        except (ValueError, AttributeError):
            raise PendoError(f"Pendo's {kind} field schema is not a JSON object") from None
        return {name: str((spec or {}).get("Type", "")) for name, spec in listed.items()}

    def key_problem(self) -> str | None:
        """What is wrong with the key for writing (GET token/verify), or None.

        The endpoint is not in Pendo's reference, so its absence (404) or an answer without
        `writeAccess` proves nothing; 401/403 raise PendoAuthError as for any call.
        """
        response = self._call("GET", "/api/v1/token/verify")
        if response.status_code != 200:
            return None
        try:
            answer = response.json()
        except ValueError:
            return None
        if isinstance(answer, dict) and answer.get("valid") is False:
            return "Pendo says the integration key is not valid"
        if isinstance(answer, dict) and answer.get("writeAccess") is False:
            return "the integration key is read-only: a sync cannot write metadata with it"
        return None

    def create_fields(self, kind: str, fields: dict[str, str]) -> None:
        """Create custom fields {name: string|number|time|boolean} (POST metadata/schema)."""
        body = [{"name": n, "displayname": n.replace("_", " ").title(), "type": t} for n, t in fields.items()]
        response = self._call("POST", f"/api/v1/metadata/schema/{kind}/custom", body)
        if response.status_code != 200:
            raise PendoError(
                f"Pendo did not create the {kind} fields {', '.join(fields)} "
                f"({response.status_code}: {short_body(response)})"
            )

    def aggregate(self, body: dict[str, Any]) -> requests.Response:
        """POST an aggregation (pendo/reading.py): the answer, its body left to read as it streams."""
        return self._call("POST", "/api/v1/aggregation", body, stream=True)

    def close(self) -> None:
        """Close every session this client opened."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


def _never_left(exc: requests.RequestException) -> bool:
    """Whether a failed call's last attempt made no connection (refused, unknown host,
    connect timeout: urllib3's ConnectTimeoutError and its NewConnectionError), so no byte of
    its request left. Any later failure (read timeout, connection reset or dropped) may come
    after Pendo received the request."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, ConnectTimeoutError)


def _cause(exc: Exception) -> str:
    """Why a call failed, in a few words (never the error's text, which names the host)."""
    text = str(exc)
    for marker, words in (
        ("Connection refused", "connection refused"),
        ("Connection aborted", "connection dropped"),
        ("Connection reset", "connection reset"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("Temporary failure in name resolution", "unknown host"),
        ("timed out", "timed out"),
        ("without response", "connection closed without an answer"),
    ):
        if marker in text:
            return words
    return type(exc).__name__
