"""How long the emulator takes to answer a call on Pendo's paths, per kind of call.

Real Pendo answers a read (field schema, segment list) in milliseconds, and a bulk write or
an aggregation in a time that grows with its records. The emulator plays that: a delay per kind
of call (bulk metadata writes, Track Events, segment uploads and PATCHes, aggregations, GETs,
other calls), plus a delay per record the call carries (records of a bulk write, visitors of a
segment call, the one event of a track call) or its answer carries (the rows of an
aggregation: that part comes once the answer is made).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .aggregation import AGGREGATION_PATH
from .answers import Answer, Incoming
from .segments import PATCH_PATH, UPLOAD_PATH
from .track import TRACK_PATH
from .values import WRITE_CALL
from .valuetypes import is_int

KINDS = ("bulk", "track", "segment", "aggregation", "get", "other")


def checked_latency(latency_ms: int | Mapping[str, int]) -> dict[str, int]:
    """Milliseconds per kind of call: one whole number >= 0 for every kind, or a mapping of
    some kinds (the others 0). ValueError for anything else."""
    if isinstance(latency_ms, Mapping):
        unknown = sorted(set(latency_ms) - set(KINDS))
        if unknown:
            raise ValueError(f"latency_ms: unknown kind {unknown[0]!r}; kinds are {', '.join(KINDS)}")
        given = dict(latency_ms)
    else:
        given = dict.fromkeys(KINDS, latency_ms)
    for kind, ms in given.items():
        if not is_int(ms) or ms < 0:
            raise ValueError(f"latency_ms must be an integer >= 0, not {ms!r} (for {kind})")
    return {kind: given.get(kind, 0) for kind in KINDS}


def checked_per_record(per_record_ms: float) -> float:
    """Milliseconds per record, a number >= 0, else ValueError."""
    if not isinstance(per_record_ms, (int, float)) or isinstance(per_record_ms, bool) or per_record_ms < 0:
        raise ValueError(f"latency_per_record_ms must be a number >= 0, not {per_record_ms!r}")
    return float(per_record_ms)


def parse_latency(text: str) -> dict[str, int]:
    """The CLI's --latency-ms: "250" (every kind), "bulk=250,get=5" (the kinds named, the
    others 0) or "250,get=5" (the kinds named, the others 250). ValueError if malformed."""
    spec: dict[str, int] = {}
    rest = 0
    for item in (part.strip() for part in text.split(",")):
        kind, sep, ms = item.rpartition("=")
        if not re.fullmatch(r"\d+", ms.strip()) or (sep and kind.strip() not in KINDS):
            raise ValueError(
                f"{item!r}: give N or KIND=N (milliseconds, whole), KIND one of {', '.join(KINDS)}"
            )
        if sep:
            spec[kind.strip()] = int(ms)
        else:
            rest = int(ms)
    return {kind: spec.get(kind, rest) for kind in KINDS}


class Latency:
    """The delay of each call on Pendo's paths."""

    def __init__(self, latency_ms: int | Mapping[str, int] = 0, per_record_ms: float = 0.0) -> None:
        self.per_kind = checked_latency(latency_ms)
        self.per_record_ms = checked_per_record(per_record_ms)

    def seconds(self, req: Incoming) -> float:
        """How long to wait before answering this call."""
        kind, records = _kind_and_records(req)
        return (self.per_kind[kind] + self.per_record_ms * records) / 1000

    def answer_seconds(self, answer: Answer) -> float:
        """How much longer to wait once the answer is made, for the records it carries."""
        return self.per_record_ms * answer.records / 1000


def _kind_and_records(req: Incoming) -> tuple[str, int]:
    if req.method == "GET":
        return "get", 0
    if req.method == "POST" and WRITE_CALL.fullmatch(req.path):
        return "bulk", len(req.body) if isinstance(req.body, list) else 0
    if req.method == "POST" and req.path == TRACK_PATH:
        return "track", 1
    if req.method == "POST" and req.path == AGGREGATION_PATH:
        return "aggregation", 0  # its rows count once answered (answer_seconds)
    if req.method == "POST" and req.path == UPLOAD_PATH:
        return "segment", _count(req.body.get("visitors") if isinstance(req.body, dict) else None)
    if req.method == "PATCH" and PATCH_PATH.fullmatch(req.path):
        patch = req.body.get("patch") if isinstance(req.body, dict) else None
        operations = patch if isinstance(patch, list) else []
        return "segment", sum(_count(op.get("value")) for op in operations if isinstance(op, dict))
    return "other", 0


def _count(ids: Any) -> int:
    return len(ids) if isinstance(ids, list) else 0
