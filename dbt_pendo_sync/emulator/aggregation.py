"""Pendo's aggregation endpoint as the emulator plays it (POST /api/v1/aggregation): a pipeline
over the visitors or accounts it holds, and switches for what Pendo's documentation leaves
open (the project's Pendo API notes, "Reading back").

The body is ``{"response": {"mimeType": "application/json"}, "request": {"pipeline": [...],
"requestId": "..."}}``. The pipeline starts with ``{"source": {"visitors": null}}`` or
``{"source": {"accounts": null}}``; its rows are ``{"visitorId" | "accountId": id, "metadata":
{"custom": {...}, "agent": {...}, "auto": {"lastupdated": ms}}}``, one per record the emulator
holds (known ids and ids with values). Then, in any order: ``identified`` (every row of the
emulator is identified: it drops none), ``filter`` (filters.py), ``sort`` (``["visitorId"]``,
``"-field"`` descending), ``limit`` N and ``select`` (``{"out name": "path"}``). Time fields (Type
time in the schema, and ``lastupdated``) come back as epoch milliseconds.

The switches: ``answer`` "results" (``{"results": [...]}``) or "array" (the rows bare);
``limit`` "accepted" or "refused" (a pipeline with a limit step gets 400 naming it); ``times``
"epoch_ms" or "rfc3339" (time values as RFC 3339 text in UTC, to the millisecond).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .answers import Answer, Incoming, Routes, json_answer, json_problem, text_answer
from .data import GROUPS, ID_FIELDS
from .filters import FilterError, Row, lookup, parse_filter
from .schema import Schema
from .values import Values
from .valuetypes import is_int, parse_rfc3339

AGGREGATION_PATH = "/api/v1/aggregation"
ANSWERS = ("results", "array")
LIMITS = ("accepted", "refused")
TIMES = ("epoch_ms", "rfc3339")
SOURCES = {"visitors": "visitor", "accounts": "account"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)

Step = Callable[[list[Row]], list[Row]]


class PipelineError(ValueError):
    """A pipeline the emulator refuses, as the text of a 400."""


def checked_aggregation(answer: str, limit: str, times: str) -> None:
    """ValueError unless each switch is one of its values."""
    for name, value, allowed in (
        ("aggregation_answer", answer, ANSWERS),
        ("aggregation_limit", limit, LIMITS),
        ("aggregation_times", times, TIMES),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be {' or '.join(map(repr, allowed))}, not {value!r}")


def _epoch_ms(value: Any) -> Any:
    """A stored time value in epoch milliseconds (rounded down); as it is when it is none."""
    if is_int(value):
        return value
    instant = parse_rfc3339(value)
    if instant is None:
        return value
    return (instant.replace(tzinfo=instant.tzinfo or dt.timezone.utc) - _EPOCH) // _MS


def _rfc3339(value: Any) -> Any:
    """A stored time value as RFC 3339 text in UTC, to the millisecond."""
    ms = _epoch_ms(value)
    if not is_int(ms):
        return value
    return (_EPOCH + ms * _MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then numbers, then texts; other values last, by their JSON text."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))


def _sort(fields: Any) -> Step:
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise PipelineError('sort: expected a list of field names such as ["visitorId"]')

    def step(rows: list[Row]) -> list[Row]:
        for name in reversed(fields):  # a stable sort per key, the last key first
            path = name.removeprefix("-")
            rows = sorted(rows, key=lambda row: _sort_key(lookup(row, path)), reverse=name.startswith("-"))
        return rows

    return step


def _select(outs: Any) -> Step:
    if not isinstance(outs, dict) or not all(isinstance(p, str) for p in outs.values()):
        raise PipelineError('select: expected an object {"out name": "field path"}')
    return lambda rows: [{out: lookup(row, path) for out, path in outs.items()} for row in rows]


def _filter(expression: Any) -> Step:
    if not isinstance(expression, str):
        raise PipelineError("filter: expected an expression as text")
    try:
        keep = parse_filter(expression)
    except FilterError as exc:
        raise PipelineError(str(exc)) from None
    return lambda rows: [row for row in rows if keep(row)]


def _identified(field: Any) -> Step:
    if not isinstance(field, str):
        raise PipelineError('identified: expected the id field, e.g. "visitorId"')
    return lambda rows: rows


class Aggregation:
    """The aggregation endpoint of one emulator, over its values and schema."""

    def __init__(self, values: Values, schema: Schema, answer: str, limit: str, times: str) -> None:
        checked_aggregation(answer, limit, times)
        self._values = values
        self._schema = schema
        self._answer = answer
        self._limit = limit
        self._time = _epoch_ms if times == "epoch_ms" else _rfc3339
        self.routes: Routes = [("POST", re.compile(re.escape(AGGREGATION_PATH)), self._aggregate)]

    def _aggregate(self, req: Incoming) -> Answer:
        problem = json_problem(req)
        if problem:
            return text_answer(400, problem)
        try:
            kind, steps = self._pipeline(req.body)
        except PipelineError as exc:
            return text_answer(400, str(exc))
        rows = self._rows(kind)
        for step in steps:
            rows = step(rows)
        answer = json_answer(200, {"results": rows} if self._answer == "results" else rows)
        return replace(answer, records=len(rows))

    def _pipeline(self, body: Any) -> tuple[str, list[Step]]:
        """The kind of the pipeline's source and its other steps, checked."""
        request = body.get("request") if isinstance(body, dict) else None
        pipeline = request.get("pipeline") if isinstance(request, dict) else None
        if not isinstance(pipeline, list) or not pipeline:
            raise PipelineError('body must be {"response": {...}, "request": {"pipeline": [steps]}}')
        if (body.get("response") or {}).get("mimeType") != "application/json":
            raise PipelineError('response.mimeType must be "application/json"')
        kind, *steps = [self._step(i, step) for i, step in enumerate(pipeline)]
        if not isinstance(kind, str):
            raise PipelineError('the pipeline must start with {"source": {"visitors": null}} (or accounts)')
        later = [step for step in steps if not isinstance(step, str)]
        if len(later) < len(steps):
            raise PipelineError("only the first step may be a source")
        return kind, later

    def _step(self, i: int, step: Any) -> str | Step:
        """One step: the kind of a source, else the step as a function of the rows."""
        if not isinstance(step, dict) or len(step) != 1:
            raise PipelineError(f"step {i}: expected an object with one key, such as {{'limit': 10}}")
        ((name, arg),) = step.items()
        if name == "source":
            sources = [SOURCES.get(s) for s in arg] if isinstance(arg, dict) else []
            if len(sources) != 1 or sources[0] is None:
                raise PipelineError(f"step {i}: the emulator's sources are visitors and accounts")
            return sources[0]
        if name == "limit":
            return self._limit_step(i, arg)
        makers = {"identified": _identified, "select": _select, "filter": _filter, "sort": _sort}
        if name not in makers:
            raise PipelineError(f"step {i}: unknown pipeline step {name!r}")
        return makers[name](arg)

    def _limit_step(self, i: int, count: Any) -> Step:
        if self._limit == "refused":
            raise PipelineError(f'step {i}: the pipeline step "limit" is not supported')
        if not is_int(count) or count < 0:
            raise PipelineError(f"step {i}: limit must be a whole number >= 0")
        return lambda rows: rows[:count]

    def _rows(self, kind: str) -> list[Row]:
        """The source's rows: every record of the kind, its time fields converted."""
        times = {
            group: {name for name, typ in self._schema.fields(kind, group).items() if typ == "time"}
            for group in GROUPS
        }
        rows = []
        for record_id, groups, written in self._values.records(kind):
            for group, names in times.items():
                values = groups[group]
                for name in names.intersection(values):
                    values[name] = self._time(values[name])
            auto = {} if written is None else {"lastupdated": self._time(written)}
            rows.append({ID_FIELDS[kind]: record_id, "metadata": {**groups, "auto": auto}})
        return rows
