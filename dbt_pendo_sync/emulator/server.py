"""Local Pendo emulator: a real HTTP server on 127.0.0.1 that plays Pendo's API.

Tests and the demo point the sync at it instead of app.pendo.io. It follows the facts in the
project's Pendo API notes and has a switch for each behaviour those notes mark as uncertain
(writes naming unknown fields, the shape of "errors" entries, epoch-ms dates, token/verify),
plus deterministic fault injection (see ``Fault``).

The data the emulator starts with, and the format of its data file, are in ``data.py``
(``EmulatorData``).

Track Events (``POST /data/track``, one event per call) take the emulator's track secret in
the key header, never the integration key; without a track secret every track call gets 403.
Accepted events are kept in arrival order (``tracked_events``); whether a 200 has an empty body
or a small JSON object is a switch (``track_answer``).

Metadata writes take the "custom" and the "agent" group alike (each group's fields in the
schema, its values kept apart). Segments (``/api/v1/segment``, see ``segments.py``) are kept
in memory; whether an upload answers with a status URL too is a switch
(``segment_upload_answer``).

``latency_ms`` delays every answer on Pendo's paths, as the network to Pendo would; each
connection has its own thread, so concurrent requests wait side by side (``max_in_flight``).
``rate_limit`` caps the calls on Pendo's paths at N in any one second, as Pendo's rate limit
(reported at about 100 calls/s) would: a call beyond gets 429 with Retry-After at once, without
the latency, and is not numbered for faults nor counted as a write, track or segment call
(``throttled`` counts it; see ``ratelimit.py``).

``keep_bodies`` (default True) keeps every request, body included, in the request log and the
body of every accepted track event; with False neither is kept, only counters, so memory stays
flat over millions of rows. The values written, the schema and the segments are kept either way:
they are the Pendo database.

Besides Pendo's paths the server has its own control surface under ``/_emulator/``: no key,
never faulted, not delayed and not recorded in the request log.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from .data import ALL, GROUPS, ID_FIELDS, KINDS, EmulatorData, field_entry, record_group, record_kind
from .faults import Fault, FaultPlan
from .ratelimit import RateLimit, retry_after
from .segments import (
    PATCH_PATH,
    SEGMENT_PATH,
    UPLOAD_PATH,
    Segments,
    apply_patch,
    checked_upload_answer,
    patch_problem,
    upload_answer,
    upload_problem,
)
from .track import NO_SECRET, TRACK_PATH, checked_track_answer, event_problem
from .usage import cpu_seconds, peak_rss_mb
from .valuetypes import field_checks, is_int, type_checks, value_problem

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMA_TYPES = {"string": "string", "number": "float", "time": "time", "boolean": "boolean"}
_WRITE_CALL = re.compile(r"/api/v1/metadata/(visitor|account)/[^/]+/value")
_VALUE_PATH = r"/api/v1/metadata/([^/]+)/([^/]+)/value/([^/]+)/([^/]+)"
# (method, path pattern, PendoEmulator method name); the first match wins.
_Routes = list[tuple[str, re.Pattern[str], str]]
_API_ROUTES: _Routes = [
    ("GET", re.compile(r"/api/v1/token/verify"), "_verify"),
    ("GET", re.compile(r"/api/v1/metadata/schema/([^/]+)"), "_get_schema"),
    ("POST", re.compile(r"/api/v1/metadata/schema/([^/]+)/([^/]+)"), "_post_schema"),
    ("POST", re.compile(r"/api/v1/metadata/([^/]+)/([^/]+)/value"), "_post_values"),
    ("PUT", re.compile(_VALUE_PATH), "_put_value"),
    ("GET", re.compile(_VALUE_PATH), "_get_value"),
    ("GET", re.compile(r"/api/v1/(visitor|account)/([^/]+)"), "_get_record"),
    ("GET", re.compile(re.escape(SEGMENT_PATH)), "_list_segments"),
    ("POST", re.compile(re.escape(UPLOAD_PATH)), "_upload_segment"),
    ("GET", re.compile(re.escape(SEGMENT_PATH) + r"/([^/]+)"), "_get_segment"),
    ("PATCH", PATCH_PATH, "_patch_segment"),
]
_TRACK_ROUTES: _Routes = [("POST", re.compile(re.escape(TRACK_PATH)), "_track")]
_CONTROL_ROUTES: _Routes = [
    ("GET", re.compile(r"/_emulator/values/([^/]+)"), "_control_values"),
    ("GET", re.compile(r"/_emulator/segments"), "_control_segments"),
    ("POST", re.compile(r"/_emulator/faults"), "_control_add_fault"),
    ("DELETE", re.compile(r"/_emulator/faults"), "_control_clear_faults"),
    ("GET", re.compile(r"/_emulator/stats"), "_control_stats"),
]
# The calls faults can number, each family on its own: (method, path pattern, family).
_NUMBERED_CALLS = [
    ("POST", _WRITE_CALL, "write"),
    ("POST", re.compile(re.escape(TRACK_PATH)), "track"),
    ("POST", re.compile(re.escape(UPLOAD_PATH)), "segment_upload"),
    ("PATCH", PATCH_PATH, "segment_patch"),
]


# ---------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it (the key or track secret itself is never kept)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    key_ok: bool
    body: Any
    status: int  # 0 if the connection was dropped


@dataclass
class _Incoming:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    key: str | None
    body: Any
    json_ok: bool
    fail_ids: frozenset[str] = frozenset()  # from "partial" faults
    reject_ids: frozenset[str] = frozenset()  # from "bad_rows" faults
    failed_operations: dict[str, int] = field(default_factory=dict)  # from "multistatus" faults


@dataclass(frozen=True)
class _Answer:
    status: int  # 0 = drop the connection
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, json.dumps(payload).encode(), "application/json", headers)


def _text(status: int, message: str) -> _Answer:
    return _Answer(status, message.encode(), "text/plain; charset=utf-8")


_FORBIDDEN = _Answer(403)
_NOT_FOUND = _json(404, {"error": "not found"})
_DROPPED = _Answer(0)
_MALFORMED = _Answer(200, b'{"total": 1, "updated": 1, "fai', "application/json")
_TRACK_ANSWERS = {"empty": _Answer(200), "json": _json(200, {"status": "ok"})}


def _parse_body(raw: bytes) -> tuple[Any, bool]:
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def _group_problem(group: str) -> str | None:
    return None if group in GROUPS else f"unknown metadata group: {group} (custom or agent)"


def _json_problem(req: _Incoming) -> str | None:
    if (req.content_type or "").split(";")[0].strip().lower() != "application/json":
        return "content-type must be application/json"
    return None if req.json_ok else "body is not valid JSON"


def _batch_problem(records: Any, id_field: str) -> str | None:
    if not isinstance(records, list):
        return "body must be a JSON array"
    for i, record in enumerate(records):
        if not (
            isinstance(record, dict)
            and isinstance(record.get(id_field), str)
            and isinstance(record.get("values"), dict)
        ):
            return f'record {i}: expected {{"{id_field}": string, "values": object}}'
    return None


def _field_specs_problem(specs: Any) -> str | None:
    if not isinstance(specs, list):
        return "body must be a JSON array of field definitions"
    for spec in specs:
        if not isinstance(spec, dict):
            return "each field definition must be a JSON object"
        name = spec.get("name")
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            return f"invalid field name: {name!r}"
        if spec.get("type") not in _SCHEMA_TYPES:
            return f"invalid field type: {spec.get('type')!r} (string, number, time or boolean)"
    return None


def _new_field(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The schema entry for one checked field definition of POST .../schema/{kind}/{group}."""
    display_name = spec.get("displayname") or spec["name"]
    return field_entry(spec["name"], {"Type": _SCHEMA_TYPES[spec["type"]], "DisplayName": display_name})


