"""What a person sees: one line per model as it starts, notes, and the summary table."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .config import SyncSpec
from .outputs import RejectedFile
from .results import ModelResult, SyncResults

_COUNT_COLUMNS = ("rows", "new", "changed", "unchanged", "sent", "updated", "missing", "invalid",
                  "rejected", "failed")


def _console() -> Console:
    """stdout; wide enough for the summary table when it is not a terminal (CI logs)."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


class ConsoleReport:
    """Prints progress and the summary; hands undelivered rows to the rejected file."""

    def __init__(self, rejected: RejectedFile | None, console: Console | None = None,
                 quiet: bool = False) -> None:
        self.console = console or _console()
        self.rejected = rejected
        self.quiet = quiet

    def note(self, message: str) -> None:
        """A line for the user (skipped models, what the run does)."""
        if not self.quiet:
            self.console.print(message, markup=False)

    def model_started(self, spec: SyncSpec, relation: str) -> None:
        self.note(f"syncing {spec.model} -> Pendo {spec.object}s (from {relation})")

    def progress(self, spec: SyncSpec, result: ModelResult) -> None:
        """Progress bars arrive with the dbt-workflow work; nothing to print per batch yet."""

    def undelivered(self, spec: SyncSpec, category: str, record_id: str | None,
                    reason: str, payload: Any) -> None:
        if self.rejected is not None:
            self.rejected.write(spec.model, record_id, category, reason, payload)

    def files(self, *paths: Path) -> None:
        """Say where the run's files are."""
        self.note("wrote " + ", ".join(str(p) for p in paths if p.exists()))

    def summary(self, results: SyncResults) -> None:
        """The per-model table, then dry-run payload samples and undelivered-row samples."""
        title = "dbt-pendo sync (dry run: nothing sent)" if results.dry_run else "dbt-pendo sync"
        table = Table(title=title, title_justify="left")
        table.add_column("model")
        table.add_column("object")
        table.add_column("status")
        for name in _COUNT_COLUMNS:
            label = "would send" if (results.dry_run and name == "sent") else name
            table.add_column(label, justify="right")
        table.add_column("seconds", justify="right")
        for m in results.models:
            counts = [str(getattr(m.counts, n)) for n in _COUNT_COLUMNS]
            table.add_row(m.model, m.object, m.status, *counts, f"{m.seconds:.1f}")
        self.console.print(table)
        for m in results.models:
            self._details(m)

    def _details(self, m: ModelResult) -> None:
        if m.message:
            self.console.print(f"{m.model}: {m.message}", markup=False)
        for payload in m.payload_sample:
            self.console.print(f"{m.model} would send: {json.dumps(payload, default=str)}", markup=False)
        for category, items in m.samples.items():
            by_reason: dict[str, list[str]] = {}
            for item in items:
                by_reason.setdefault(item["reason"], []).append(str(item["id"]))
            total = getattr(m.counts, category)
            self.console.print(f"{m.model}: {total} {category}", markup=False)
            for reason, ids in list(by_reason.items())[:5]:
                shown = ", ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
                self.console.print(f"  {shown}: {reason}", markup=False)
