"""Pendo's answers: bulk metadata answers mapped back to the records that were sent, and the
start of any answer's body for a message."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

_ID_KEYS = ("visitorId", "accountId", "id", "Id", "recordId")


@dataclass
class BatchOutcome:
    """The fate of every record of one batch: confirmed, missing, rejected or failed."""

    confirmed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def all_failed(cls, ids: Iterable[str], reason: str) -> BatchOutcome:
        """Every record failed for the same reason (the call itself failed)."""
        return cls(failed=[(i, reason) for i in ids])

    @classmethod
    def combine(cls, *outcomes: BatchOutcome) -> BatchOutcome:
        """One outcome for the records of several (the halves of a split batch)."""
        merged = cls()
        for o in outcomes:
            merged.confirmed += o.confirmed
            merged.missing += o.missing
            merged.rejected += o.rejected
            merged.failed += o.failed
        return merged

    @classmethod
    def of_status(cls, ids: Iterable[str], status: int, text: str) -> BatchOutcome:
        """A call Pendo answered with a status other than 200 (after retries), `text` its
        answer's start: a 400 rejects every record, any other status fails them."""
        if status == 400:
            reason = f"Pendo answered 400: {text}"
            return cls(rejected=[(i, reason) for i in ids])
        return cls.all_failed(ids, f"Pendo answered {status} after retries: {text}")


@dataclass(frozen=True)
class WriteAnswer:
    """One bulk metadata call as Pendo answered it: the HTTP status, the start of the body
    when the status is not 200, and the fate of each record."""

    status: int
    text: str
    outcome: BatchOutcome


def short_body(response: requests.Response) -> str:
    """The start of an answer's body on one line, for a message ("(empty body)" if none)."""
    text = (response.text or "").strip().replace("\n", " ")
    return text[:300] if text else "(empty body)"


def _int(answer: dict, key: str) -> int | None:
    value = answer.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_text(entry: Any) -> str:
    if isinstance(entry, dict):
        for key in ("error", "message", "reason", "detail"):
            if isinstance(entry.get(key), str):
                return entry[key]
    return str(entry)


def _ids_in_entry(entry: Any, ids: Sequence[str], id_set: set[str]) -> list[str]:
    """The batch ids an `errors` entry names (its shape is not documented)."""
    if isinstance(entry, dict):
        named = [str(entry[k]) for k in _ID_KEYS if k in entry and str(entry[k]) in id_set]
        if named:
            return named
        entry = " ".join(str(v) for v in entry.values())
    text = str(entry)
    return [i for i in ids if i in text and re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text)]


def read_answer(ids: Sequence[str], answer: Any) -> BatchOutcome:
    """Map a 200 answer `{total, updated, failed, missing, errors}` onto the batch's ids.

    A record counts as confirmed only when the answer accounts for every record: ids in
    `missing` or named by an `errors` entry are out, and `updated` must equal what is left.
    Anything ambiguous leaves the remaining records failed (unconfirmed), never confirmed.
    """
    if not isinstance(answer, dict):
        return BatchOutcome.all_failed(ids, f"unexpected answer from Pendo: {str(answer)[:200]}")
    id_set = set(ids)
    missing_raw = answer.get("missing") or []
    missing = [str(m) for m in missing_raw if str(m) in id_set]
    missing_set = set(missing)
    outcome = BatchOutcome(missing=missing)
    errored: set[str] = set()
    unmapped: list[str] = []
    for entry in answer.get("errors") or []:
        named = _ids_in_entry(entry, ids, id_set)
        if not named:
            unmapped.append(_error_text(entry))
        for record_id in named:
            if record_id not in errored and record_id not in missing_set:
                errored.add(record_id)
                outcome.rejected.append((record_id, _error_text(entry)))
    rest = [i for i in ids if i not in missing_set and i not in errored]
    updated = _int(answer, "updated")
    if unmapped or updated != len(rest):
        reason = (
            f"Pendo's answer does not account for each record (updated={updated}, "
            f"failed={_int(answer, 'failed')}, unmatched errors: {'; '.join(unmapped)[:300] or 'none'})"
        )
        outcome.failed = [(i, reason) for i in rest]
    else:
        outcome.confirmed = rest
    return outcome
