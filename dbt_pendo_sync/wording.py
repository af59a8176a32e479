"""Counts in words, the pieces every target's words are made of: `120 sent, 117 updated, 1
missing`, `3 cleared`; a target says what its rows did with them (targets/*)."""

from __future__ import annotations

from .results import Counts, ModelResult
from .vocab import ModelStatus


def default_words(result: ModelResult, dry_run: bool, zeros: bool = True) -> str:
    """`120 rows, 120 to send; 120 sent, 117 updated, ...` (and records cleared)."""
    return head_words(result) + sent_words(result.counts, dry_run, zeros) + _also_clears(result, dry_run)


def head_words(result: ModelResult) -> str:
    """`120 rows, 120 to send; `."""
    return f"{result.counts.rows:,} rows, {result.to_send:,} to send; "


def sent_words(c: Counts, dry_run: bool, zeros: bool = True) -> str:
    """Records sent and what became of them: `120 sent, 117 updated, 1 missing, 2 invalid, 0
    rejected, 0 failed`, or on a dry run `120 would send, 2 invalid` (a model's, or the run's
    totals). `zeros=False` leaves out the counts of rows not delivered that are 0."""
    if dry_run:
        return join(f"{c.sent:,} would send", n_words(c.invalid, "invalid", zeros))
    return join(f"{c.sent:,} sent", f"{c.updated:,} updated", *undelivered_words(c, zeros))


def clears(result: ModelResult, dry_run: bool) -> str:
    """`3 cleared` (or `3 to clear` where not every clear was confirmed, `3 would clear`)."""
    removed = result.counts.removed
    if dry_run:
        return f"{removed:,} would clear"
    return f"{removed:,} cleared" if exact(result) else f"{removed:,} to clear"


def _also_clears(result: ModelResult, dry_run: bool) -> str:
    return f"; {clears(result, dry_run)}" if result.counts.removed else ""


def exact(result: ModelResult) -> bool:
    """Whether every change the model had to send was sent and confirmed (so `added`,
    `removed`, `cleared` are what Pendo holds)."""
    c = result.counts
    ended = result.status not in (ModelStatus.ERROR, ModelStatus.INTERRUPTED)
    return ended and c.sent == c.updated and not (c.missing or c.rejected or c.failed)


def undelivered_words(c: Counts, zeros: bool, missing: bool = True) -> list[str]:
    """`1 missing`, `2 invalid`, `0 rejected`, `0 failed` (without the zeros unless `zeros`)."""
    names = (["missing"] if missing else []) + ["invalid", "rejected", "failed"]
    return [n_words(getattr(c, name), name, zeros) for name in names]


def n_words(count: int, word: str, zeros: bool) -> str:
    return f"{count:,} {word}" if count or zeros else ""


def join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)
