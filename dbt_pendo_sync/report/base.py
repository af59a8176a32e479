"""What every renderer reports, and when: the run's report events (report_events.py) with
their levels, messages and fields. A renderer (one per output mode) says how a line is written
and adds what only it shows (progress lines, progress bars); undelivered rows are not a
report's business (the rejected file handles them)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.progress import TaskID

from .. import __version__
from ..errors import EXIT_FAILED, EXIT_OK, exit_code_for
from ..logs import DEBUG, ERROR, INFO, LEVELS, WARN, new_invocation_id
from ..report_events import (
    BatchSent,
    Debug,
    FilesWritten,
    Message,
    ModelFinished,
    ModelSkipped,
    ModelStarted,
    Note,
    ReportBus,
    Retry,
    RunWarning,
    Summary,
)
from ..results import ModelResult, SyncResults
from ..targets.base import TargetSpec
from ..vocab import ModelStatus, OutputMode
from ..wording import sent_words
from .retries import RetryWave, RetryWaves
from .summary import count_words, print_summary, target_notes


def duration(seconds: float) -> str:
    """`12.3s`, `4m05s`, `2h03m`."""
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class ModelInFlight:
    """What the report tracks of the model being synced."""

    spec: TargetSpec
    started: float
    task: TaskID | None = None
    sending_since: float | None = None
    line_at: float = 0.0
    line_done: int = 0
    retries: int = 0


# The JSON event and the level of each kind of message.
MESSAGES: dict[type[Message], tuple[str, str]] = {
    Note: ("note", INFO),
    RunWarning: ("warning", WARN),
    Debug: ("debug", DEBUG),
}


class Report(ABC):
    """The run's reporter, a listener of its report events: progress is shown only by
    renderers that handle it; undelivered rows are not shown (the rejected file and the
    summary's samples have them). Report events come from the main thread; Retry also from
    send threads."""

    mode: OutputMode
    # Whether a run that stops on an error ends with report events of its own; otherwise the CLI's
    # error line on stderr is all a person needs.
    reports_stops = False

    def __init__(
        self, console: Console, threshold: int, quiet: bool = False, invocation_id: str | None = None
    ) -> None:
        self.console = console
        self.quiet = quiet
        self.invocation_id = invocation_id or new_invocation_id()
        self._threshold = threshold
        self._model: ModelInFlight | None = None
        self._results: SyncResults | None = None
        self._done: list[ModelResult] = []  # models finished or skipped, for a run that stops
        self._said: set[str] = set()  # models whose message a printed line already carried
        self._labels: dict[str, str] = {}  # {model: what its target's words name (a segment)}
        self._waves = RetryWaves(self._retrying)
        self._dry_run = False
        self._started = time.monotonic()

    def listen(self, bus: ReportBus) -> None:
        """The report events every renderer shows (one that shows progress adds ModelProgress)."""
        for kind in MESSAGES:
            bus.on(kind, self._message)
        bus.on(ModelSkipped, self._model_skipped)
        bus.on(ModelStarted, self._model_started)
        bus.on(BatchSent, self._batch_sent)
        bus.on(Retry, self._retry)
        bus.on(ModelFinished, self._model_finished)
        bus.on(Summary, self._summary)
        bus.on(FilesWritten, self._files_written)

    # -- what renderers provide ------------------------------------------------------------

    @abstractmethod
    def _write(self, name: str, level: str, msg: str, fields: dict[str, Any]) -> None:
        """Write one line that passed the threshold: the report event `name` (JSON's `event`)."""

    def _stop_showing(self) -> None:
        """Take down whatever is live on screen (before the summary, or on an error); by
        default nothing is."""
        return None

    def _show_summary(self, results: SyncResults) -> None:
        print_summary(self.console, results, self._said, self._labels)

    # -- the run ---------------------------------------------------------------------------

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    @contextmanager
    def running(self, dry_run: bool = False) -> Iterator[Report]:
        """Around the whole run: `run_started` first, `run_finished` last, also when the run
        stops on an error (then an `error` event first, where the renderer reports stops; the
        CLI prints the error on stderr in every format)."""
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
            self._waves.drop()
            self._stop_showing()
            code = exit_code_for(exc)
            message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
            if self.reports_stops:
                self._emit("error", ERROR, message, error_type=type(exc).__name__, exit_code=code)
                self._finished(code, message)
            raise
        self._waves.drop()
        self._stop_showing()
        results = self._results
        self._finished(EXIT_OK if results is None or results.ok else EXIT_FAILED, None)

    def _finished(self, code: int, error: str | None) -> None:
        results = self._results or SyncResults(models=self._done, dry_run=self._dry_run)
        seconds = round(time.monotonic() - self._started, 3)
        totals = results.totals()
        statuses = results.statuses()
        if error is not None:
            msg = f"stopped after {duration(seconds)}: {error}"
        else:
            models = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "none"
            msg = f"finished in {duration(seconds)}: {len(results.models)} models ({models}); "
            msg += sent_words(totals, self._dry_run)
            if totals.removed:
                msg += f"; {totals.removed:,} removals among them (records cleared, segment members removed)"
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

    def _message(self, event: Message) -> None:
        name, level = MESSAGES[type(event)]
        self._emit(name, level, event.message, **event.fields)

    def _files_written(self, event: FilesWritten) -> None:
        """Say where the run's files are."""
        written = [str(p) for p in event.paths if p.exists()]
        self._message(Note("wrote " + ", ".join(written), {"paths": written}))

    # -- models ----------------------------------------------------------------------------

    def _model_skipped(self, event: ModelSkipped) -> None:
        result = event.result
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

    def _model_started(self, event: ModelStarted) -> None:
        spec, relation = event.spec, event.relation
        self._model = ModelInFlight(spec, started=time.monotonic())
        if spec.label is not None:
            self._labels[spec.model] = spec.label
        self._emit(
            "model_started",
            self._started_level(self._model),
            f"syncing {spec.model} -> Pendo {spec.object}s (from {relation})",
            model=spec.model,
            unique_id=spec.unique_id,
            object=spec.object,
            relation=relation,
        )

    def _started_level(self, model: ModelInFlight) -> str:
        """The level of `model_started` (a renderer that shows the model otherwise lowers it)."""
        return INFO

    def _batch_sent(self, event: BatchSent) -> None:
        spec, rows, outcome, result = event.spec, event.rows, event.outcome, event.result
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

    def _retry(self, event: Retry) -> None:
        """A debug line per retry (from the client's send threads), and a line per wave of
        retries (retries.py)."""
        notice = event.notice
        self._waves.add(notice)
        m = self._model
        if m is not None:
            m.retries += 1
        model = m.spec.model if m is not None else None
        cause = f"answered {notice.status}" if notice.status else f"failed ({notice.cause or notice.error})"
        fields = asdict(notice)
        fields["wait_seconds"] = fields.pop("wait")
        self._emit(
            "retry",
            DEBUG,
            f"{model or 'Pendo'}: {notice.method} {notice.path} {cause}; "
            f"attempt {notice.attempt} failed, next in {notice.wait:.1f}s",
            model=model,
            **fields,
        )

    def _retrying(self, wave: RetryWave) -> None:
        """Calls wait to be tried again (from the timer thread of RetryWaves)."""
        m = self._model
        self._emit(
            "retrying",
            INFO,
            wave.message(),
            model=m.spec.model if m is not None else None,
            why=wave.why,
            status=wave.status,
            calls=wave.calls,
            next_attempt_seconds=None if wave.next_in is None else round(wave.next_in, 1),
        )

    def _model_finished(self, event: ModelFinished) -> None:
        result = event.result
        self._waves.drop()  # its calls have ended
        m = self._model if self._model is not None and self._model.spec.model == result.model else None
        self._model = None
        self._done.append(result)
        retries = m.retries if m is not None else 0
        level = (
            ERROR
            if result.status == ModelStatus.ERROR
            else WARN
            if result.status == ModelStatus.PARTIAL
            else INFO
        )
        words = count_words(result, self._dry_run, self._labels.get(result.model))
        msg = f"{result.model}: {result.status} in {result.seconds:.1f}s: {words}"
        msg += "".join(f"; {note}" for note in target_notes(result))
        if retries:
            msg += f"; {retries} retr{'y' if retries == 1 else 'ies'}"
        if result.status == ModelStatus.ERROR and result.message:
            msg += f": {result.message}"
        if m is not None:
            level = self._finished_level(m, result, level)
        said = self._emit(
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
            counts=asdict(result.counts),
        )
        if said and result.status == ModelStatus.ERROR:
            self._said.add(result.model)

    def _finished_level(self, model: ModelInFlight, result: ModelResult, level: str) -> str:
        """The level of `model_finished` (a renderer that shows the model otherwise lowers it)."""
        return level

    # -- the summary -----------------------------------------------------------------------

    def _summary(self, event: Summary) -> None:
        """The run's results, shown the renderer's way (a table, or nothing but the final event)."""
        self._results = event.results
        self._waves.drop()
        self._stop_showing()
        self._show_summary(event.results)

    def _emit(self, name: str, level: str, msg: str, /, *, always: bool = False, **fields: Any) -> bool:
        """Write the line of report event `name` at `level`; whether it was written (not below
        the threshold). Its own parameters are positional, so any field name is a field."""
        if not always and LEVELS[level] < self._threshold:
            return False
        self._write(name, level, msg, fields)
        return True
