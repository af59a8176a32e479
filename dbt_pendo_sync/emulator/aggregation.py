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
import json
import operator
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .answers import Answer, Incoming, Routes, json_answer, json_problem, text_answer
from .data import GROUPS, ID_FIELDS
from .filters import FilterError, Read, Row, lookup, parse_filter
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

Step = Callable[[list[Any]], list[Any]]  # rows: source records (Values.held) or selected rows
Source = tuple[str, dict[str, Any], dict[str, Any], "int | None"]  # id, custom, agent, last written


# A filter keeping the ids after one: `visitorId > "v-1"` (the id field, the id as a JSON text).
_ID_AFTER = re.compile(r'\s*([A-Za-z]+)\s*>\s*("(?:[^"\\]|\\.)*")\s*')


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


def _sort(fields: Any, read: Read) -> Step:
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise PipelineError('sort: expected a list of field names such as ["visitorId"]')

    def step(rows: list[Row]) -> list[Row]:
        for name in reversed(fields):  # a stable sort per key, the last key first
            path = name.removeprefix("-")
            rows = sorted(rows, key=lambda row: _sort_key(read(row, path)), reverse=name.startswith("-"))
        return rows

    return step


def _select(outs: Any, read: Read) -> Step:
    if not isinstance(outs, dict) or not all(isinstance(p, str) for p in outs.values()):
        raise PipelineError('select: expected an object {"out name": "field path"}')
    return lambda rows: [{out: read(row, path) for out, path in outs.items()} for row in rows]


def _filter(expression: Any, read: Read) -> Step:
    if not isinstance(expression, str):
        raise PipelineError("filter: expected an expression as text")
    try:
        keep = parse_filter(expression, read)
    except FilterError as exc:
        raise PipelineError(str(exc)) from None
    return lambda rows: [row for row in rows if keep(row)]


def _identified(field: Any, read: Read) -> Step:
    if not isinstance(field, str):
        raise PipelineError('identified: expected the id field, e.g. "visitorId"')
    return lambda rows: rows


_STEPS = {"identified": _identified, "select": _select, "filter": _filter, "sort": _sort}


