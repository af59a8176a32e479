"""Pendo's values read back: the values of some fields for every visitor or account, a page at
a time, through the aggregation endpoint (the project's Pendo API notes, "Reading back").

Pendo documents no cursor, so the pages go by id: each call sorts on the id, keeps the ids
after the last one read and asks for at most `page_size` rows. The order is Pendo's own (its
collation need not be the warehouse's) and serves only to page through Pendo. Whether every
subscription takes the `limit` step is not documented: when the first call is refused (any
400), one call without it reads every record, and its answer is handed on in pages of the same
size as it streams. Either way an answer is read as it arrives (jsonstream.py) and only one
page of rows is held at a time. An answer that breaks off is asked again from the last id of
the pages handed on (RESUMES times in a row at most): no record is handed on twice. The
answer is ``{"results": rows}`` or the rows bare; time
fields come back as epoch milliseconds whether Pendo sends those or RFC 3339 text (times.py).
Calls go through the client: its pacing, retries and Retry-After, as for writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import requests

from ..errors import PendoError, PendoUnreachableError
from .answers import short_body
from .jsonstream import MalformedJson, array_items
from .times import epoch_ms

if TYPE_CHECKING:
    from .client import PendoClient

# One record read back: its id, and its values per group asked ({group: {field: value}}).
ReadRecord = tuple[str, dict[str, dict[str, Any]]]

ID_FIELDS = {"visitor": "visitorId", "account": "accountId"}
SOURCES = {"visitor": "visitors", "account": "accounts"}
AUTO_TIMES = frozenset({"firstvisit", "lastvisit", "lastupdated"})  # Pendo's own times (group auto)
CHUNK_BYTES = 64 * 1024
RESUMES = 3  # answers broken off in a row that are read again from the last id read
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_values(
    client: PendoClient, kind: str, fields: Sequence[tuple[str, str]], page_size: int = 5000
) -> Iterator[list[ReadRecord]]:
    """Every visitor's or account's values of `fields` ((group, field) pairs, e.g. ("custom",
    "plan"); group custom, agent, or auto for Pendo's own), as pages of at most `page_size`
    ``(record id, {group: {field: value}})``, each record once, in Pendo's order of ids. Every
    group asked is in each record's dict; a field never set (or null) is absent from its group.

    ValueError at once for a kind other than visitor/account, a page size under 1 or a name
    that is not a Pendo field name. While reading: PendoAuthError (403), PendoError (another
    status after retries, an answer of another shape), PendoUnreachableError (no answer, or
    the answer broke off more than RESUMES times in a row)."""
    return _Reading(client, kind, fields, page_size).pages()


class _BrokenOff(Exception):
    """An answer that stopped before its end (the connection lost mid-body)."""


class _Reading:
    """One read of a kind's values: the calls, and each answer's rows made records."""

    def __init__(
        self, client: PendoClient, kind: str, fields: Sequence[tuple[str, str]], page_size: int
    ) -> None:
        if kind not in ID_FIELDS:
            raise ValueError(f"kind must be 'visitor' or 'account', not {kind!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a whole number >= 1, not {page_size!r}")
        bad = [
            f"{group}.{name}"
            for group, name in fields
            if not (_NAME.fullmatch(group) and _NAME.fullmatch(name))
        ]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a Pendo field (letters, digits and underscores)")
        self._client = client
        self._kind = kind
        self._id = ID_FIELDS[kind]
        self._page_size = page_size
        # The select's out names are f0, f1, ...: never a field's name, which may be anything.
        self._fields = {f"f{i}": (group, name) for i, (group, name) in enumerate(fields)}
        self._groups = tuple(dict.fromkeys(group for group, _ in fields))
        self._times: frozenset[tuple[str, str]] = frozenset()

    def pages(self) -> Iterator[list[ReadRecord]]:
        self._times = self._time_fields()
        last: str | None = None
        limit: int | None = self._page_size
        breaks = 0  # answers broken off in a row, with no page read since
        while True:
            read = 0
            try:
                with self._client.aggregate(self._body(last, limit)) as response:
                    if response.status_code == 400 and limit is not None and last is None:
                        limit = None  # the limit step refused: one call reads every record
                        continue
                    self._check(response)
                    for page in self._answer_pages(response, last):
                        read, breaks = read + len(page), 0
                        last = page[-1][0]
                        yield page
            except _BrokenOff as exc:
                breaks += 1
                if breaks > RESUMES:
                    raise PendoUnreachableError(
                        f"Pendo at {self._client.base_url} broke off its answer while sending the "
                        f"{self._kind} values {breaks} times in a row ({exc}); check the network and read "
                        "them again"
                    ) from None
                continue  # from the last id read: the records of the page cut short come again
            if limit is None or read < limit:
                return

    def _check(self, response: requests.Response) -> None:
        if response.status_code != 200:
            raise PendoError(
                f"Pendo answered {response.status_code} to reading the {self._kind} values "
                f"(POST /api/v1/aggregation): {short_body(response)}"
            )

    def _time_fields(self) -> frozenset[tuple[str, str]]:
        """The (group, field) pairs asked that hold times: Type time in Pendo's schema."""
        times = {
            (group, name) for group, name in self._fields.values() if group == "auto" and name in AUTO_TIMES
        }
        for group in self._groups:
            if group != "auto":
                types = self._client.field_types(self._kind, group)
                times.update((group, name) for name, kind in types.items() if kind == "time")
        return frozenset(times)

    def _body(self, after: str | None, limit: int | None) -> dict[str, Any]:
        """One call's body: the records after id `after`, by id, at most `limit`."""
        steps: list[dict[str, Any]] = [{"source": {SOURCES[self._kind]: None}}]
        if self._kind == "visitor":
            steps.append({"identified": self._id})
        if after is not None:  # a JSON string: quotes and backslashes in an id stay text
            steps.append({"filter": f"{self._id} > {json.dumps(after, ensure_ascii=False)}"})
        steps.append({"sort": [self._id]})
        if limit is not None:
            steps.append({"limit": limit})
        paths = {out: f"metadata.{group}.{name}" for out, (group, name) in self._fields.items()}
        pipeline = [*steps, {"select": {self._id: self._id, **paths}}]
        request = {"pipeline": pipeline, "requestId": f"dbt-pendo-sync read {self._kind}"}
        return {"response": {"mimeType": "application/json"}, "request": request}

    def _answer_pages(self, response: requests.Response, after: str | None) -> Iterator[list[ReadRecord]]:
        """An answer's records in pages of page_size, read as the answer streams."""
        page: list[ReadRecord] = []
        try:
            for row in array_items(response.iter_content(CHUNK_BYTES)):
                record = self._record(row)
                if record[0] == after:
                    raise PendoError(
                        f"Pendo answered {self._kind} {after} again when asked for the ones after it: "
                        "its filter on ids was not applied, so the reading cannot go on page by page"
                    )
                page.append(record)
                if len(page) == self._page_size:
                    yield page
                    page = []
        except MalformedJson as exc:
            raise PendoError(
                f"Pendo's answer to reading the {self._kind} values is not rows ({exc})"
            ) from None
        except requests.RequestException as exc:
            raise _BrokenOff(type(exc).__name__) from None
        if page:
            yield page

    def _record(self, row: Any) -> ReadRecord:
        """One row of an answer as a record: its id, and the values set of each group asked."""
        record_id = row.get(self._id) if isinstance(row, dict) else None
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int)):
            raise PendoError(
                f"Pendo's answer to reading the {self._kind} values holds a row without {self._id}"
            )
        groups: dict[str, dict[str, Any]] = {group: {} for group in self._groups}
        for out, (group, name) in self._fields.items():
            value = row.get(out)
            if value is not None:
                groups[group][name] = epoch_ms(value) if (group, name) in self._times else value
        return str(record_id), groups
