"""Pendo's metadata values as the emulator plays them: the known visitors, accounts and parent
accounts, the values of their custom and agent groups and when each record's were last
written, bulk writes (POST /api/v1/metadata/{kind}/{group}/value), one value written or read
(PUT/GET .../value/{id}/{field}) and a record read (GET /api/v1/{kind}/{id}).

Parent accounts are a subscription's option, and the id key of their records is not
documented: ``parent_id_key`` (the switch ``parent_account_id_key``) says which key their
writes must use (a record keyed otherwise gets 400 naming it), and without parent accounts
(``parent_id_key`` None: the switch ``parent_accounts=False``) their writes get 404. A parent
account is known when a known account id names it (``parent::child``)."""

from __future__ import annotations

import bisect
import copy
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .answers import NOT_FOUND, Answer, Incoming, Routes, json_answer, json_problem, text_answer
from .data import ALL, GROUPS, ID_FIELDS, EmulatorData, record_group, record_kind
from .schema import Schema
from .valuetypes import field_checks, type_checks, value_problem

# The calls faults number as "write": the bulk writes.
WRITE_CALL = re.compile(r"/api/v1/metadata/(visitor|account|parentAccount)/[^/]+/value")
_VALUE_PATH = re.compile(r"/api/v1/metadata/([^/]+)/([^/]+)/value/([^/]+)/([^/]+)")
# The shape of the per-record "errors" entries of a bulk write's answer is not documented.
ERRORS_SHAPES = ("object", "text")
# The id key of parent account records is not documented: the one this emulator takes.
PARENT_ID_KEYS = ("parentAccountId", "accountId")


def checked_errors_shape(errors_shape: str) -> str:
    """`errors_shape` when it is one of ERRORS_SHAPES, else ValueError."""
    if errors_shape not in ERRORS_SHAPES:
        raise ValueError('errors_shape must be "object" or "text"')
    return errors_shape


def checked_parent_id_key(key: str) -> str:
    """`key` when it is one of PARENT_ID_KEYS, else ValueError."""
    if key not in PARENT_ID_KEYS:
        raise ValueError('parent_account_id_key must be "parentAccountId" or "accountId"')
    return key


def _parents(ids: Iterable[str]) -> set[str]:
    """The parent accounts that `parent::child` account ids name."""
    return {i.split("::", 1)[0] for i in ids if "::" in i}


def _group_problem(group: str) -> str | None:
    return None if group in GROUPS else f"unknown metadata group: {group} (custom or agent)"


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