# ---------------------------------------------------------------- latency


def _checked_latency(latency_ms: int) -> int:
    """`latency_ms` when it is a whole number of milliseconds >= 0, else ValueError."""
    if not is_int(latency_ms) or latency_ms < 0:
        raise ValueError(f"latency_ms must be an integer >= 0, not {latency_ms!r}")
    return latency_ms


# ---------------------------------------------------------------- HTTP server


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, lets the emulator answer it, sends (or drops) the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence http.server's per-request logging (the emulator logs requests itself)."""

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        """Requests http.server refuses before _handle (bad request line, timeout): to the log."""
        self.server.emulator._log_text(format % args)

    def _handle(self) -> None:
        started = time.monotonic()
        emulator = self.server.emulator
        length = self.headers.get("Content-Length")
        if length is None and "Transfer-Encoding" in self.headers:
            self.close_connection = True
            answer = _text(411, "Content-Length required")
            self._send(answer)
        else:
            raw = self.rfile.read(int(length or 0))
            answer = emulator._serve(self.command, self.path, self.headers, raw)
            if answer.status == 0:
                self._drop()
            else:
                self._send(answer)
        key = self.headers.get("x-pendo-integration-key")
        emulator._log_request(self.command, self.path, answer.status, key, time.monotonic() - started)

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _drop(self) -> None:
        self.close_connection = True
        _shut_down(self.connection)


