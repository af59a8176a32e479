"""What a sync did, per model: counts, samples of undelivered rows, timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import EXIT_FAILED, EXIT_OK, exit_code_for
from .vocab import ModelStatus, RunStatus, Undelivered

SAMPLE_LIMIT = 100
ALL_MISSING = (
    "every row sent is missing in Pendo: a wrong id_column, or {object} ids this Pendo does not "
    "know (another subscription, region or environment?)"
)


@dataclass
class Counts:
    """Row counts of one model's sync."""

    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    sent: int = 0
    updated: int = 0
    missing: int = 0
    invalid: int = 0
    rejected: int = 0
    failed: int = 0
    removed: int = 0  # records that left the model and are cleared (on_remove: clear)
    too_old: int = 0  # events before the window (not sent)
    too_new: int = 0  # events more than a day ahead (not sent)
    frozen: int = 0  # rows written to the snapshot table: those that differ from the state
    adopted: int = 0  # new rows Pendo held equal already (--adopt): recorded, not sent

    def add(self, category: Undelivered, rows: int = 1) -> None:
        """Count rows that were not delivered, by why."""
        if category is Undelivered.MISSING:
            self.missing += rows
        elif category is Undelivered.INVALID:
            self.invalid += rows
        elif category is Undelivered.REJECTED:
            self.rejected += rows
        else:
            self.failed += rows

    def of(self, category: Undelivered) -> int:
        """The rows not delivered for this reason."""
        return int(asdict(self)[category.value])

    def __add__(self, other: Counts) -> Counts:
        mine, theirs = asdict(self), asdict(other)
        return Counts(**{name: mine[name] + theirs[name] for name in mine})


@dataclass
class ModelResult:
    """The outcome of one model: status, counts, samples of rows not delivered, timings."""

    model: str
    unique_id: str
    object: str
    relation: str | None = None
    state_table: str | None = None
    full_resync: bool = False
    status: ModelStatus = ModelStatus.SUCCESS
    message: str | None = None
    counts: Counts = field(default_factory=Counts)
    samples: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    payload_sample: list[dict[str, Any]] = field(default_factory=list)
    records_built_by: str | None = None  # metadata: "warehouse" (macros/payload.sql) or "python"
    adopted_segment_id: str | None = None  # segments: an API-made segment the state did not know
    started_at: str | None = None
    seconds: float = 0.0
    # Rows are sent once (events: a changed row is counted, never resent). Not in the file.
    sends_once: bool = field(default=False, repr=False)

    def add_sample(self, category: Undelivered, record_id: str | None, reason: str) -> None:
        """Keep up to SAMPLE_LIMIT ids per category (the rejected file has them all)."""
        bucket = self.samples.setdefault(category, [])
        if len(bucket) < SAMPLE_LIMIT:
            bucket.append({"id": record_id, "reason": reason})

    def settle(self) -> None:
        """Set the status from the counts (missing rows alone are not a failure), and the
        message of a metadata model whose every sent row was missing in Pendo."""
        if self.status in (ModelStatus.SUCCESS, ModelStatus.PARTIAL):
            bad = self.counts.invalid + self.counts.rejected + self.counts.failed
            self.status = ModelStatus.PARTIAL if bad else ModelStatus.SUCCESS
        if not self.message and 0 < self.counts.sent == self.counts.missing:
            self.message = ALL_MISSING.format(object=self.object)

    @property
    def undelivered_pct(self) -> float:
        """Percent of the rows this run tried that were not delivered (missing excluded)."""
        tried = self.to_send
        bad = self.counts.invalid + self.counts.rejected + self.counts.failed
        return 100.0 * bad / tried if tried else 0.0

    def ok(self, fail_pct: float | None = None) -> bool:
        """Whether this model counts as synced for the exit code.

        By default any invalid, rejected or failed row fails it; with `fail_pct`, only more
        than that percent of the rows it tried to send.
        """
        if self.status == ModelStatus.PARTIAL and fail_pct is not None:
            return self.undelivered_pct <= fail_pct
        return self.status in (ModelStatus.SUCCESS, ModelStatus.SKIPPED, ModelStatus.PLANNED)

    def to_json(self) -> dict[str, Any]:
        """The model's entry in pendo_sync_results.json."""
        entry = asdict(self)
        del entry["sends_once"]
        return entry

    @property
    def to_send(self) -> int:
        """Rows this run reads to send (every row on a full resync), known once the snapshot
        is counted; invalid rows among them are never sent. Events are sent once: only the
        new ones, never the changed (an event's row that changed under the same id)."""
        if self.sends_once:
            return self.counts.new
        if self.full_resync:
            return self.counts.rows
        return self.counts.new + self.counts.changed + self.counts.removed


@dataclass
class SyncResults:
    """All models of one run, and the run's id (the `invocation_id` of its log and results)."""

    models: list[ModelResult] = field(default_factory=list)
    dry_run: bool = False
    fail_pct: float | None = None
    invocation_id: str | None = None
    error: str | None = None  # what stopped the run before its end
    stopped_exit_code: int | None = None
    interrupted: bool = False

    def stop(self, error: BaseException) -> None:
        """Record that the run stopped early: by Ctrl-C or SIGTERM, or by an error."""
        self.interrupted = isinstance(error, KeyboardInterrupt)
        self.stopped_exit_code = exit_code_for(error)
        self.error = "interrupted" if self.interrupted else (str(error) or type(error).__name__)

    @property
    def ok(self) -> bool:
        """Whether the run ended and every selected model synced (within --fail-on-rejected)."""
        return self.error is None and all(m.ok(self.fail_pct) for m in self.models)

    @property
    def exit_code(self) -> int:
        """The process exit code this run ends with."""
        if self.stopped_exit_code is not None:
            return self.stopped_exit_code
        return EXIT_OK if self.ok else EXIT_FAILED

    @property
    def status(self) -> RunStatus:
        """How the run ended."""
        if self.interrupted:
            return RunStatus.INTERRUPTED
        if self.error is not None:
            return RunStatus.ERROR
        return RunStatus.SUCCESS if self.ok else RunStatus.FAILED

    def totals(self) -> Counts:
        """The counts of every model added up."""
        return sum((m.counts for m in self.models), Counts())

    def statuses(self) -> dict[str, int]:
        """How many models ended in each status."""
        found: dict[str, int] = {}
        for m in self.models:
            found[m.status] = found.get(m.status, 0) + 1
        return found
