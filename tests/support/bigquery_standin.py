"""A local stand-in for the part of BigQuery's REST API (v2) that the real
google-cloud-bigquery client uses to run a query and page through its result:

    POST /bigquery/v2/projects/{p}/jobs                 jobs.insert (answers RUNNING)
    GET  /bigquery/v2/projects/{p}/jobs/{job}           jobs.get (DONE, or DONE with errorResult)
    GET  /bigquery/v2/projects/{p}/queries/{job}        jobs.getQueryResults (maxResults, pageToken,
                                                        startIndex, fields, formatOptions.useInt64Timestamp)

That is the sequence `client.query(sql).result(page_size=N)` and iterating `.pages` makes
(google-cloud-bigquery 3.x, its default api_method INSERT): the first page comes with the
getQueryResults that `result()` makes, later pages from getQueryResults with a pageToken.

There is no SQL engine: a test registers tables (name -> schema + Python rows) and a query
returns the rows of the registered table whose name it mentions. Values are encoded as the REST
API encodes them (every scalar a string, rows {"f": [{"v": ...}]}, RECORD a nested {"f": ...},
REPEATED [{"v": ...}], TIMESTAMP as int64 microseconds or float seconds). A query that mentions no
registered table fails as BigQuery fails it (a DONE job with errorResult reason notFound; an HTTP
error in BigQuery's error shape from getQueryResults). Requests and rows handed out are counted.
Any other call is answered with an error and recorded in `unhandled`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PREFIX = "/bigquery/v2/projects/"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Column:
    """A field of a table schema, as BigQuery's API describes it."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Column, ...] = ()

    def api_repr(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode}
        if self.fields:
            out["fields"] = [f.api_repr() for f in self.fields]
        return out


@dataclass
class Table:
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The API method: jobs.insert, jobs.get, jobs.getQueryResults (or "unknown")."""
        rest = self.path[len(_PREFIX) :].split("/") if self.path.startswith(_PREFIX) else []
        if self.method == "POST" and len(rest) == 2 and rest[1] == "jobs":
            return "jobs.insert"
        if self.method == "GET" and len(rest) == 3 and rest[1] == "jobs":
            return "jobs.get"
        if self.method == "GET" and len(rest) == 3 and rest[1] == "queries":
            return "jobs.getQueryResults"
        return "unknown"


@dataclass
class _Job:
    project: str
    job_id: str
    location: str
    configuration: dict[str, Any]
    table: Table | None
    error: dict[str, str] | None
    polls: int = 0  # jobs.get calls so far
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class BigQueryStandin:
    """The stand-in server on 127.0.0.1 (a free port), serving while used as a context manager."""

    def __init__(
        self,
        project: str = "standin-project",
        location: str = "US",
        *,
        running_polls: int = 0,
        page_cap: int | None = None,
    ) -> None:
        """`running_polls`: how many jobs.get calls find a job still RUNNING (getQueryResults
        answers jobComplete: false meanwhile). `page_cap`: the most rows one response holds,
        whatever maxResults asks (BigQuery cuts pages at about 10 MB)."""
        self.project = project
        self.location = location
        self.running_polls = running_polls
        self.page_cap = page_cap
        self.tables: dict[str, Table] = {}
        self.requests: list[Request] = []
        self.unhandled: list[Request] = []
        self.rows_served = 0
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests use -------------------------------------------------------------------------

    def add_table(self, name: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        """Register `name`: a query whose SQL mentions it returns these rows."""
        self.tables[name] = Table(list(columns), rows)

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the stand-in is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, kind: str) -> list[Request]:
        """The requests of one API method so far (e.g. "jobs.getQueryResults")."""
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.unhandled.clear()
            self.rows_served = 0

    def __enter__(self) -> BigQueryStandin:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # keep-alive connections of a client must not block close
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how soon shutdown() is noticed
            name="bigquery-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- the API ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
        kind = request.kind
        parts = request.path[len(_PREFIX) :].split("/")
        if kind == "jobs.insert":
            return self._insert(parts[0], request.body or {})
        if kind == "jobs.get":
            return self._get(parts[0], parts[2])
        if kind == "jobs.getQueryResults":
            return self._query_results(parts[0], parts[2], request.params)
        with self._lock:
            self.unhandled.append(request)
        return _error(400, "badRequest", f"the stand-in does not serve {request.method} {request.path}")

    def _insert(self, project: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reference = body.get("jobReference", {})
        config = body.get("configuration", {})
        query = config.get("query", {})
        sql = query.get("query")
        job_id = reference.get("jobId")
        if not job_id or sql is None:
            return _error(400, "invalid", "the stand-in only runs query jobs with a jobReference.jobId")
        if query.get("useLegacySql", True):  # the API's own default is legacy SQL
            return _error(400, "invalidQuery", "the stand-in only runs GoogleSQL (useLegacySql: false)")
        table, error = self._table_for(sql)
        job = _Job(project, job_id, reference.get("location") or self.location, config, table, error)
        with self._lock:
            if job_id in self._jobs:
                return _error(409, "duplicate", f"Already Exists: Job {project}:{job.location}.{job_id}")
            self._jobs[job_id] = job
        return 200, self._job_resource(job, state="RUNNING")

    def _get(self, project: str, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self._jobs.get(job_id)
        if job is None or job.project != project:
            return _error(404, "notFound", f"Not found: Job {project}:{self.location}.{job_id}")
        with self._lock:
            job.polls += 1
        return 200, self._job_resource(job, state=self._state(job))

    def _state(self, job: _Job) -> str:
        return "DONE" if job.polls > self.running_polls else "RUNNING"

    def _query_results(
        self, project: str, job_id: str, params: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        job = self._jobs.get(job_id)
        if job is None or job.project != project:
            return _error(404, "notFound", f"Not found: Job {project}:{self.location}.{job_id}")
        if self._state(job) != "DONE":
            return 200, {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": self._reference(job),
                "jobComplete": False,
            }
        if job.error is not None:
            return _error(404, job.error["reason"], job.error["message"])
        assert job.table is not None
        total = len(job.table.rows)
        start = int(params.get("startIndex", 0))
        if "pageToken" in params:
            start = int(base64.urlsafe_b64decode(params["pageToken"]).decode())
        limit = int(params["maxResults"]) if "maxResults" in params else total
        if self.page_cap is not None:
            limit = min(limit, self.page_cap)
        end = min(total, start + limit)
        int64_ts = params.get("formatOptions.useInt64Timestamp", "").lower() == "true"
        rows = [_encode_row(job.table.columns, row, int64_ts) for row in job.table.rows[start:end]]
        resource: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "etag": f"etag-{job_id}-{start}",
            "schema": {"fields": [c.api_repr() for c in job.table.columns]},
            "jobReference": self._reference(job),
            "totalRows": str(total),
            "totalBytesProcessed": "0",
            "jobComplete": True,
            "cacheHit": False,
        }
        if rows:
            resource["rows"] = rows
        if end < total:
            resource["pageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
        if "fields" in params:  # a partial response, as the API gives
            keep = {f.strip() for f in params["fields"].split(",")}
            resource = {k: v for k, v in resource.items() if k in keep}
        with self._lock:
            self.rows_served += len(rows)
        return 200, resource

    def _table_for(self, sql: str) -> tuple[Table | None, dict[str, str] | None]:
        for name in sorted(self.tables, key=len, reverse=True):
            if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", sql, re.IGNORECASE):
                return self.tables[name], None
        found = re.search(r"\bfrom\s+([\w.`\-]+)", sql, re.IGNORECASE)
        parts = (found.group(1).replace("`", "") if found else "dataset.table").split(".")
        project, dataset, table = ([self.project, "dataset"] + parts)[-3:]
        qualified = f"{project}:{dataset}.{table}"
        message = f"Not found: Table {qualified} was not found in location {self.location}"
        return None, {"reason": "notFound", "message": message}

    def _reference(self, job: _Job) -> dict[str, str]:
        return {"projectId": job.project, "jobId": job.job_id, "location": job.location}

    def _job_resource(self, job: _Job, state: str) -> dict[str, Any]:
        status: dict[str, Any] = {"state": state}
        statistics: dict[str, Any] = {"creationTime": str(job.created_ms), "startTime": str(job.created_ms)}
        if state == "DONE":
            statistics["endTime"] = str(job.created_ms + 1)
            if job.error is not None:
                status["errorResult"] = {**job.error, "location": "query"}
                status["errors"] = [{**job.error, "location": "query"}]
            else:
                statistics["query"] = {"totalBytesProcessed": "0", "statementType": "SELECT"}
        return {
            "kind": "bigquery#job",
            "etag": f"etag-{job.job_id}",
            "id": f"{job.project}:{job.location}.{job.job_id}",
            "selfLink": f"{_PREFIX}{job.project}/jobs/{job.job_id}?location={job.location}",
            "user_email": "anonymous@standin.invalid",
            "jobReference": self._reference(job),
            "configuration": job.configuration,
            "status": status,
            "statistics": statistics,
        }


_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


def _error(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    """BigQuery's error body (the Google JSON API error shape)."""
    return code, {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": _STATUS.get(code, "UNKNOWN"),
        }
    }