class _Server(ThreadingHTTPServer):
    """Threaded server that knows its emulator and its open connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: PendoEmulator) -> None:
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (drops, stop()); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down kept-alive client connections so their threads end."""
        with self._open_lock:
            for sock in self._open:
                _shut_down(sock)


# ---------------------------------------------------------------- the emulator


@dataclass(frozen=True)
class Switches:
    """How the emulator plays the points Pendo's documentation leaves open, and read-only keys."""

    read_only_keys: Iterable[str] = ()
    unknown_fields: str = "reject"  # writes to a field the schema lacks: reject, or create_text
    errors_shape: str = "object"  # per-record errors as objects, or as text
    epoch_ms_dates: bool = True  # time fields take epoch milliseconds too
    verify_endpoint: bool = True  # GET /api/v1/token/verify exists
    track_answer: str = "empty"  # the body of an accepted track event: "empty" or "json"
    segment_upload_answer: str = "id"  # an upload answers its segmentId ("id"), or a statusUrl too


class PendoEmulator:
    """A local HTTP server answering like Pendo's API; the socket is bound on construction
    (OSError if it cannot be, e.g. errno.EADDRINUSE).

    ``track_secret``: the only value of the key header POST /data/track accepts (None: refuse
    every track call). ``latency_ms``: delay of every answer on Pendo's paths. ``switches``:
    the fields of ``Switches``.
    ``rate_limit``: calls per second on Pendo's paths before 429 (None or 0: no cap).
    ``keep_bodies``: keep the request log and the bodies of accepted track events (False:
    counters only, for benchmarks).
    ``request_log``: a text stream that gets one line per request as it is answered (method,
    path with query, status, milliseconds; for a 403 whether the key was missing, wrong or
    read-only), never a header value, the key or the track secret. None (the default) logs nothing.
    """

    def __init__(
        self,
        integration_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data: EmulatorData | None = None,
        track_secret: str | None = None,
        latency_ms: int = 0,
        rate_limit: int | None = None,
        keep_bodies: bool = True,
        request_log: TextIO | None = None,
        **switches: Any,
    ) -> None:
        switch = Switches(**switches)
        unknown_fields, errors_shape = switch.unknown_fields, switch.errors_shape
        if unknown_fields not in ("reject", "create_text"):
            raise ValueError('unknown_fields must be "reject" or "create_text"')
        if errors_shape not in ("object", "text"):
            raise ValueError('errors_shape must be "object" or "text"')
        read_only_keys, verify_endpoint, epoch_ms_dates = (
            switch.read_only_keys,
            switch.verify_endpoint,
            switch.epoch_ms_dates,
        )
        data = EmulatorData.default() if data is None else data
        self.faults = FaultPlan()
        self._key = integration_key
        self._track_secret = track_secret
        self._track_answer = checked_track_answer(switch.track_answer)
        self._segment_upload_answer = checked_upload_answer(switch.segment_upload_answer)
        self._latency = _checked_latency(latency_ms)
        self._rate = RateLimit(rate_limit)
        self._keep_bodies = keep_bodies
        self._read_only_keys = frozenset(read_only_keys)
        self._unknown_fields = unknown_fields
        self._errors_shape = errors_shape
        self._verify_endpoint = verify_endpoint
        self._checks = type_checks(epoch_ms_dates)
        self._request_log = request_log
        self._request_log_lock = threading.Lock()
        self._lock = threading.Lock()
        self._known = {"visitor": copy.copy(data.visitors), "account": copy.copy(data.accounts)}
        self._schema = copy.deepcopy(data.schema)
        # group -> kind -> record id -> values
        self._values: dict[str, dict[str, dict[str, dict]]] = {
            group: {kind: {} for kind in ID_FIELDS} for group in GROUPS
        }
        for kind in ID_FIELDS:
            for record_id, values in data.values.get(kind, {}).items():
                self._store(kind, record_id, values)
        self._segments = Segments()
        self._log: list[RecordedRequest] = []  # empty unless keep_bodies
        self._tracked: list[dict[str, Any]] = []  # empty unless keep_bodies
        self._tracked_count = 0
        self._calls: Counter[str] = Counter()  # numbered calls per family (_NUMBERED_CALLS)
        self._statuses: Counter[int] = Counter()  # answers on Pendo's paths per status (0: dropped)
        self._throttled = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False

    # -- lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321"."""
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> PendoEmulator:
        """Serve in a background daemon thread; returns self."""
        self._claim_serving()
        # A short poll interval lets stop() return quickly.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted or stop() is called, then close."""
        self._claim_serving()
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, close the socket and any kept-alive connections (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._serving:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._server.server_close()
        self._server.close_connections()

    def _claim_serving(self) -> None:
        with self._lock:
            if self._serving or self._closed:
                raise RuntimeError("the emulator serves only once")
            self._serving = True

    def __enter__(self) -> PendoEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state, for tests and the demo

    def values(self, kind: str, record_id: str, group: str = "custom") -> dict[str, Any]:
        """Values of a group (custom or agent) held for one visitor/account ({} if none)."""
        with self._lock:
            return dict(self._values[record_group(group)][record_kind(kind)].get(record_id, {}))

    def all_values(self, kind: str, group: str = "custom") -> dict[str, dict[str, Any]]:
        """Record id -> values of a group (custom or agent), for every record of a kind that has any."""
        with self._lock:
            records = self._values[record_group(group)][record_kind(kind)]
            return {rid: dict(values) for rid, values in records.items()}

    def add_records(self, kind: str, ids: Iterable[str]) -> None:
        """Make ids known, as if they existed in Pendo."""
        with self._lock:
            known = self._known[record_kind(kind)]
            if isinstance(known, set):
                known.update(ids)

    def set_value(self, kind: str, record_id: str, field: str, value: Any, group: str = "custom") -> None:
        """Seed a value as if set by hand in Pendo (the record becomes known; None clears)."""
        with self._lock:
            self._store(record_kind(kind), record_id, {field: value}, record_group(group))

    def fields(self, kind: str, group: str = "custom") -> dict[str, str]:
        """Field name -> Type in a group (custom or agent) for a kind (visitor, account or
        parentAccount)."""
        with self._lock:
            fields = self._schema[kind].get(record_group(group), {})
            return {name: entry["Type"] for name, entry in fields.items()}

    def segments(self) -> dict[str, dict[str, Any]]:
        """Segment id -> {"name", "createdByApi", "members": sorted visitor ids}, for every segment."""
        with self._lock:
            return self._segments.members()

    def segment_members(self, name_or_id: str) -> set[str]:
        """The visitor ids of the segment with this id, else with this name (KeyError if none,
        ValueError if several have that name)."""
        with self._lock:
            return set(self._segments.find(name_or_id).members)

    def add_segment(self, name: str, visitors: Iterable[str] = (), *, created_by_api: bool = False) -> str:
        """Seed a segment as if made in Pendo's UI (or by API); returns its id."""
        with self._lock:
            return self._segments.create(name, visitors, by_api=created_by_api).id

    def delete_segment(self, segment_id: str) -> None:
        """Delete a segment as if in Pendo's UI: later calls on its id get 404 (KeyError if none)."""
        with self._lock:
            self._segments.delete(segment_id)

    def request_log(self) -> list[RecordedRequest]:
        """Every Pendo API request so far, in the order they were answered (always empty when
        the emulator does not keep bodies)."""
        with self._lock:
            return list(self._log)

    def write_calls(self) -> int:
        """Number of metadata write POSTs received, faulted ones included."""
        with self._lock:
            return self._calls["write"]

    def track_calls(self) -> int:
        """Number of track POSTs received, faulted and refused ones included."""
        with self._lock:
            return self._calls["track"]

    def segment_calls(self) -> int:
        """Number of segment uploads and member PATCHes received, faulted and refused ones included."""
        with self._lock:
            return self._calls["segment_upload"] + self._calls["segment_patch"]

    def in_flight(self) -> int:
        """Number of calls on Pendo's paths being answered now (inside their latency or delay):
        calls that have reached Pendo and are not answered yet."""
        with self._lock:
            return self._in_flight

    def tracked_events(self) -> list[dict[str, Any]]:
        """The bodies of the accepted track events, in arrival order (always empty when the
        emulator does not keep bodies; stats() counts them either way)."""
        with self._lock:
            return list(self._tracked)

    def max_in_flight(self) -> int:
        """The most requests on Pendo's paths handled at the same time since start (or reset_log)."""
        with self._lock:
            return self._max_in_flight

    def throttled(self) -> int:
        """Number of calls answered 429 by the rate limit since start (or reset_log)."""
        with self._lock:
            return self._throttled

    def stats(self) -> dict[str, Any]:
        """What GET /_emulator/stats answers: call counts, answers per status, and the CPU
        seconds and peak RSS (MB) of the process the emulator runs in."""
        with self._lock:
            return {
                "write_calls": self._calls["write"],
                "track_calls": self._calls["track"],
                "segment_calls": self._calls["segment_upload"] + self._calls["segment_patch"],
                "segments": len(self._segments),
                "tracked_events": self._tracked_count,
                "requests": self._statuses.total(),
                "statuses": {str(status): n for status, n in sorted(self._statuses.items())},
                "throttled": self._throttled,
                "max_in_flight": self._max_in_flight,
                "cpu_seconds": cpu_seconds(),
                "peak_rss_mb": peak_rss_mb(),
            }

    def reset_log(self) -> None:
        """Forget the request log and the counts of answers (statuses, throttled), restart call
        numbering at 1 and the max_in_flight count."""
        with self._lock:
            self._log.clear()
            self._calls.clear()
            self._statuses.clear()
            self._throttled = 0
            self._max_in_flight = self._in_flight

    def set_latency_ms(self, latency_ms: int) -> None:
        """Delay every later answer on Pendo's paths by this many milliseconds (0: none)."""
        self._latency = _checked_latency(latency_ms)

    def set_rate_limit(self, rate_limit: int | None) -> None:
        """Cap later calls on Pendo's paths at this many per second (None or 0: no cap)."""
        self._rate.set(rate_limit)

    def set_track_answer(self, answer: str) -> None:
        """Answer later accepted track events with an empty body ("empty") or JSON ("json")."""
        self._track_answer = checked_track_answer(answer)

    # -- request handling

    def _serve(self, method: str, target: str, headers: Message, raw: bytes) -> _Answer:
        parts = urlsplit(target)
        body, json_ok = _parse_body(raw)
        key = headers.get("x-pendo-integration-key")
        req = _Incoming(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            content_type=headers.get("Content-Type"),
            key=key,
            body=body,
            json_ok=json_ok,
        )
        if req.path.startswith("/_emulator/"):
            return self._dispatch(_CONTROL_ROUTES, req)
        wait = self._rate.admit()
        answer = self._answer_admitted(req) if wait is None else self._throttle(wait)
        self._record(req, answer)
        return answer

    def _answer_admitted(self, req: _Incoming) -> _Answer:
        """The answer to a call within the rate limit: after the latency, faults applied."""
        with self._counted_in_flight():
            if self._latency:
                time.sleep(self._latency / 1000)
            with self._lock:
                call = self._number_call(req.method, req.path)
                faults = self.faults.due(req.method, req.path, call)
            return self._answer(req, faults)

    def _throttle(self, wait: float) -> _Answer:
        """The 429 to a call beyond the rate limit, answered at once; counted as throttled."""
        with self._lock:
            self._throttled += 1
        message = f"too many requests: at most {self._rate.per_second} calls per second"
        return _json(429, {"error": message}, (("Retry-After", retry_after(wait)),))

    def _record(self, req: _Incoming, answer: _Answer) -> None:
        """Count the answer; keep the request in the log only when bodies are kept."""
        with self._lock:
            self._statuses[answer.status] += 1
            if self._keep_bodies:
                key_ok = self._key_ok(req.path, req.key)
                self._log.append(
                    RecordedRequest(
                        req.method, req.path, req.query, req.content_type, key_ok, req.body, answer.status
                    )
                )

    @contextmanager
    def _counted_in_flight(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _number_call(self, method: str, path: str) -> int | None:
        """The number of a call within its family (_NUMBERED_CALLS), None for other calls; the
        caller holds self._lock."""
        for call_method, pattern, family in _NUMBERED_CALLS:
            if method == call_method and pattern.fullmatch(path):
                self._calls[family] += 1
                return self._calls[family]
        return None

    def _key_ok(self, path: str, key: str | None) -> bool:
        if path.startswith("/data/"):
            return self._track_secret is not None and key == self._track_secret
        return key == self._key or key in self._read_only_keys

    def _refusal(self, path: str, key: str | None) -> str | None:
        """Why the key of a request with this path is refused, never the key itself (None: it
        is not)."""
        if path.startswith("/data/"):
            return self._track_refusal(key)
        if key == self._key:
            return None
        if key is None:
            return "no key"
        return "read-only key" if key in self._read_only_keys else "wrong key"

    def _track_refusal(self, key: str | None) -> str | None:
        if self._track_secret is None:
            return "no track secret configured"
        if key == self._track_secret:
            return None
        if key is None:
            return "no key"
        return "integration key, not the track secret" if key == self._key else "wrong secret"

    def _log_request(self, method: str, target: str, status: int, key: str | None, seconds: float) -> None:
        """One line of the request log: the key is only described, never shown."""
        if self._request_log is None:
            return
        answer = "dropped" if status == 0 else str(status)
        refusal = self._refusal(urlsplit(target).path, key) if status == 403 else None
        if refusal:
            answer += f" ({refusal})"
        self._log_text(f"{method} {target} -> {answer} ({seconds * 1000:.0f} ms)")

    def _log_text(self, text: str) -> None:
        if self._request_log is None:
            return
        # Request lines come from the network: no control characters reach the terminal.
        line = "".join(c if c.isprintable() else "?" for c in text)
        with self._request_log_lock:
            self._request_log.write(f"emulator: {line}\n")
            self._request_log.flush()

    def _answer(self, req: _Incoming, faults: list[Fault]) -> _Answer:
        for fault in faults:
            if fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault.kind == "status":
                retry = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
                return _json(fault.status, {"error": f"injected fault: HTTP {fault.status}"}, retry)
            elif fault.kind == "drop":
                return _DROPPED
        req.fail_ids = frozenset().union(*(f.ids for f in faults if f.kind == "partial"))
        req.reject_ids = frozenset().union(*(f.ids for f in faults if f.kind == "bad_rows"))
        req.failed_operations = {f.operation: f.status for f in faults if f.kind == "multistatus"}
        answer = self._route(req)
        return _MALFORMED if any(f.kind == "malformed" for f in faults) else answer

    def _route(self, req: _Incoming) -> _Answer:
        if req.path.startswith("/data/"):
            return self._route_track(req)
        if not req.path.startswith("/api/"):
            return _NOT_FOUND
        if not self._key_ok(req.path, req.key) or (req.method != "GET" and req.key != self._key):
            return _FORBIDDEN
        return self._dispatch(_API_ROUTES, req)

    def _route_track(self, req: _Incoming) -> _Answer:
        if self._track_secret is None:
            return _text(403, NO_SECRET)
        if req.key != self._track_secret:
            return _FORBIDDEN
        return self._dispatch(_TRACK_ROUTES, req)

    def _dispatch(self, routes: _Routes, req: _Incoming) -> _Answer:
        for method, pattern, handler in routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                return getattr(self, handler)(req, *map(unquote, match.groups()))
        return _NOT_FOUND

    # -- Pendo API endpoints (called by _dispatch)

    def _verify(self, req: _Incoming) -> _Answer:
        if not self._verify_endpoint:
            return _NOT_FOUND
        return _json(200, {"valid": True, "writeAccess": req.key == self._key})

    def _get_schema(self, req: _Incoming, kind: str) -> _Answer:
        with self._lock:
            return _json(200, self._schema[kind]) if kind in self._schema else _NOT_FOUND

    def _post_schema(self, req: _Incoming, kind: str, group: str) -> _Answer:
        if kind not in KINDS:
            return _NOT_FOUND
        if group != "custom":
            return _text(400, "fields can only be created in the custom group")
        problem = _json_problem(req) or _field_specs_problem(req.body)
        if problem:
            return _text(400, problem)
        with self._lock:
            custom = self._schema[kind]["custom"]
            taken = [spec["name"] for spec in req.body if spec["name"] in custom]
            if taken:
                return _text(400, f"field already exists: {', '.join(taken)}")
            created = {spec["name"]: _new_field(spec) for spec in req.body}
            custom.update(created)
        return _json(200, created)

    def _post_values(self, req: _Incoming, kind: str, group: str) -> _Answer:
        id_field = ID_FIELDS.get(kind)
        if id_field is None:
            return _NOT_FOUND
        problem = _group_problem(group) or _json_problem(req) or _batch_problem(req.body, id_field)
        if problem:
            return _text(400, problem)
        rejected = next((r[id_field] for r in req.body if r[id_field] in req.reject_ids), None)
        if rejected is not None:
            return _json(400, {"error": f"invalid value for {rejected}"})
        create = req.query.get("create", "").lower() == "true"
        with self._lock:
            return self._write_batch(kind, group, req.body, create, req.fail_ids)

    def _put_value(self, req: _Incoming, kind: str, group: str, record_id: str, name: str) -> _Answer:
        if kind not in ID_FIELDS:
            return _NOT_FOUND
        problem = _group_problem(group) or _json_problem(req)
        if problem:
            return _text(400, problem)
        with self._lock:
            if not self._is_known(kind, record_id):
                return _NOT_FOUND
            fields = self._schema[kind][group]
            refused = self._admit_fields(fields, [name])
            if refused:
                return refused
            problem = value_problem(fields, field_checks(self._checks, fields), {name: req.body})
            if problem:
                return _json(400, {"error": problem})
            self._store(kind, record_id, {name: req.body}, group)
        return _json(200, {})

    def _get_value(self, req: _Incoming, kind: str, group: str, record_id: str, name: str) -> _Answer:
        with self._lock:
            stored = self._values.get(group, {}).get(kind, {}).get(record_id, {})
            return _json(200, stored[name]) if name in stored else _NOT_FOUND

    def _get_record(self, req: _Incoming, kind: str, record_id: str) -> _Answer:
        with self._lock:
            if not self._is_known(kind, record_id):
                return _NOT_FOUND
            metadata = {group: dict(self._values[group][kind].get(record_id, {})) for group in GROUPS}
        return _json(200, {ID_FIELDS[kind]: record_id, "metadata": metadata})

    def _list_segments(self, req: _Incoming) -> _Answer:
        by_api = req.query.get("createdByApi", "").lower()
        if by_api not in ("", "true", "false"):
            return _text(400, 'createdByApi must be "true" or "false"')
        with self._lock:
            return _json(200, self._segments.listed(None if not by_api else by_api == "true"))

    def _upload_segment(self, req: _Incoming) -> _Answer:
        problem = _json_problem(req) or upload_problem(req.body)
        if problem:
            return _text(400, problem)
        with self._lock:
            segment = self._segments.create(req.body["name"], req.body["visitors"])
        return _json(200, upload_answer(segment.id, self._segment_upload_answer))

    def _get_segment(self, req: _Incoming, segment_id: str) -> _Answer:
        with self._lock:
            segment = self._segments.get(segment_id)
            return _NOT_FOUND if segment is None else _json(200, segment.shown())

    def _patch_segment(self, req: _Incoming, segment_id: str) -> _Answer:
        problem = _json_problem(req) or patch_problem(req.body)
        if problem:
            return _text(400, problem)
        with self._lock:
            segment = self._segments.get(segment_id)
            if segment is None:
                return _NOT_FOUND
            statuses = apply_patch(segment, req.body["patch"], req.failed_operations)
        return _json(200, {"multistatus": statuses})

    def _track(self, req: _Incoming) -> _Answer:
        problem = _json_problem(req) or event_problem(req.body)
        if problem:
            return _text(400, problem)
        with self._lock:
            self._tracked_count += 1
            if self._keep_bodies:
                self._tracked.append(req.body)
        return _TRACK_ANSWERS[self._track_answer]

    # -- control surface (called by _dispatch)

    def _control_values(self, req: _Incoming, kind: str) -> _Answer:
        group = req.query.get("group", "custom")
        if kind not in ID_FIELDS or group not in GROUPS:
            return _NOT_FOUND
        return _json(200, self.all_values(kind, group))

    def _control_segments(self, req: _Incoming) -> _Answer:
        return _json(200, self.segments())

    def _control_add_fault(self, req: _Incoming) -> _Answer:
        try:
            fault = Fault(**req.body)
        except (TypeError, ValueError) as exc:
            return _text(400, f"invalid fault: {exc}")
        self.faults.add(fault)
        return _json(200, {})

    def _control_clear_faults(self, req: _Incoming) -> _Answer:
        self.faults.clear()
        return _json(200, {})

    def _control_stats(self, req: _Incoming) -> _Answer:
        return _json(200, self.stats())

    # -- state changes; the caller holds self._lock

    def _write_batch(
        self, kind: str, group: str, records: list[dict], create: bool, fail_ids: frozenset[str]
    ) -> _Answer:
        id_field = ID_FIELDS[kind]
        fields = self._schema[kind][group]
        refused = self._admit_fields(fields, (name for r in records for name in r["values"]))
        if refused:
            return refused
        checks = field_checks(self._checks, fields)
        missing: list[str] = []
        errors: list[Any] = []
        for record in records:
            record_id = record[id_field]
            if not (create or self._is_known(kind, record_id)):
                missing.append(record_id)
                continue
            problem: str | None
            if record_id in fail_ids:
                problem = "internal error while writing this record"
            else:
                problem = value_problem(fields, checks, record["values"])
            if problem:
                errors.append(self._error_entry(kind, record_id, problem))
            else:
                self._store(kind, record_id, record["values"], group)
        failed = len(missing) + len(errors)
        return _json(
            200,
            {
                "total": len(records),
                "updated": len(records) - failed,
                "failed": failed,
                "missing": missing,
                "errors": errors,
            },
        )

    def _admit_fields(self, fields: dict[str, dict], names: Iterable[str]) -> _Answer | None:
        """Reject (400) or create as text the names missing from a group's fields."""
        unknown = sorted({name for name in names if name not in fields})
        if not unknown:
            return None
        if self._unknown_fields == "reject":
            return _json(400, {"error": "missing field mappings: " + ", ".join(unknown)})
        for name in unknown:
            fields[name] = field_entry(name, {"Type": "string"})
        return None

    def _error_entry(self, kind: str, record_id: str, problem: str) -> Any:
        if self._errors_shape == "text":
            return f"{kind} {record_id}: {problem}"
        return {ID_FIELDS[kind]: record_id, "error": problem}

    def _is_known(self, kind: str, record_id: str) -> bool:
        known = self._known[kind]
        return known == ALL or record_id in known

    def _store(self, kind: str, record_id: str, values: Mapping[str, Any], group: str = "custom") -> None:
        """Merge values into a record's group (None deletes a field) and make the record known."""
        known = self._known[kind]
        if isinstance(known, set):
            known.add(record_id)
        records = self._values[group][kind]
        stored = records.setdefault(record_id, {})
        for name, value in values.items():
            if value is None:
                stored.pop(name, None)
            else:
                stored[name] = value
        if not stored:
            del records[record_id]
