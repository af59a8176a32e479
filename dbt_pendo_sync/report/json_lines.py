"""`--log-format json`: one JSON object per report event on stdout, every level included, and
nothing else on stdout (the summary is the results file; a stopped run ends with an `error`
event and `run_finished`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from ..logs import JsonLines
from ..results import SyncResults
from ..vocab import OutputMode
from .base import Report


class JsonReport(Report):
    """JSON lines."""

    mode = OutputMode.JSON
    reports_stops = True

    def __init__(self, console: Console, threshold: int, **kwargs: Any) -> None:
        super().__init__(console, threshold, **kwargs)
        self._lines = JsonLines(console.file, self.invocation_id)

    def _write(self, name: str, level: str, msg: str, fields: dict[str, Any]) -> None:
        self._lines.write(name, level, msg, fields)

    def _show_summary(self, results: SyncResults) -> None:
        """Nothing: `run_finished` carries the totals, the results file the rest."""
