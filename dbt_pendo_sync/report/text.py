"""`--log-format text` (and `default` off a terminal: CI, pipes, files; `debug` with the
debug lines): timestamped plain lines, progress at most every few seconds or 10% of the rows,
then the summary table."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from ..logs import INFO, TextLines
from ..report_events import ModelProgress, ReportBus
from ..vocab import OutputMode
from .base import Report, duration

PROGRESS_EVERY = 5.0  # seconds between progress lines (or every 10% of the rows)
# Rows between progress lines at least: a model of fewer rows gets one line, at its end (an
# event model reports each event, and ten lines of a few events each tell nothing).
PROGRESS_ROWS = 100


class TextReport(Report):
    """Plain timestamped lines."""

    mode = OutputMode.TEXT

    def __init__(self, console: Console, threshold: int, **kwargs: Any) -> None:
        super().__init__(console, threshold, **kwargs)
        self._lines = TextLines(console.file)

    def _write(self, name: str, level: str, msg: str, fields: dict[str, Any]) -> None:
        self._lines.write(level, msg)

    def listen(self, bus: ReportBus) -> None:
        super().listen(bus)
        bus.on(ModelProgress, self._progress)

    def _progress(self, event: ModelProgress) -> None:
        """A line when a tenth of the rows (at least PROGRESS_ROWS, or all of them) or
        PROGRESS_EVERY seconds have passed since the last."""
        spec, result, m = event.spec, event.result, self._model
        if m is None or self.quiet:
            return
        now = time.monotonic()
        if m.sending_since is None:
            m.sending_since = m.line_at = now
        total = result.to_send
        done = result.counts.sent + result.counts.invalid
        if done <= m.line_done:
            return
        step = max(total // 10, min(total, PROGRESS_ROWS), 1)
        if done - m.line_done < step and now - m.line_at < PROGRESS_EVERY:
            return
        m.line_at, m.line_done = now, done
        elapsed = now - m.sending_since
        pace = ""
        if elapsed >= 0.5:
            rate = done / elapsed
            pace = f"; {rate:,.0f} rows/s"
            if done < total and rate > 0:
                pace += f", ETA {duration((total - done) / rate)}"
        verb = "would send" if self.dry_run else "sent"
        self._emit(
            "progress",
            INFO,
            f"{spec.model}: {done:,}/{total:,} rows done ({result.counts.sent:,} {verb}{pace})",
            model=spec.model,
        )