def _encode_row(columns: Sequence[Column], row: Sequence[Any], int64_ts: bool) -> dict[str, Any]:
    return {"f": [{"v": _encode(c, v, int64_ts)} for c, v in zip(columns, row, strict=True)]}


def _encode(column: Column, value: Any, int64_ts: bool) -> Any:
    if value is None:
        return [] if column.mode == "REPEATED" else None
    if column.mode == "REPEATED":
        scalar = Column(column.name, column.type, "NULLABLE", column.fields)
        return [{"v": _encode(scalar, item, int64_ts)} for item in value]
    kind = column.type.upper()
    if kind in ("RECORD", "STRUCT"):
        return {"f": [{"v": _encode(sub, value.get(sub.name), int64_ts)} for sub in column.fields]}
    if kind in ("BOOL", "BOOLEAN"):
        return "true" if value else "false"
    if kind in ("INT64", "INTEGER"):
        return str(int(value))
    if kind in ("FLOAT64", "FLOAT"):
        return repr(float(value))
    if kind in ("NUMERIC", "BIGNUMERIC"):
        return format(decimal.Decimal(value), "f")
    if kind == "TIMESTAMP":
        micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
        # int64 microseconds when the client asks for it, else float seconds (e.g. "1.7E9")
        return str(micros) if int64_ts else format(decimal.Decimal(micros).scaleb(-6), "E").replace("E+", "E")
    if kind in ("DATE", "DATETIME", "TIME"):
        return value.isoformat()
    if kind == "BYTES":
        return base64.standard_b64encode(value).decode()
    if kind == "JSON":
        return json.dumps(value)
    return str(value)


def _handler_for(standin: BigQueryStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            self._answer(json.loads(raw) if raw else None)

        def _answer(self, body: Any) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            code, resource = standin.handle(Request(self.command, url.path, params, body, headers))
            data = json.dumps(resource).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass

    return Handler
