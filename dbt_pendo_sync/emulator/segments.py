"""Pendo's segment API as the emulator plays it: the paths, the checks of upload and PATCH
bodies, the segments one emulator holds and the endpoints (the project's Pendo API notes,
"Segments")."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .answers import NOT_FOUND, Answer, Incoming, Routes, json_answer, json_problem, text_answer

SEGMENT_PATH = "/api/v1/segment"
UPLOAD_PATH = SEGMENT_PATH + "/upload"
PATCH_PATH = re.compile(r"/api/v1/segment/([^/]+)/visitor")  # group 1: the segment id
# Whether an upload can answer with an asynchronous status URL is not documented.
UPLOAD_ANSWERS = ("id", "status_url")
OPERATIONS = ("add", "remove")
MAX_PATCH_IDS = 1000
NO_VISITORS = 'Pendo requires at least one visitor to create a segment: "visitors" must list at least one id'


def checked_upload_answer(answer: str) -> str:
    """`answer` when it is one of UPLOAD_ANSWERS, else ValueError."""
    if answer not in UPLOAD_ANSWERS:
        raise ValueError(f'segment_upload_answer must be "id" or "status_url", not {answer!r}')
    return answer


def upload_answer(segment_id: str, answer: str) -> dict[str, str]:
    """The body of a 200 to an upload: the new id, with a status URL in the "status_url" variant."""
    if answer == "status_url":
        return {"segmentId": segment_id, "statusUrl": f"{SEGMENT_PATH}/{segment_id}"}
    return {"segmentId": segment_id}


def _id_list_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
        return f"{where} must be a list of non-empty visitor id strings"
    return None


def upload_problem(body: Any) -> str | None:
    """What is wrong with the body of an upload, as the text of a 400 (None: nothing)."""
    if not isinstance(body, dict):
        return 'body must be a JSON object: {"name": ..., "visitors": [...]}'
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return '"name" must be a non-blank string'
    if not body.get("visitors"):
        return NO_VISITORS
    return _id_list_problem(body["visitors"], '"visitors"')


def _operation_problem(i: int, operation: Any) -> str | None:
    where = f"patch[{i}]"
    if not isinstance(operation, dict):
        return f'{where} must be an object {{"op", "path", "value"}}'
    if operation.get("op") not in OPERATIONS:
        return f'{where}: "op" must be "add" or "remove"'
    if operation.get("path") != "/visitors":
        return f'{where}: "path" must be "/visitors"'
    ids: Any = operation.get("value")
    problem = _id_list_problem(ids, f'{where}: "value"')
    if problem is None and len(ids) > MAX_PATCH_IDS:
        problem = f"{where}: at most {MAX_PATCH_IDS} visitor ids per operation, got {len(ids)}"
    return problem


def patch_problem(body: Any) -> str | None:
    """What is wrong with the body of a PATCH of members, as the text of a 400 (None: nothing)."""
    patch = body.get("patch") if isinstance(body, dict) else None
    if not isinstance(patch, list) or not patch:
        return 'body must be {"patch": [operations]} with one "add" and/or one "remove"'
    for i, operation in enumerate(patch):
        problem = _operation_problem(i, operation)
        if problem:
            return problem
    ops = [operation["op"] for operation in patch]
    if len(ops) != len(set(ops)):
        return 'at most one "add" and one "remove" operation per call'
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Segment:
    """One segment: its name and its visitor ids."""

    id: str
    name: str
    members: set[str]
    created_by_api: bool
    created_at: int  # epoch milliseconds
    last_updated_at: int

    def shown(self) -> dict[str, Any]:
        """The segment as GET answers it: no member list, as Pendo shows none."""
        return {
            "id": self.id,
            "name": self.name,
            "createdByApi": self.created_by_api,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "definition": {"kind": "visitorList"},
        }


class Segments:
    """The segments of one emulator; the caller serializes access (the emulator's lock)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Segment] = {}
        self._made = 0

    def create(self, name: str, visitors: Iterable[str], *, by_api: bool = True) -> Segment:
        """A new segment under a new id (ids are never reused)."""
        self._made += 1
        now = _now_ms()
        segment = Segment(f"emu-segment-{self._made}", name, set(visitors), by_api, now, now)
        self._by_id[segment.id] = segment
        return segment

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, segment_id: str) -> Segment | None:
        return self._by_id.get(segment_id)

    def delete(self, segment_id: str) -> None:
        """Forget a segment (KeyError if there is none)."""
        del self._by_id[segment_id]

    def listed(self, by_api: bool | None) -> list[dict[str, Any]]:
        """The GET answers of every segment, or of those whose createdByApi is `by_api`."""
        return [s.shown() for s in self._by_id.values() if by_api is None or s.created_by_api == by_api]

    def find(self, name_or_id: str) -> Segment:
        """The segment with this id, else the one with this name (KeyError: none; ValueError: several)."""
        if name_or_id in self._by_id:
            return self._by_id[name_or_id]
        named = [s for s in self._by_id.values() if s.name == name_or_id]
        if len(named) > 1:
            raise ValueError(f"{len(named)} segments are named {name_or_id!r}: ask by id")
        if not named:
            raise KeyError(f"no segment has the id or name {name_or_id!r}")
        return named[0]

    def members(self) -> dict[str, dict[str, Any]]:
        """Segment id -> {"name", "createdByApi", "members": sorted visitor ids}."""
        return {
            s.id: {"name": s.name, "createdByApi": s.created_by_api, "members": sorted(s.members)}
            for s in self._by_id.values()
        }


