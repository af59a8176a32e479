"""The summary a person reads after a run: the per-model table, then each model's details
(its message, what its target says in its own words, dry-run payload samples, samples of
the rows that were not delivered).

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

from ..results import ModelResult, SyncResults
from ..targets import registry
from ..vocab import Undelivered
from ..wording import default_words

COUNT_COLUMNS = (
    "rows",
    "new",
    "changed",
    "unchanged",
    "removed",  # only where some model has removals
    "adopted",  # only where some model adopted records (sync --adopt)
    "sent",
    "updated",
    "missing",
    "invalid",
    "rejected",
    "failed",
)
KEPT_COLUMNS = frozenset({"rows", "sent", "updated"})  # shown even where every model has 0
UNLIMITED = 10_000  # a width no table reaches: a table's natural width is measured within it


def print_summary(console: Console, results: SyncResults, said: set[str], labels: Mapping[str, str]) -> None:
    """The table and each model's details (a message is left out for models in `said`,
    whose message a printed line already carried; `labels`: {model: what its target's words
    name, a segment's name})."""
    title = "dbt-pendo sync (dry run: nothing sent)" if results.dry_run else "dbt-pendo sync"
    models = results.models
    columns = [n for n in COUNT_COLUMNS if n not in ("removed", "adopted") or _any(models, n)]
    table = _table(title, results, columns)
    if not _fits(console, table):
        table = _table(title, results, [n for n in columns if n in KEPT_COLUMNS or _any(models, n)])
    stacked = not _fits(console, table)
    if stacked:
        _print_stacked(console, title, results, labels)
    else:
        console.print(table)
    for m in models:
        _details(console, m, m.model in said, results.dry_run, None if stacked else labels)


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


def _print_stacked(console: Console, title: str, results: SyncResults, labels: Mapping[str, str]) -> None:
    """One block per model: `model (object): status in 1.2s`, then its counts in words."""
    console.print(Text(title, style="italic"), overflow="fold")
    for m in results.models:
        console.print(Text(f"{m.model} ({m.object}): {m.status} in {m.seconds:.1f}s"), overflow="fold")
        words = count_words(m, results.dry_run, labels.get(m.model), zeros=False)
        console.print(Padding(Text(words), (0, 0, 0, 2), expand=False))


def _details(
    console: Console, m: ModelResult, said: bool, dry_run: bool, labels: Mapping[str, str] | None
) -> None:
    """A model's lines below the table (`labels`: None when its words were shown already)."""
    if m.message and not said:
        console.print(f"{m.model}: {m.message}", markup=False)
    for note in target_notes(m) + ([] if labels is None else removal_notes(m, dry_run, labels)):
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


def target_notes(result: ModelResult) -> list[str]:
    """What the model's counts do not say, in its target's words (what it left out, and why)."""
    target = registry.for_object(result.object)
    return [] if target is None else target.notes(result)


def removal_notes(result: ModelResult, dry_run: bool, labels: Mapping[str, str]) -> list[str]:
    """The line below the table that the table's numbers do not say: a segment's members
    added and removed; the records a metadata model cleared."""
    target = registry.for_object(result.object)
    note = None if target is None else target.removal_note(result, dry_run, labels.get(result.model))
    return [] if note is None else [note]


def count_words(result: ModelResult, dry_run: bool, label: str | None = None, zeros: bool = True) -> str:
    """What the model did, in its target's words (`label`: what they name beside the model,
    a segment's name). `zeros=False` leaves out the counts of rows not delivered that are 0."""
    target = registry.for_object(result.object)
    if target is None:  # a skipped model whose block names no target
        return default_words(result, dry_run, zeros)
    return target.words(result, dry_run, label, zeros)
