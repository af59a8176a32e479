"""What a run reports, as it happens: every event once, shown the way `--log-format` asks.

- `default` on an interactive terminal (rich's `Console.is_interactive`: a TTY whose TERM
  is not dumb; FORCE_COLOR / TTY_COMPATIBLE / TTY_INTERACTIVE are honoured): a progress
  bar per model, notes, and the summary table.
- `text`, and `default` anywhere else (CI, pipes, files): timestamped plain lines (model
  started, progress at most every few seconds or 10%, model finished), then the table.
- `debug`: `text` with the debug lines (every batch, every retry), as `--debug` adds them.
- `json`: one JSON object per event on stdout (logs.JsonLines), every level included, and
  nothing else on stdout.

`--quiet` keeps only error-level events, the summary table and the final line
(`run_finished` in JSON). Undelivered rows go to the rejected file, never to the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .config import SyncSpec
from .errors import EXIT_FAILED, EXIT_OK, UsageError, exit_code_for
from .logs import DEBUG, ERROR, INFO, LEVELS, LOG_FORMATS, WARN, JsonLines, TextLines, new_invocation_id
from .outputs import RejectedFile
from .pendo.answers import BatchOutcome
from .pendo.client import RetryNotice
from .results import ModelResult, SyncResults
from .vocab import ModelStatus, OutputMode, Undelivered

_COUNT_COLUMNS = (
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
PROGRESS_EVERY = 5.0  # seconds between progress lines in text mode (or every 10% of the rows)


def _console() -> Console:
    """stdout; wide enough for the summary table when it is not a terminal (CI logs)."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


def output_mode(log_format: str, console: Console) -> OutputMode:
    """rich, text or json, from --log-format and the console."""
    if log_format not in LOG_FORMATS:
        raise UsageError(f"--log-format {log_format}: use one of {', '.join(LOG_FORMATS)}")
    if log_format == "json":
        return OutputMode.JSON
    if log_format == "default" and console.is_interactive:
        return OutputMode.RICH
    return OutputMode.TEXT


def _renamed(fields: dict[str, Any], **names: str) -> dict[str, Any]:
    """`fields` with some keys renamed {old: new}."""
    return {names.get(key, key): value for key, value in fields.items()}


def _duration(seconds: float) -> str:
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class _Model:
    """What the report tracks of the model being synced."""

    spec: SyncSpec
    started: float
    task: TaskID | None = None
    sending_since: float | None = None
    line_at: float = 0.0
    line_done: int = 0
    retries: int = 0


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