def apply_patch(
    segment: Segment, operations: list[dict[str, Any]], failed: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Apply checked operations in order, except those `failed` maps to a status; the
    multistatus entries, one per operation."""
    statuses = []
    for operation in operations:
        op = operation["op"]
        if op in failed:
            message = f"injected fault: the {op} operation failed"
            statuses.append({"status": failed[op], "message": message, "operation": op})
            continue
        if op == "add":
            segment.members.update(operation["value"])
        else:
            segment.members.difference_update(operation["value"])
        segment.last_updated_at = _now_ms()
        statuses.append({"status": 200, "message": "", "operation": op})
    return statuses


class SegmentApi:
    """The segment endpoints of one emulator and its segments, guarded by the emulator's `lock`
    (``__len__`` expects the caller to hold it); `upload_answer` is one of UPLOAD_ANSWERS."""

    def __init__(self, upload_answer: str, lock: threading.Lock) -> None:
        self._segments = Segments()
        self._upload_answer = upload_answer
        self._lock = lock
        self.routes: Routes = [
            ("GET", re.compile(re.escape(SEGMENT_PATH)), self._list),
            ("POST", re.compile(re.escape(UPLOAD_PATH)), self._upload),
            ("GET", re.compile(re.escape(SEGMENT_PATH) + r"/([^/]+)"), self._get),
            ("PATCH", PATCH_PATH, self._patch),
        ]

    def __len__(self) -> int:
        return len(self._segments)

    # -- state, for tests and the demo

    def members(self) -> dict[str, dict[str, Any]]:
        """Segment id -> {"name", "createdByApi", "members": sorted visitor ids}, for every segment."""
        with self._lock:
            return self._segments.members()

    def segment_members(self, name_or_id: str) -> set[str]:
        """The visitor ids of the segment with this id, else with this name (KeyError if none,
        ValueError if several have that name)."""
        with self._lock:
            return set(self._segments.find(name_or_id).members)

    def add(self, name: str, visitors: Iterable[str], *, created_by_api: bool) -> str:
        """Seed a segment as if made in Pendo's UI (or by API); returns its id."""
        with self._lock:
            return self._segments.create(name, visitors, by_api=created_by_api).id

    def delete(self, segment_id: str) -> None:
        """Delete a segment as if in Pendo's UI: later calls on its id get 404 (KeyError if none)."""
        with self._lock:
            self._segments.delete(segment_id)

    # -- endpoints

    def _list(self, req: Incoming) -> Answer:
        by_api = req.query.get("createdByApi", "").lower()
        if by_api not in ("", "true", "false"):
            return text_answer(400, 'createdByApi must be "true" or "false"')
        with self._lock:
            return json_answer(200, self._segments.listed(None if not by_api else by_api == "true"))

    def _upload(self, req: Incoming) -> Answer:
        problem = json_problem(req) or upload_problem(req.body)
        if problem:
            return text_answer(400, problem)
        with self._lock:
            segment = self._segments.create(req.body["name"], req.body["visitors"])
        return json_answer(200, upload_answer(segment.id, self._upload_answer))

    def _get(self, req: Incoming, segment_id: str) -> Answer:
        with self._lock:
            segment = self._segments.get(segment_id)
            return NOT_FOUND if segment is None else json_answer(200, segment.shown())

    def _patch(self, req: Incoming, segment_id: str) -> Answer:
        problem = json_problem(req) or patch_problem(req.body)
        if problem:
            return text_answer(400, problem)
        with self._lock:
            segment = self._segments.get(segment_id)
            if segment is None:
                return NOT_FOUND
            statuses = apply_patch(segment, req.body["patch"], req.failed_operations)
        return json_answer(200, {"multistatus": statuses})
