"""Request bodies as compact JSON bytes, fast for batches of millions of records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from ..records import Record, RecordJson


def json_body(body: Any) -> bytes:
    """A request body as compact JSON: orjson (20x the standard library's speed, which a
    sync of millions of records feels), or the standard library for what orjson refuses
    (integers beyond 64 bits, which our converters let through as JSON has no such limit)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def records_body(records: Sequence[Record]) -> bytes:
    """A JSON array of records: the warehouse's texts as they are (joined in one call when
    they all are), the others encoded (in one call when there is no text: encoding record by
    record costs 10x)."""
    kinds = set(map(type, records))
    if kinds == {RecordJson}:
        return ("[" + ",".join(records) + "]").encode()  # type: ignore[arg-type]
    if RecordJson not in kinds:
        return json_body(list(records))
    return b"[" + b",".join(r.encode() if isinstance(r, RecordJson) else json_body(r) for r in records) + b"]"