class ConsoleReport:
    """The run's reporter and the engine's EventSink; hands undelivered rows to the rejected
    file. Every method may be called from the main thread; `retry` also from send threads."""

    def __init__(
        self,
        rejected: RejectedFile | None = None,
        console: Console | None = None,
        quiet: bool = False,
        log_format: str = "default",
        debug: bool = False,
        invocation_id: str | None = None,
    ) -> None:
        self.console = console or _console()
        self.rejected = rejected
        self.quiet = quiet
        self.invocation_id = invocation_id or new_invocation_id()
        self.mode = output_mode(log_format, self.console)
        if quiet:
            self._threshold = LEVELS[ERROR]
        elif self.mode == OutputMode.JSON or debug or log_format == "debug":
            self._threshold = LEVELS[DEBUG]
        else:
            self._threshold = LEVELS[INFO]
        json_mode = self.mode == OutputMode.JSON
        self._json = JsonLines(self.console.file, self.invocation_id) if json_mode else None
        self._text = TextLines(self.console.file) if self.mode == OutputMode.TEXT else None
        self._bars: Progress | None = None
        self._model: _Model | None = None
        self._results: SyncResults | None = None
        self._done: list[ModelResult] = []  # models finished or skipped, for a run that stops
        self._said: set[str] = set()  # models whose message a printed line already carried
        self._dry_run = False
        self._started = time.monotonic()

    # -- the run ---------------------------------------------------------------------------

    @contextmanager
    def running(self, dry_run: bool = False) -> Iterator[ConsoleReport]:
        """Around the whole run: `run_started` first, `run_finished` last, also when the run
        stops on an error (then an `error` event first, in JSON; the CLI prints the error on
        stderr in every format)."""
        self._dry_run = dry_run
        self._started = time.monotonic()
        self._emit(
            "run_started",
            DEBUG,
            f"dbt-pendo-sync {__version__}, invocation {self.invocation_id}"
            + (" (dry run)" if dry_run else ""),
            dbt_pendo_sync_version=__version__,
            dry_run=dry_run,
        )
        try:
            yield self
        except BaseException as exc:
            self._stop_bars()
            code = exit_code_for(exc)
            message = str(exc) or type(exc).__name__
            if isinstance(exc, KeyboardInterrupt):
                message = "interrupted"
            if self.mode == OutputMode.JSON:
                self._emit("error", ERROR, message, error_type=type(exc).__name__, exit_code=code)
            self._finished(code, message)
            raise
        self._stop_bars()
        results = self._results
        self._finished(EXIT_OK if results is None or results.ok else EXIT_FAILED, None)

    def _finished(self, code: int, error: str | None) -> None:
        results = self._results or SyncResults(models=self._done, dry_run=self._dry_run)
        seconds = round(time.monotonic() - self._started, 3)
        totals = results.totals()
        statuses = results.statuses()
        if error is not None:
            msg = f"stopped after {_duration(seconds)}: {error}"
        else:
            models = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "none"
            msg = f"finished in {_duration(seconds)}: {len(results.models)} models ({models}); "
            if self._dry_run:
                msg += f"{totals.sent:,} would send, {totals.invalid:,} invalid"
            else:
                msg += (
                    f"{totals.sent:,} sent, {totals.updated:,} updated, {totals.missing:,} "
                    f"missing, {totals.invalid:,} invalid, {totals.rejected:,} rejected, "
                    f"{totals.failed:,} failed"
                )
        if error is not None and self.mode != OutputMode.JSON:
            return  # the CLI prints the error; a person needs it once
        self._emit(
            "run_finished",
            INFO if code == EXIT_OK else ERROR,
            msg,
            always=True,
            status="success" if code == EXIT_OK else "error",
            exit_code=code,
            ok=error is None and results.ok,
            dry_run=self._dry_run,
            seconds=seconds,
            models=len(results.models),
            statuses=statuses,
            totals=asdict(totals),
        )

    # -- notes -----------------------------------------------------------------------------

    def note(self, message: str, **fields: Any) -> None:
        """A line for the user (skipped models, what the run does)."""
        self._emit("note", INFO, message, **fields)

    def warn(self, message: str, **fields: Any) -> None:
        """Something the user should look at; the run goes on."""
        self._emit("warning", WARN, message, **fields)

    def files(self, *paths: Path) -> None:
        """Say where the run's files are."""
        written = [str(p) for p in paths if p.exists()]
        self.note("wrote " + ", ".join(written), paths=written)

    # -- models (the EventSink) ------------------------------------------------------------

    def model_skipped(self, result: ModelResult) -> None:
        self._done.append(result)
        if self._emit(
            "model_skipped",
            INFO,
            f"skipping {result.model}: {result.message}",
            model=result.model,
            unique_id=result.unique_id,
            object=result.object,
            status=result.status,
            message=result.message,
        ):
            self._said.add(result.model)

    def model_started(self, spec: SyncSpec, relation: str) -> None:
        self._model = _Model(spec, started=time.monotonic())
        msg = f"syncing {spec.model} -> Pendo {spec.object}s (from {relation})"
        if self.mode == OutputMode.RICH and not self.quiet:
            bars = self._start_bars()
            self._model.task = bars.add_task(
                f"{spec.model} → {spec.object}s",
                total=None,
                done=0,
                to_send=None,
                sent=0,
                verb="would send" if self._dry_run else "sent",
            )
        # with a progress bar on screen, the line is only for --debug
        bar = self._model.task is not None
        self._emit(
            "model_started",
            DEBUG if bar else INFO,
            msg,
            model=spec.model,
            unique_id=spec.unique_id,
            object=spec.object,
            relation=relation,
        )

    def progress(self, spec: SyncSpec, result: ModelResult) -> None:
        """Counts moved (a chunk read, a batch answered): the bar, or a line now and then."""
        m = self._model
        if m is None or self.quiet:
            return
        now = time.monotonic()
        if m.sending_since is None:
            m.sending_since = m.line_at = now
        total = result.to_send
        done = result.counts.sent + result.counts.invalid
        if self._bars is not None and m.task is not None:
            self._bars.update(
                m.task,
                total=max(total, 1),
                completed=done if total else 1,
                done=done,
                to_send=total,
                sent=result.counts.sent,
            )
            return
        if self.mode != OutputMode.TEXT or done <= m.line_done:
            return
        if done - m.line_done < max(1, total // 10) and now - m.line_at < PROGRESS_EVERY:
            return
        m.line_at, m.line_done = now, done
        elapsed = now - m.sending_since
        pace = ""
        if elapsed >= 0.5:
            rate = done / elapsed
            pace = f"; {rate:,.0f} rows/s"
            if done < total and rate > 0:
                pace += f", ETA {_duration((total - done) / rate)}"
        verb = "would send" if self._dry_run else "sent"
        self._emit(
            "progress",
            INFO,
            f"{spec.model}: {done:,}/{total:,} rows done ({result.counts.sent:,} {verb}{pace})",
            model=spec.model,
        )

    def batch_sent(self, spec: SyncSpec, rows: int, outcome: BatchOutcome, result: ModelResult) -> None:
        """Pendo answered one batch."""
        counts = result.counts
        self._emit(
            "batch_sent",
            DEBUG,
            f"{spec.model}: batch of {rows:,} rows: {len(outcome.confirmed):,} updated, "
            f"{len(outcome.missing):,} missing, {len(outcome.rejected):,} rejected, "
            f"{len(outcome.failed):,} failed ({counts.sent:,}/{result.to_send:,} sent)",
            model=spec.model,
            rows=rows,
            updated=len(outcome.confirmed),
            missing=len(outcome.missing),
            rejected=len(outcome.rejected),
            failed=len(outcome.failed),
            sent=counts.sent,
            to_send=result.to_send,
        )

    def retry(self, notice: RetryNotice) -> None:
        """A call to Pendo failed and is tried again (from the client's send threads)."""
        m = self._model
        if m is not None:
            m.retries += 1
        model = m.spec.model if m is not None else None
        cause = f"answered {notice.status}" if notice.status else f"failed ({notice.error})"
        self._emit(
            "retry",
            DEBUG,
            f"{model or 'Pendo'}: {notice.method} {notice.path} {cause}; "
            f"attempt {notice.attempt} failed, next in {notice.wait:.1f}s",
            model=model,
            **_renamed(asdict(notice), wait="wait_seconds"),
        )

    def undelivered(
        self, spec: SyncSpec, category: Undelivered, record_id: str | None, reason: str, payload: Any
    ) -> None:
        if self.rejected is not None:
            self.rejected.write(spec.model, record_id, category, reason, payload)

    def model_finished(self, result: ModelResult) -> None:
        """The model is done (its state merged), in any status."""
        m = self._model if self._model is not None and self._model.spec.model == result.model else None
        self._model = None
        self._done.append(result)
        retries = m.retries if m is not None else 0
        c = result.counts
        level = (
            ERROR
            if result.status == ModelStatus.ERROR
            else WARN
            if result.status == ModelStatus.PARTIAL
            else INFO
        )
        msg = (
            f"{result.model}: {result.status} in {result.seconds:.1f}s: {c.rows:,} rows, "
            f"{result.to_send:,} to send; "
        )
        if self._dry_run:
            msg += f"{c.sent:,} would send, {c.invalid:,} invalid"
        else:
            msg += (
                f"{c.sent:,} sent, {c.updated:,} updated, {c.missing:,} missing, {c.invalid:,} "
                f"invalid, {c.rejected:,} rejected, {c.failed:,} failed"
            )
        if retries:
            msg += f"; {retries} retr{'y' if retries == 1 else 'ies'}"
        if result.status == ModelStatus.ERROR and result.message:
            msg += f": {result.message}"
        if self._bars is not None and m is not None and m.task is not None:
            mark = "[red]✗" if level == ERROR else "[yellow]!" if level == WARN else "[green]✓"
            task = self._bars.tasks[m.task]
            self._bars.update(
                m.task,
                description=f"{result.model} {mark} {result.status}[/]",
                total=task.total or 1,
                completed=task.total or 1,
            )
            self._bars.stop_task(m.task)
            level = DEBUG  # the bar says it, the table too
        if (
            self._emit(
                "model_finished",
                level,
                msg,
                model=result.model,
                unique_id=result.unique_id,
                object=result.object,
                status=result.status,
                message=result.message,
                started_at=result.started_at,
                seconds=result.seconds,
                to_send=result.to_send,
                retries=retries,
                counts=asdict(c),
            )
            and result.status == ModelStatus.ERROR
        ):
            self._said.add(result.model)

    # -- the summary -----------------------------------------------------------------------

    def summary(self, results: SyncResults) -> None:
        """The per-model table, then dry-run payload samples and undelivered-row samples
        (the JSON log has them in the results file instead)."""
        self._results = results
        self._stop_bars()
        if self.mode == OutputMode.JSON:
            return
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
            by_name = asdict(m.counts)
            counts = [str(by_name[n]) for n in _COUNT_COLUMNS]
            table.add_row(m.model, m.object, m.status, *counts, f"{m.seconds:.1f}")
        self.console.print(table)
        for m in results.models:
            self._details(m)

    def _details(self, m: ModelResult) -> None:
        if m.message and m.model not in self._said:
            self.console.print(f"{m.model}: {m.message}", markup=False)
        for payload in m.payload_sample:
            self.console.print(f"{m.model} would send: {json.dumps(payload, default=str)}", markup=False)
        for category, items in m.samples.items():
            by_reason: dict[str, list[str]] = {}
            for item in items:
                by_reason.setdefault(str(item["reason"]), []).append(
                    "(no id)" if item["id"] is None else str(item["id"])
                )
            total = m.counts.of(Undelivered(category))
            self.console.print(f"{m.model}: {total} {category}", markup=False)
            for reason, ids in list(by_reason.items())[:5]:
                shown = ", ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
                self.console.print(f"  {shown}: {reason}", markup=False)

    # -- output ----------------------------------------------------------------------------

    def _emit(self, event: str, level: str, msg: str, *, always: bool = False, **fields: Any) -> bool:
        """Write an event at `level`; whether it was written (not below the threshold)."""
        if not always and LEVELS[level] < self._threshold:
            return False
        if self._json is not None:
            self._json.write(event, level, msg, fields)
        elif self._text is not None:
            self._text.write(level, msg)
        else:
            style = {WARN: "yellow", ERROR: "red"}.get(level)
            prefix = {WARN: "Warning: ", ERROR: "Error: "}.get(level, "")
            self.console.print(Text(prefix + msg, style=style or ""), highlight=False)
        return True

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

    def _stop_bars(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
