"""Local Pendo emulator: a real HTTP server on 127.0.0.1 that plays Pendo's API.

Tests and the demo point the sync at it instead of app.pendo.io. It follows the facts in the
project's Pendo API notes and has a switch for each behaviour those notes mark as uncertain
(writes naming unknown fields, the shape of "errors" entries, epoch-ms dates, token/verify,
whether the subscription has parent accounts and the id key of their records, the
aggregation's answer shape, ``limit`` step and times), plus deterministic fault injection (see
``Fault``, ``faults.py``).

This module is the core: the emulator's lifecycle, its state for tests, and the way of a
request (control surface or Pendo's paths, rate limit, latency, faults, key, API area). Around
it: ``httpserver.py`` (the HTTP layer and its log), ``answers.py`` (requests, answers, routes),
``keys.py``, ``faults.py``, ``ratelimit.py`` and ``traffic.py`` (counts, request log, stats).
Each API area is a module owning its endpoints and state: ``keys.py`` (token/verify),
``schema.py`` (metadata fields), ``values.py`` (metadata values, bulk writes),
``aggregation.py`` (reading many records back, with ``filters.py``), ``segments.py``,
``track.py`` (Track Events) and ``control.py`` (``/_emulator/``). What exists in Pendo before a
sync, and the format of the data file (``EmulatorData``), is in ``data.py``.

Track Events (``POST /data/track``, one event per call) take the emulator's track secret in
the key header, never the integration key; without a track secret every track call gets 403.
Accepted events are kept in arrival order (``tracked_events``); whether a 200 has an empty body
or a small JSON object is a switch (``track_answer``).

Metadata writes take the "custom" and the "agent" group alike (each group's fields in the
schema, its values kept apart). Segments (``/api/v1/segment``, see ``segments.py``) are kept
in memory; whether an upload answers with a status URL too is a switch
(``segment_upload_answer``).

``latency_ms`` delays every answer on Pendo's paths, as the network to Pendo would, or each
kind of call by its own time (``{"bulk": 250, "get": 5}``, see ``latency.py``), and
``latency_per_record_ms`` adds a delay per record a call carries (for an aggregation, per row
it answers); each connection has its own thread, so concurrent requests wait side by side
(``max_in_flight``).
``rate_limit`` caps the calls on Pendo's paths at N in any one second, as Pendo's rate limit
(reported at about 100 calls/s) would: a call beyond gets 429 with Retry-After at once, without
the latency, and is not numbered for faults nor counted as a write, track, segment or read
call (``throttled`` counts it; see ``ratelimit.py``). Reads (GETs and aggregations) take a
read-only key too.

``keep_bodies`` (default True) keeps every request, body included, in the request log and the
body of every accepted track event; with False neither is kept, only counters, so memory stays
flat over millions of rows. The values written, the schema and the segments are kept either way:
they are the Pendo database.

Besides Pendo's paths the server has its own control surface under ``/_emulator/``: no key,
never faulted, not delayed and not recorded in the request log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from .aggregation import AGGREGATION_PATH, Aggregation, checked_aggregation
from .answers import (
    FORBIDDEN,
    NOT_FOUND,
    Answer,
    Incoming,
    Routes,
    dispatch,
    json_answer,
    parse_body,
    text_answer,
)
from .control import Control
from .data import KINDS, EmulatorData
from .faults import FaultPlan, faulted
from .httpserver import RequestLog, Server
from .keys import Keys, Verify
from .latency import Latency
from .ratelimit import RateLimit, retry_after
from .schema import Schema, checked_unknown_fields
from .segments import SegmentApi, checked_upload_answer
from .track import NO_SECRET, TrackEvents, checked_track_answer
from .traffic import RecordedRequest, Traffic
from .values import Values, checked_errors_shape, checked_parent_id_key


@dataclass(frozen=True)
class Switches:
    """How the emulator plays the points Pendo's documentation leaves open, and read-only keys
    (ValueError for a value it does not know)."""

    read_only_keys: Iterable[str] = ()
    unknown_fields: str = "reject"  # writes to a field the schema lacks: reject, or create_text
    errors_shape: str = "object"  # per-record errors as objects, or as text
    epoch_ms_dates: bool = True  # time fields take epoch milliseconds too
    verify_endpoint: bool = True  # GET /api/v1/token/verify exists
    track_answer: str = "empty"  # the body of an accepted track event: "empty" or "json"
    segment_upload_answer: str = "id"  # an upload answers its segmentId ("id"), or a statusUrl too
    parent_accounts: bool = True  # the subscription has parent accounts (else their calls get 404)
    parent_account_id_key: str = "parentAccountId"  # the id key parent account writes must use
    aggregation_answer: str = "results"  # an aggregation answers {"results": rows}, or the rows ("array")
    aggregation_limit: str = "accepted"  # its "limit" step is accepted, or "refused" (400)
    aggregation_times: str = "epoch_ms"  # its time values: epoch milliseconds, or "rfc3339" text

    def __post_init__(self) -> None:
        checked_unknown_fields(self.unknown_fields)
        checked_parent_id_key(self.parent_account_id_key)
        checked_aggregation(self.aggregation_answer, self.aggregation_limit, self.aggregation_times)
        checked_errors_shape(self.errors_shape)
        checked_track_answer(self.track_answer)
        checked_upload_answer(self.segment_upload_answer)


class PendoEmulator:
    """A local HTTP server answering like Pendo's API; the socket is bound on construction
    (OSError if it cannot be, e.g. errno.EADDRINUSE).

    ``track_secret``: the only value of the key header POST /data/track accepts (None: refuse
    every track call). ``latency_ms``: delay of every answer on Pendo's paths in milliseconds,
    or a mapping of kinds of call (bulk, track, segment, aggregation, get, other; the others 0);
    ``latency_per_record_ms``: a delay per record a call carries (or its answer: aggregation
    rows). ``switches``: the fields of ``Switches``.
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
        latency_ms: int | Mapping[str, int] = 0,
        latency_per_record_ms: float = 0.0,
        rate_limit: int | None = None,
        keep_bodies: bool = True,
        request_log: TextIO | None = None,
        **switches: Any,
    ) -> None:
        switch = Switches(**switches)
        data = EmulatorData.default() if data is None else data
        self._latency = Latency(latency_ms, latency_per_record_ms)
        self._rate = RateLimit(rate_limit)
        self._lock = threading.Lock()
        self.faults = FaultPlan()
        self._keys = Keys(integration_key, switch.read_only_keys, track_secret)
        kinds = KINDS if switch.parent_accounts else tuple(k for k in KINDS if k != "parentAccount")
        self._schema = Schema(data.schema, switch.unknown_fields, self._lock, kinds)
        self._values = Values(
            data,
            self._schema,
            self._lock,
            errors_shape=switch.errors_shape,
            epoch_ms_dates=switch.epoch_ms_dates,
            parent_id_key=switch.parent_account_id_key if switch.parent_accounts else None,
        )
        self._segments = SegmentApi(switch.segment_upload_answer, self._lock)
        aggregation = Aggregation(
            self._values,
            self._schema,
            switch.aggregation_answer,
            switch.aggregation_limit,
            switch.aggregation_times,
        )
        self._track = TrackEvents(switch.track_answer, keep_bodies, self._lock)
        self._api_routes: Routes = [
            *Verify(self._keys, switch.verify_endpoint).routes,
            *self._schema.routes,
            *self._values.routes,
            *self._segments.routes,
            *aggregation.routes,
        ]
        self._control_routes = Control(self).routes
        self._traffic = Traffic(keep_bodies)
        self._server = Server((host, port), self._serve, RequestLog(request_log, self._keys))
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
        return self._values.values(kind, record_id, group)

    def all_values(self, kind: str, group: str = "custom") -> dict[str, dict[str, Any]]:
        """Record id -> values of a group (custom or agent), for every record of a kind that has any."""
        return self._values.all_values(kind, group)

    def add_records(self, kind: str, ids: Iterable[str]) -> None:
        """Make ids known, as if they existed in Pendo."""
        self._values.add_records(kind, ids)

    def set_value(self, kind: str, record_id: str, field: str, value: Any, group: str = "custom") -> None:
        """Seed a value as if set by hand in Pendo (the record becomes known; None clears)."""
        self._values.set_values(kind, record_id, {field: value}, group)

    def set_values(self, kind: str, record_id: str, values: Mapping[str, Any], group: str = "custom") -> None:
        """Change values as a Pendo admin would by hand, unchecked, to make drift (the record
        becomes known; None clears a field)."""
        self._values.set_values(kind, record_id, values, group)

    def last_written(self, kind: str, record_id: str) -> int | None:
        """When a record's values were last written, by a sync or by hand (epoch milliseconds;
        aggregations show it as metadata.auto.lastupdated), None if never."""
        return self._values.last_written(kind, record_id)

    def fields(self, kind: str, group: str = "custom") -> dict[str, str]:
        """Field name -> Type in a group (custom or agent) for a kind (visitor, account or
        parentAccount)."""
        return self._schema.fields(kind, group)

    def segments(self) -> dict[str, dict[str, Any]]:
        """Segment id -> {"name", "createdByApi", "members": sorted visitor ids}, for every segment."""
        return self._segments.members()

    def segment_members(self, name_or_id: str) -> set[str]:
        """The visitor ids of the segment with this id, else with this name (KeyError if none,
        ValueError if several have that name)."""
        return self._segments.segment_members(name_or_id)

    def add_segment(self, name: str, visitors: Iterable[str] = (), *, created_by_api: bool = False) -> str:
        """Seed a segment as if made in Pendo's UI (or by API); returns its id."""
        return self._segments.add(name, visitors, created_by_api=created_by_api)

    def delete_segment(self, segment_id: str) -> None:
        """Delete a segment as if in Pendo's UI: later calls on its id get 404 (KeyError if none)."""
        self._segments.delete(segment_id)

    def request_log(self) -> list[RecordedRequest]:
        """Every Pendo API request so far, in the order they were answered (always empty when
        the emulator does not keep bodies)."""
        with self._lock:
            return list(self._traffic.log)

    def write_calls(self) -> int:
        """Number of metadata write POSTs received, faulted ones included."""
        with self._lock:
            return self._traffic.calls["write"]

    def track_calls(self) -> int:
        """Number of track POSTs received, faulted and refused ones included."""
        with self._lock:
            return self._traffic.calls["track"]

    def segment_calls(self) -> int:
        """Number of segment uploads and member PATCHes received, faulted and refused ones included."""
        with self._lock:
            return self._traffic.segment_calls()

    def read_calls(self) -> int:
        """Number of aggregation POSTs received, faulted and refused ones included."""
        with self._lock:
            return self._traffic.calls["read"]

    def in_flight(self) -> int:
        """Number of calls on Pendo's paths being answered now (inside their latency or delay):
        calls that have reached Pendo and are not answered yet."""
        with self._lock:
            return self._traffic.in_flight

    def tracked_events(self) -> list[dict[str, Any]]:
        """The bodies of the accepted track events, in arrival order (always empty when the
        emulator does not keep bodies; stats() counts them either way)."""
        return self._track.events()

    def max_in_flight(self) -> int:
        """The most requests on Pendo's paths handled at the same time since start (or reset_log)."""
        with self._lock:
            return self._traffic.max_in_flight

    def throttled(self) -> int:
        """Number of calls answered 429 by the rate limit since start (or reset_log)."""
        with self._lock:
            return self._traffic.throttled

    def send_seconds(self) -> float:
        """Seconds from the arrival of the first write, track or segment call since start (or
        reset_log) to the answer of the latest: a sync's send phase, on the emulator's clock."""
        with self._lock:
            return self._traffic.send_seconds()

    def stats(self) -> dict[str, Any]:
        """What GET /_emulator/stats answers: call counts, answers per status, and the CPU
        seconds and peak RSS (MB) of the process the emulator runs in."""
        with self._lock:
            return self._traffic.stats(len(self._segments), self._track.count())

    def reset_log(self) -> None:
        """Forget the request log and the counts of answers (statuses, throttled), restart call
        numbering at 1, the max_in_flight count and the send phase (send_seconds)."""
        with self._lock:
            self._traffic.reset()

    def set_latency_ms(self, latency_ms: int | Mapping[str, int], per_record_ms: float = 0.0) -> None:
        """Delay every later answer on Pendo's paths by this many milliseconds (0: none), or
        each kind of call by its own (a mapping), plus `per_record_ms` per record it carries."""
        self._latency = Latency(latency_ms, per_record_ms)

    def set_rate_limit(self, rate_limit: int | None) -> None:
        """Cap later calls on Pendo's paths at this many per second (None or 0: no cap)."""
        self._rate.set(rate_limit)

    def set_track_answer(self, answer: str) -> None:
        """Answer later accepted track events with an empty body ("empty") or JSON ("json")."""
        self._track.set_answer(answer)

    # -- request handling

    def _serve(self, method: str, target: str, headers: Message, raw: bytes) -> Answer:
        parts = urlsplit(target)
        body, json_ok = parse_body(raw)
        req = Incoming(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            content_type=headers.get("Content-Type"),
            key=headers.get("x-pendo-integration-key"),
            body=body,
            json_ok=json_ok,
        )
        if req.path.startswith("/_emulator/"):
            return dispatch(self._control_routes, req)
        wait = self._rate.admit()
        answer = self._answer_admitted(req) if wait is None else self._throttle(wait)
        with self._lock:
            self._traffic.record(req, answer.status, self._keys, answer.records)
        return answer

    def _answer_admitted(self, req: Incoming) -> Answer:
        """The answer to a call within the rate limit: after the latency, faults applied."""
        with self._counted_in_flight():
            arrived = time.monotonic()
            delay = self._latency.seconds(req)
            if delay:
                time.sleep(delay)
            with self._lock:
                call = self._traffic.number(req.method, req.path, arrived)
                faults = self.faults.due(req.method, req.path, call)
            answer = faulted(req, faults, self._route)
            delay = self._latency.answer_seconds(answer)
            if delay:
                time.sleep(delay)
            return answer

    def _throttle(self, wait: float) -> Answer:
        """The 429 to a call beyond the rate limit, answered at once; counted as throttled."""
        with self._lock:
            self._traffic.throttled += 1
        message = f"too many requests: at most {self._rate.per_second} calls per second"
        return json_answer(429, {"error": message}, (("Retry-After", retry_after(wait)),))

    @contextmanager
    def _counted_in_flight(self) -> Iterator[None]:
        with self._lock:
            self._traffic.enter()
        try:
            yield
        finally:
            with self._lock:
                self._traffic.leave()

    def _route(self, req: Incoming) -> Answer:
        """The answer of the API area of the request's path, once its key is checked."""
        if req.path.startswith("/data/"):
            return self._route_track(req)
        if not req.path.startswith("/api/"):
            return NOT_FOUND
        reads = req.method == "GET" or req.path == AGGREGATION_PATH
        if not self._keys.ok(req.path, req.key) or not (reads or self._keys.writes(req.key)):
            return FORBIDDEN
        return dispatch(self._api_routes, req)

    def _route_track(self, req: Incoming) -> Answer:
        if self._keys.track_secret is None:
            return text_answer(403, NO_SECRET)
        if req.key != self._keys.track_secret:
            return FORBIDDEN
        return dispatch(self._track.routes, req)
