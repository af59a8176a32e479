"""A local stand-in of dbt Cloud's Administrative API v2: the runs and artifacts endpoints.

A real HTTP server on 127.0.0.1 answering like dbt Cloud does: every answer wrapped as
``{"status": {"code", "is_success", "user_message", "developer_message"}, "data": ...}``
(artifacts are served as raw files), 401 for a wrong token, 403 for another account, 404 for
an unknown run or an artifact the run lacks. It records every request and can fail the next
N requests with a status (and Retry-After) to exercise retries.

    with DbtCloudStandIn("token", "123") as cloud:
        cloud.add_run(7001, job_id=42, artifacts={"manifest.json": b"{}"})
        settings = DbtCloudSettings(Secret("token"), "123", cloud.url)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

HUMANIZED = {1: "Queued", 2: "Starting", 3: "Running", 10: "Success", 20: "Error", 30: "Cancelled"}
FINISHED_AT = "2024-05-06 07:08:09.123456+00:00"
_LIST = re.compile(r"/api/v2/accounts/([^/]+)/runs/")
_RUN = re.compile(r"/api/v2/accounts/([^/]+)/runs/([0-9]+)/")
_ARTIFACT = re.compile(r"/api/v2/accounts/([^/]+)/runs/([0-9]+)/artifacts/(.+)")
_NOT_FOUND = "The requested resource was not found."


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class _Run:
    run_id: int
    job_id: int
    status: int
    finished_at: str | None
    artifacts: dict[str, bytes]

    def as_json(self, account_id: str) -> dict[str, Any]:
        """The run as dbt Cloud shows it (the fields a client reads, and a few more)."""
        complete = self.status in (10, 20, 30)
        return {
            "id": self.run_id,
            "account_id": int(account_id),
            "job_definition_id": self.job_id,
            "job_id": self.job_id,
            "status": self.status,
            "status_humanized": HUMANIZED.get(self.status, "Unknown"),
            "in_progress": self.status in (1, 2, 3),
            "is_complete": complete,
            "is_success": self.status == 10,
            "is_error": self.status == 20,
            "is_cancelled": self.status == 30,
            "finished_at": self.finished_at,
            "artifacts_saved": bool(self.artifacts),
        }


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _envelope(code: int, data: Any, message: str, **extra: Any) -> _Answer:
    status = {
        "code": code,
        "is_success": code < 400,
        "user_message": message,
        "developer_message": "" if code < 400 else None,
    }
    return _Answer(
        code,
        json.dumps({"status": status, "data": data, **extra}).encode(),
        {"Content-Type": "application/json"},
    )


def _error(code: int, message: str) -> _Answer:
    return _envelope(code, None, message)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        answer = self.server.stand_in._serve("GET", self.path, self.headers)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence http.server's per-request logging."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stand_in: DbtCloudStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stand_in = stand_in


class DbtCloudStandIn:
    """dbt Cloud's runs and artifacts endpoints for one account; bound on construction."""

    def __init__(self, token: str, account_id: str | int) -> None:
        self._token = token
        self._account_id = str(account_id)
        self._lock = threading.Lock()
        self._runs: dict[int, _Run] = {}
        self._log: list[RecordedRequest] = []
        self._faults: list[_Answer] = []
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321" (the value for DBT_CLOUD_HOST)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> DbtCloudStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def add_run(
        self,
        run_id: int,
        job_id: int,
        status: int = 10,
        artifacts: Mapping[str, bytes | Path] | None = None,
        finished_at: str | None = FINISHED_AT,
    ) -> None:
        """Add a run; artifacts map a path (e.g. "manifest.json") to its bytes or a file.

        finished_at is dropped for runs that are not complete (status 1, 2 or 3).
        """
        files = {
            name: value.read_bytes() if isinstance(value, Path) else value
            for name, value in (artifacts or {}).items()
        }
        done = finished_at if status in (10, 20, 30) else None
        with self._lock:
            self._runs[run_id] = _Run(run_id, job_id, status, done, files)

    def fail_next(self, count: int = 1, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` (and a Retry-After header if given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        answer = _error(status, f"injected fault: HTTP {status}")
        answer.headers.update(headers)
        with self._lock:
            self._faults.extend([answer] * count)

    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in the order they were answered."""
        with self._lock:
            return list(self._log)

    # -- request handling

    def _serve(self, method: str, target: str, headers: Mapping[str, str]) -> _Answer:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            answer = self._faults.pop(0) if self._faults else self._answer(path, query, headers)
            self._log.append(RecordedRequest(method, path, query, dict(headers.items()), answer.status))
        return answer

    def _answer(self, path: str, query: dict[str, str], headers: Mapping[str, str]) -> _Answer:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme not in ("Token", "Bearer") or token != self._token:
            return _error(401, "Invalid token.")
        for pattern, handler in ((_ARTIFACT, self._artifact), (_RUN, self._run), (_LIST, self._list)):
            match = pattern.fullmatch(path)
            if match:
                if match.group(1) != self._account_id:
                    return _error(403, "Access denied: Token is not scoped to account.")
                return handler(query, *match.groups()[1:])
        return _error(404, _NOT_FOUND)

    def _list(self, query: dict[str, str]) -> _Answer:
        runs = sorted(self._runs.values(), key=lambda run: run.run_id)
        if "job_definition_id" in query:
            runs = [r for r in runs if str(r.job_id) == query["job_definition_id"]]
        if "status" in query:
            runs = [r for r in runs if str(r.status) == query["status"]]
        order_by = query.get("order_by", "id")
        if order_by not in ("id", "-id"):
            return _error(400, f"order_by {order_by!r} is not supported by this stand-in")
        if order_by == "-id":
            runs.reverse()
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        page = runs[offset : offset + limit]
        extra = {
            "filters": {k: v for k, v in query.items() if k != "order_by"},
            "order_by": order_by,
            "pagination": {"count": len(page), "total_count": len(runs)},
        }
        return _envelope(200, [r.as_json(self._account_id) for r in page], "Success!", extra=extra)

    def _run(self, query: dict[str, str], run_id: str) -> _Answer:
        run = self._runs.get(int(run_id))
        if run is None:
            return _error(404, _NOT_FOUND)
        return _envelope(200, run.as_json(self._account_id), "Success!")

    def _artifact(self, query: dict[str, str], run_id: str, name: str) -> _Answer:
        run = self._runs.get(int(run_id))
        if run is None or name not in run.artifacts:
            return _error(404, _NOT_FOUND)
        return _Answer(200, run.artifacts[name], {"Content-Type": "application/json"})
