"""The summary a person reads after a run: the per-model table, then dry-run payload samples
and samples of the rows that were not delivered."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from ..results import ModelResult, SyncResults
from ..vocab import PendoObject, Undelivered

COUNT_COLUMNS = (
    "rows",
    "new",
    "changed",
    "unchanged",
    "sent",
    "updated",
    "missing",
    "invalid",
    "rejected",
    "failed",
)


def print_summary(console: Console, results: SyncResults, said: set[str]) -> None:
    """The table and each model's details (a message is left out for models in `said`,
    whose message a printed line already carried)."""
    title = "dbt-pendo sync (dry run: nothing sent)" if results.dry_run else "dbt-pendo sync"
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    table.add_column("object")
    table.add_column("status")
    for name in COUNT_COLUMNS:
        label = "would send" if (results.dry_run and name == "sent") else name
        table.add_column(label, justify="right")
    table.add_column("seconds", justify="right")
    for m in results.models:
        by_name = asdict(m.counts)
        counts = [str(by_name[n]) for n in COUNT_COLUMNS]
        table.add_row(m.model, m.object, m.status, *counts, f"{m.seconds:.1f}")
    console.print(table)
    for m in results.models:
        _details(console, m, m.model in said)


def _details(console: Console, m: ModelResult, said: bool) -> None:
    if m.message and not said:
        console.print(f"{m.model}: {m.message}", markup=False)
    for note in event_notes(m):
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
