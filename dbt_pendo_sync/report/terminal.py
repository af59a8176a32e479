"""`--log-format default` on an interactive terminal: a progress bar per model, notes and
warnings in colour, then the summary table."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..logs import DEBUG, ERROR, INFO, WARN
from ..report_events import ModelProgress, ReportBus
from ..results import ModelResult
from ..vocab import OutputMode
from .base import ModelInFlight, Report


class _RowsColumn(ProgressColumn):
    """`done/total rows · sent`: rows handled (sent or invalid) of the rows to send."""

    def render(self, task: Task) -> Text:
        done, total, sent = (task.fields.get(k) for k in ("done", "to_send", "sent"))
        if total is None:
            return Text("snapshot…", style="progress.description")
        verb = task.fields.get("verb", "sent")
        return Text(f"{done:,}/{total:,} rows · {sent:,} {verb}", style="progress.download")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


_STYLES = {WARN: ("yellow", "Warning: "), ERROR: ("red", "Error: ")}
_MARKS = {ERROR: "[red]✗", WARN: "[yellow]!", INFO: "[green]✓"}


class TerminalReport(Report):
    """Progress bars and coloured lines (with `--quiet`: no bars)."""

    mode = OutputMode.RICH
    _bars: Progress | None = None

    def _write(self, name: str, level: str, msg: str, fields: dict[str, Any]) -> None:
        style, prefix = _STYLES.get(level, ("", ""))
        self.console.print(Text(prefix + msg, style=style), highlight=False)

    def _started_level(self, model: ModelInFlight) -> str:
        """A bar per model; the line is only for --debug."""
        if self.quiet:
            return INFO
        model.task = self._start_bars().add_task(
            f"{model.spec.model} → {model.spec.object}s",
            total=None,
            done=0,
            to_send=None,
            sent=0,
            verb="would send" if self.dry_run else "sent",
        )
        return DEBUG

    def listen(self, bus: ReportBus) -> None:
        super().listen(bus)
        bus.on(ModelProgress, self._progress)

    def _progress(self, event: ModelProgress) -> None:
        result, m = event.result, self._model
        if m is None or m.task is None or self._bars is None:
            return
        total = result.to_send
        done = result.counts.sent + result.counts.invalid
        self._bars.update(
            m.task,
            total=max(total, 1),
            completed=done if total else 1,
            done=done,
            to_send=total,
            sent=result.counts.sent,
        )

    def _finished_level(self, model: ModelInFlight, result: ModelResult, level: str) -> str:
        """The bar shows the status (and so does the table); the line is only for --debug."""
        if self._bars is None or model.task is None:
            return level
        task = self._bars.tasks[model.task]
        self._bars.update(
            model.task,
            description=f"{result.model} {_MARKS[level]} {result.status}[/]",
            total=task.total or 1,
            completed=task.total or 1,
        )
        self._bars.stop_task(model.task)
        return DEBUG

    def _start_bars(self) -> Progress:
        if self._bars is None:
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _RowsColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
                console=self.console,
                refresh_per_second=4,
            )
            self._bars.start()
        return self._bars

    def _stop_showing(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
