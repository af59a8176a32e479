"""Requests as the emulator's API areas get them, the answers they give, and the routing of a
request to the handler of its path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


@dataclass
class Incoming:
    """One request: its path split from the query, its body parsed as JSON when it is JSON."""

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
class Answer:
    """What the HTTP layer sends back (or, with status 0, the connection it drops)."""

    status: int  # 0 = drop the connection
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    records: int = 0  # the records the answer carries (an aggregation's rows), for latency
    cut: bool = False  # send half of the body, then drop the connection (an answer broken off)


def json_answer(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, json.dumps(payload).encode(), "application/json", headers)


def text_answer(status: int, message: str) -> Answer:
    return Answer(status, message.encode(), "text/plain; charset=utf-8")


FORBIDDEN = Answer(403)
NOT_FOUND = json_answer(404, {"error": "not found"})


def parse_body(raw: bytes) -> tuple[Any, bool]:
    """The body as JSON, and whether it was JSON at all."""
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def json_problem(req: Incoming) -> str | None:
    """What is wrong with a request that must carry a JSON body, as the text of a 400."""
    if (req.content_type or "").split(";")[0].strip().lower() != "application/json":
        return "content-type must be application/json"
    return None if req.json_ok else "body is not valid JSON"


# (method, path pattern, handler); the handler gets the request and the pattern's groups,
# unquoted. The first route whose pattern and method match wins.
Routes = list[tuple[str, re.Pattern[str], Callable[..., Answer]]]


def dispatch(routes: Routes, req: Incoming) -> Answer:
    """The answer of the first route matching the request, else 404."""
    for method, pattern, handler in routes:
        match = pattern.fullmatch(req.path)
        if match and method == req.method:
            return handler(req, *map(unquote, match.groups()))
    return NOT_FOUND