class _Reader:
    """The value a path names in a row, a time as the switch says. A row is a source record
    (Values.held's tuple, read as Pendo shows a record: ``whole``) or a row a select made."""

    def __init__(self, id_field: str, times: set[tuple[str, str]], convert: Callable[[Any], Any]) -> None:
        self._id_field = id_field
        self._times = times
        self._time_paths = {f"metadata.{group}.{name}" for group, name in times}
        self._convert = convert
        self._getters: dict[str, Callable[[Source], Any]] = {}  # per path, for source records

    def __call__(self, row: Source | Row, path: str) -> Any:
        if isinstance(row, tuple):
            getter = self._getters.get(path) or self._getter(path)
            value = getter(row)
        else:
            value = lookup(row, path)
        return self._convert(value) if value is not None and path in self._time_paths else value

    def _getter(self, path: str) -> Callable[[Source], Any]:
        """How to read a path from a source record: the id, one field of a group and
        lastupdated at once, other paths from the record made whole."""
        group, _, name = path.removeprefix("metadata.").partition(".")
        get: Callable[[Source], Any]
        if path == self._id_field:
            get = operator.itemgetter(0)
        elif path == "metadata.auto.lastupdated":
            get = operator.itemgetter(3)
        elif path.startswith("metadata.") and group in ("custom", "agent") and name and "." not in name:
            values = operator.itemgetter(1 if group == "custom" else 2)

            def get(record: Source) -> Any:
                return values(record).get(name)
        else:

            def get(record: Source) -> Any:
                return lookup(self.whole(record), path)

        self._getters[path] = get
        return get

    def whole(self, record: Source) -> Row:
        """A source record as Pendo shows one (its own copy), times as the switch says."""
        rid, custom, agent, written = record
        groups = {
            "custom": custom,
            "agent": agent,
            "auto": {} if written is None else {"lastupdated": written},
        }
        metadata = {
            group: {
                name: self._convert(v) if (group, name) in self._times else v for name, v in values.items()
            }
            for group, values in groups.items()
        }
        return {self._id_field: rid, "metadata": metadata}


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
        problem = json_problem(req) or _envelope_problem(req.body)
        if problem:
            return text_answer(400, problem)
        pipeline = req.body["request"]["pipeline"]
        try:
            kind = _source(pipeline[0])
            times = self._time_fields(kind)
            read = _Reader(ID_FIELDS[kind], times, self._time)
            steps = [self._step(i, step, read) for i, step in enumerate(pipeline[1:], 1)]
        except PipelineError as exc:
            return text_answer(400, str(exc))
        selects = any("select" in step for step in pipeline)
        page = _page_of(pipeline[1:], ID_FIELDS[kind]) if self._limit == "accepted" else None
        held = self._values.page(kind, page[0], page[1]) if page else self._values.held(kind)
        with held as records:  # the store's own values: not kept past the block
            rows: list[Any] = records
            for step in steps[page[2] if page else 0 :]:
                rows = step(rows)
            rows = rows if selects else [read.whole(row) for row in rows]
        answer = json_answer(200, {"results": rows} if self._answer == "results" else rows)
        return replace(answer, records=len(rows))

    def _time_fields(self, kind: str) -> set[tuple[str, str]]:
        """The (group, field) pairs of a kind that hold times: Type time, and lastupdated."""
        times = {("auto", "lastupdated")}
        for group in GROUPS:
            times.update(
                (group, name) for name, typ in self._schema.fields(kind, group).items() if typ == "time"
            )
        return times

    def _step(self, i: int, step: Any, read: Read) -> Step:
        """One step after the source, as a function of the rows."""
        if not isinstance(step, dict) or len(step) != 1:
            raise PipelineError(f"step {i}: expected an object with one key, such as {{'limit': 10}}")
        ((name, arg),) = step.items()
        if name == "source":
            raise PipelineError(f"step {i}: only the first step may be a source")
        if name == "limit":
            return self._limit_step(i, arg)
        if name not in _STEPS:
            raise PipelineError(f"step {i}: unknown pipeline step {name!r}")
        return _STEPS[name](arg, read)

    def _limit_step(self, i: int, count: Any) -> Step:
        if self._limit == "refused":
            raise PipelineError(f'step {i}: the pipeline step "limit" is not supported')
        if not is_int(count) or count < 0:
            raise PipelineError(f"step {i}: limit must be a whole number >= 0")
        return lambda rows: rows[:count]


def _page_of(steps: list[Any], id_field: str) -> tuple[str | None, int, int] | None:
    """When the pipeline's first steps (after the source) ask for a page by id, as a reading
    pages: [`identified`], [a filter `<id> > "text"`], a sort on the id alone and a limit, in
    that order: the id after which the page starts (None: the first), its size and how many
    steps it stands for. None for any other pipeline, which takes the general path (every
    record filtered and sorted); the page is then a bisection in the ids kept sorted."""
    names = [next(iter(step)) for step in steps]  # each step checked by Aggregation._step
    i = 1 if names[:1] == ["identified"] else 0
    after: str | None = None
    if names[i : i + 1] == ["filter"]:
        text = _ID_AFTER.fullmatch(steps[i]["filter"])
        if text is None or text.group(1) != id_field:
            return None
        after = json.loads(text.group(2))
        i += 1
    if names[i : i + 2] != ["sort", "limit"] or steps[i]["sort"] != [id_field]:
        return None
    return after, steps[i + 1]["limit"], i + 2


def _envelope_problem(body: Any) -> str | None:
    """What is wrong with an aggregation body around its pipeline (None: nothing)."""
    request = body.get("request") if isinstance(body, dict) else None
    pipeline = request.get("pipeline") if isinstance(request, dict) else None
    if not isinstance(pipeline, list) or not pipeline:
        return 'body must be {"response": {...}, "request": {"pipeline": [steps]}}'
    if (body.get("response") or {}).get("mimeType") != "application/json":
        return 'response.mimeType must be "application/json"'
    return None


def _source(step: Any) -> str:
    """The kind of records the first step, a source, reads."""
    arg = step.get("source") if isinstance(step, dict) and len(step) == 1 else None
    if not isinstance(arg, dict):
        raise PipelineError('the pipeline must start with {"source": {"visitors": null}} (or accounts)')
    sources = [SOURCES.get(name) for name in arg]
    if len(sources) != 1 or sources[0] is None:
        raise PipelineError("step 0: the emulator's sources are visitors and accounts")
    return sources[0]