class Values:
    """The known records and their values (group -> kind -> record id -> values) of one
    emulator, guarded by the emulator's `lock`; their fields are in `schema`. Parent account
    records are keyed `parent_id_key` (None: the subscription has no parent accounts)."""

    def __init__(
        self,
        data: EmulatorData,
        schema: Schema,
        lock: threading.Lock,
        *,
        errors_shape: str,
        epoch_ms_dates: bool,
        parent_id_key: str | None = "parentAccountId",
    ) -> None:
        self._schema = schema
        self._errors_shape = errors_shape
        self._checks = type_checks(epoch_ms_dates)
        self._lock = lock
        accounts = data.accounts
        self._known = {
            "visitor": copy.copy(data.visitors),
            "account": copy.copy(accounts),
            "parentAccount": ALL if accounts == ALL else _parents(accounts),
        }
        self._id_fields = {kind: key for kind, key in ID_FIELDS.items() if kind != "parentAccount"}
        if parent_id_key is not None:
            self._id_fields["parentAccount"] = checked_parent_id_key(parent_id_key)
        self._values: dict[str, dict[str, dict[str, dict]]] = {
            group: {kind: {} for kind in ID_FIELDS} for group in GROUPS
        }
        # kind -> record id -> when its values were last written, in epoch milliseconds
        self._written: dict[str, dict[str, int]] = {kind: {} for kind in ID_FIELDS}
        self._changes = 0  # counts the stores and ids made known: when the sorted ids are stale
        self._sorted: dict[str, tuple[int, list[str]]] = {}  # kind -> (at _changes, ids sorted)
        for kind in ID_FIELDS:
            for record_id, values in data.values.get(kind, {}).items():
                self._store(kind, record_id, values)
        self.routes: Routes = [
            ("POST", re.compile(r"/api/v1/metadata/([^/]+)/([^/]+)/value"), self._post_values),
            ("PUT", _VALUE_PATH, self._put_value),
            ("GET", _VALUE_PATH, self._get_value),
            ("GET", re.compile(r"/api/v1/(visitor|account)/([^/]+)"), self._get_record),
        ]

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
            self._make_known(record_kind(kind), ids)

    def set_values(self, kind: str, record_id: str, values: Mapping[str, Any], group: str = "custom") -> None:
        """Set values as a Pendo admin would by hand, unchecked (the record becomes known;
        None clears a field)."""
        with self._lock:
            self._store(record_kind(kind), record_id, values, record_group(group))

    def last_written(self, kind: str, record_id: str) -> int | None:
        """When a record's values were last written (epoch milliseconds), None if never."""
        with self._lock:
            return self._written[record_kind(kind)].get(record_id)

    @contextmanager
    def held(self, kind: str) -> Iterator[list[tuple[str, dict, dict, int | None]]]:
        """Every record of a kind Pendo holds (the known ids, unless every id is, and those
        with values): (id, custom values, agent values, when last written in epoch ms or
        None). The lock is held inside the block, and the values are the store's own: to read
        only, there. Tuples, not a dict per record: an aggregation reads them all each call."""
        with self._lock:
            known = self._known[kind]
            ids = dict.fromkeys(known if isinstance(known, set) else ())
            ids.update(dict.fromkeys(self._values["custom"][kind]))
            ids.update(dict.fromkeys(self._values["agent"][kind]))
            yield self._records(kind, ids)

    @contextmanager
    def page(
        self, kind: str, after: str | None, count: int
    ) -> Iterator[list[tuple[str, dict, dict, int | None]]]:
        """As `held`, only the first `count` records by id (code point order) whose id is after
        `after` (None: from the first): a page costs its records, not every record. The ids
        are sorted once after each change."""
        with self._lock:
            ids = self._sorted_ids(kind)
            start = 0 if after is None else bisect.bisect_right(ids, after)
            yield self._records(kind, ids[start : start + count])

    def _records(self, kind: str, ids: Iterable[str]) -> list[tuple[str, dict, dict, int | None]]:
        custom, agent = self._values["custom"][kind], self._values["agent"][kind]
        written = self._written[kind]
        none: dict[str, Any] = {}
        return [(rid, custom.get(rid, none), agent.get(rid, none), written.get(rid)) for rid in ids]

    def _sorted_ids(self, kind: str) -> list[str]:
        """Every id `held` gives, sorted; the caller holds the lock."""
        at, ids = self._sorted.get(kind, (-1, []))
        if at != self._changes:
            known = self._known[kind]
            found = set(known) if isinstance(known, set) else set()
            found.update(self._values["custom"][kind], self._values["agent"][kind])
            ids = sorted(found)
            self._sorted[kind] = (self._changes, ids)
        return ids

    # -- endpoints

    def _post_values(self, req: Incoming, kind: str, group: str) -> Answer:
        id_field = self._id_fields.get(kind)
        if id_field is None:
            return NOT_FOUND
        problem = _group_problem(group) or json_problem(req) or _batch_problem(req.body, id_field)
        if problem:
            return text_answer(400, problem)
        rejected = next((r[id_field] for r in req.body if r[id_field] in req.reject_ids), None)
        if rejected is not None:
            return json_answer(400, {"error": f"invalid value for {rejected}"})
        create = req.query.get("create", "").lower() == "true"
        with self._lock:
            return self._write_batch(kind, group, req.body, create, req.fail_ids)

    def _put_value(self, req: Incoming, kind: str, group: str, record_id: str, name: str) -> Answer:
        if kind not in self._id_fields:
            return NOT_FOUND
        problem = _group_problem(group) or json_problem(req)
        if problem:
            return text_answer(400, problem)
        with self._lock:
            if not self._is_known(kind, record_id):
                return NOT_FOUND
            fields = self._schema.group_fields(kind, group)
            refused = self._schema.admit(fields, [name])
            if refused:
                return refused
            problem = value_problem(fields, field_checks(self._checks, fields), {name: req.body})
            if problem:
                return json_answer(400, {"error": problem})
            self._store(kind, record_id, {name: req.body}, group)
        return json_answer(200, {})

    def _get_value(self, req: Incoming, kind: str, group: str, record_id: str, name: str) -> Answer:
        with self._lock:
            stored = self._values.get(group, {}).get(kind, {}).get(record_id, {})
            return json_answer(200, stored[name]) if name in stored else NOT_FOUND

    def _get_record(self, req: Incoming, kind: str, record_id: str) -> Answer:
        with self._lock:
            if not self._is_known(kind, record_id):
                return NOT_FOUND
            metadata = {group: dict(self._values[group][kind].get(record_id, {})) for group in GROUPS}
        return json_answer(200, {ID_FIELDS[kind]: record_id, "metadata": metadata})

    # -- state changes; the caller holds the lock

    def _write_batch(
        self, kind: str, group: str, records: list[dict], create: bool, fail_ids: frozenset[str]
    ) -> Answer:
        id_field = self._id_fields[kind]
        fields = self._schema.group_fields(kind, group)
        refused = self._schema.admit(fields, (name for r in records for name in r["values"]))
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
        return json_answer(
            200,
            {
                "total": len(records),
                "updated": len(records) - failed,
                "failed": failed,
                "missing": missing,
                "errors": errors,
            },
        )

    def _error_entry(self, kind: str, record_id: str, problem: str) -> Any:
        if self._errors_shape == "text":
            return f"{kind} {record_id}: {problem}"
        return {self._id_fields[kind]: record_id, "error": problem}

    def _is_known(self, kind: str, record_id: str) -> bool:
        known = self._known[kind]
        return known == ALL or record_id in known

    def _make_known(self, kind: str, ids: Iterable[str]) -> None:
        """Make ids of a kind known (and the parent accounts that account ids name)."""
        ids = list(ids)
        self._changes += 1
        known = self._known[kind]
        if isinstance(known, set):
            known.update(ids)
        if kind == "account":
            self._make_known("parentAccount", _parents(ids))

    def _store(self, kind: str, record_id: str, values: Mapping[str, Any], group: str = "custom") -> None:
        """Merge values into a record's group (None deletes a field), make the record known
        and note when it was written."""
        self._make_known(kind, [record_id])  # counts the change
        self._written[kind][record_id] = time.time_ns() // 1_000_000
        records = self._values[group][kind]
        stored = records.setdefault(record_id, {})
        for name, value in values.items():
            if value is None:
                stored.pop(name, None)
            else:
                stored[name] = value
        if not stored:
            del records[record_id]
