"""The summary a person reads after a run: the per-model table, then each model's details
(its message, what a target says in its own words, dry-run payload samples, samples of the
rows that were not delivered).

The table fits the console: every column where there is room; else without the count
columns that are zero for every model; else one block per model (its name, object, status
and time on one line, its counts in words below), so a model's name is never cut."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..results import Counts, ModelResult, SyncResults
from ..vocab import ModelStatus, PendoObject, Undelivered

COUNT_COLUMNS = (
    "rows",
    "new",
    "changed",
    "unchanged",
    "removed",  # only where some model has removals
    "sent",
    "updated",
    "missing",
    "invalid",
    "rejected",
    "failed",
)
KEPT_COLUMNS = frozenset({"rows", "sent", "updated"})  # shown even where every model has 0
UNLIMITED = 10_000  # a width no table reaches: a table's natural width is measured within it


def print_summary(
    console: Console, results: SyncResults, said: set[str], segments: Mapping[str, str]
) -> None:
    """The table and each model's details (a message is left out for models in `said`,
    whose message a printed line already carried; `segments`: {model: its segment's name})."""
    title = "dbt-pendo sync (dry run: nothing sent)" if results.dry_run else "dbt-pendo sync"
    models = results.models
    columns = [n for n in COUNT_COLUMNS if n != "removed" or _any(models, n)]
    table = _table(title, results, columns)
    if not _fits(console, table):
        table = _table(title, results, [n for n in columns if n in KEPT_COLUMNS or _any(models, n)])
    stacked = not _fits(console, table)
    if stacked:
        _print_stacked(console, title, results, segments)
    else:
        console.print(table)
    for m in models:
        _details(console, m, m.model in said, results.dry_run, None if stacked else segments)


def _any(models: Sequence[ModelResult], column: str) -> bool:
    return any(getattr(m.counts, column) for m in models)


def _table(title: str, results: SyncResults, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("model", no_wrap=True)
    table.add_column("object")
    table.add_column("status")
    for name in columns:
        label = "would send" if (results.dry_run and name == "sent") else name
        table.add_column(label, justify="right")
    table.add_column("seconds", justify="right")
    for m in results.models:
        by_name = asdict(m.counts)
        table.add_row(m.model, m.object, m.status, *(str(by_name[n]) for n in columns), f"{m.seconds:.1f}")
    return table


def _fits(console: Console, table: Table) -> bool:
    """Whether the table is shown whole at the console's width (rich cuts cells otherwise)."""
    natural = console.measure(table, options=console.options.update_width(UNLIMITED)).maximum
    return natural <= console.width


def _print_stacked(console: Console, title: str, results: SyncResults, segments: Mapping[str, str]) -> None:
    """One block per model: `model (object): status in 1.2s`, then its counts in words."""
    console.print(Text(title, style="italic"), overflow="fold")
    for m in results.models:
        console.print(Text(f"{m.model} ({m.object}): {m.status} in {m.seconds:.1f}s"), overflow="fold")
        words = count_words(m, results.dry_run, segments.get(m.model), zeros=False)
        console.print(Padding(Text(words), (0, 0, 0, 2), expand=False))


def _details(
    console: Console, m: ModelResult, said: bool, dry_run: bool, segments: Mapping[str, str] | None
) -> None:
    """A model's lines below the table (`segments`: None when its words were shown already)."""
    if m.message and not said:
        console.print(f"{m.model}: {m.message}", markup=False)
    for note in event_notes(m) + ([] if segments is None else removal_notes(m, dry_run, segments)):
        console.print(f"{m.model}: {note}", markup=False)
    for payload in m.payload_sample:
        console.print(f"{m.model} would send: {json.dumps(payload, default=str)}", markup=False)
    for category, items in m.samples.items():
        by_reason: dict[str, list[str]] = {}
        for item in items:
            by_reason.setdefault(str(item["reason"]), []).append(
                "(no id)" if item["id"] is None else str(item["id"])
            )
        total = m.counts.of(Undelivered(category))
        console.print(f"{m.model}: {total} {category}", markup=False)
        for reason, ids in list(by_reason.items())[:5]:
            shown = ", ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
            console.print(f"  {shown}: {reason}", markup=False)


def event_notes(result: ModelResult) -> list[str]:
    """What an event model left out, and why (none for other models)."""
    if result.object != PendoObject.EVENT:
        return []
    c, notes = result.counts, []
    if c.too_old or c.too_new:
        notes.append(f"not sent, outside Pendo's window: {c.too_old:,} too old, {c.too_new:,} in the future")
    if c.changed:
        notes.append(f"{c.changed:,} changed under an event id already sent (events are sent once)")
    return notes


def removal_notes(result: ModelResult, dry_run: bool, segments: Mapping[str, str]) -> list[str]:
    """The line below the table that the table's numbers do not say: a segment's members
    added and removed; the records a metadata model cleared."""
    if result.object == PendoObject.SEGMENT and (result.counts.sent or result.counts.removed):
        return [count_words(result, dry_run, segments.get(result.model), zeros=False)]
    if result.object != PendoObject.EVENT and result.counts.removed:
        return [_clears(result, dry_run) + " (records that left the model: on_remove: clear)"]
    return []


# -- counts in each target's words ---------------------------------------------------------


def count_words(result: ModelResult, dry_run: bool, segment: str | None = None, zeros: bool = True) -> str:
    """What the model did, in its target's words: metadata rows sent and updated (and records
    cleared), events sent and delivered, segment members added and removed (`segment`: its
    name). `zeros=False` leaves out the counts of rows not delivered that are 0."""
    c = result.counts
    if result.object == PendoObject.SEGMENT:
        return _segment_words(result, dry_run, segment, zeros)
    head = f"{c.rows:,} rows, {result.to_send:,} to send; "
    if result.object == PendoObject.EVENT and not dry_run:
        return head + _join(
            f"{c.sent:,} sent", f"{c.updated:,} delivered", *_undelivered(c, zeros, missing=False)
        )
    return head + sent_words(c, dry_run, zeros) + _also_clears(result, dry_run)


def sent_words(c: Counts, dry_run: bool, zeros: bool = True) -> str:
    """Records sent and what became of them: `120 sent, 117 updated, 1 missing, 2 invalid, 0
    rejected, 0 failed`, or on a dry run `120 would send, 2 invalid` (a model's, or the run's
    totals). `zeros=False` leaves out the counts of rows not delivered that are 0."""
    if dry_run:
        return _join(f"{c.sent:,} would send", _n(c.invalid, "invalid", zeros))
    return _join(f"{c.sent:,} sent", f"{c.updated:,} updated", *_undelivered(c, zeros))


def _segment_words(result: ModelResult, dry_run: bool, segment: str | None, zeros: bool) -> str:
    """`segment 'VIPs' (12 members): 3 added, 1 removed`; `3 to add, 1 to remove; 3 done, 1
    failed` where not every change was confirmed."""
    c = result.counts
    name = f"segment '{segment}'" if segment else "segment"
    head = f"{name} ({c.rows:,} member{'' if c.rows == 1 else 's'}): "
    adds = max(0, result.to_send - c.removed)  # invalid ids among them are never sent
    invalid = _n(c.invalid, "invalid", zeros=False)
    if dry_run:
        return head + _join(f"{adds:,} would add", f"{c.removed:,} would remove", invalid)
    if _exact(result):
        return head + _join(f"{c.sent - c.removed:,} added", f"{c.removed:,} removed", invalid)
    return (
        head
        + _join(f"{adds:,} to add", f"{c.removed:,} to remove")
        + "; "
        + _join(f"{c.updated:,} done", *_undelivered(c, zeros, missing=False))
    )


def _clears(result: ModelResult, dry_run: bool) -> str:
    removed = result.counts.removed
    if dry_run:
        return f"{removed:,} would clear"
    return f"{removed:,} cleared" if _exact(result) else f"{removed:,} to clear"


def _also_clears(result: ModelResult, dry_run: bool) -> str:
    return f"; {_clears(result, dry_run)}" if result.counts.removed else ""


def _exact(result: ModelResult) -> bool:
    """Whether every change the model had to send was sent and confirmed (so `added`,
    `removed`, `cleared` are what Pendo holds)."""
    c = result.counts
    ended = result.status not in (ModelStatus.ERROR, ModelStatus.INTERRUPTED)
    return ended and c.sent == c.updated and not (c.missing or c.rejected or c.failed)


def _undelivered(c: Counts, zeros: bool, missing: bool = True) -> list[str]:
    names = (["missing"] if missing else []) + ["invalid", "rejected", "failed"]
    return [_n(getattr(c, name), name, zeros) for name in names]


def _n(count: int, word: str, zeros: bool) -> str:
    return f"{count:,} {word}" if count or zeros else ""


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)
