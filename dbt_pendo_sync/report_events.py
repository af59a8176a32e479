"""The run's report events (not Pendo's Track Events, which are targets/events/): what a
run tells as it goes, each a type of its own with the data it carries, and `ReportBus`,
which takes each one fired to the listeners of its type. The engine, the pipeline, the
deliveries and the targets' sinks fire them and know nothing of who listens: the report (one
renderer per --log-format) and the rejected-rows file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .pendo.answers import BatchOutcome
from .pendo.client import RetryNotice
from .results import ModelResult, SyncResults
from .targets.base import TargetSpec
from .vocab import Undelivered


class ReportEvent:
    """What every report event is (the type `fire` takes)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Message(ReportEvent):
    """A line in words, with fields for the JSON log."""

    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Note(Message):
    """A line for the user: what the run does, a model skipped or emptied."""


@dataclass(frozen=True, slots=True)
class RunWarning(Message):
    """Something the user should look at; the run goes on."""


@dataclass(frozen=True, slots=True)
class Debug(Message):
    """A line for --debug and JSON logs: how the run set something up."""


@dataclass(frozen=True, slots=True)
class ModelSkipped(ReportEvent):
    """A selected model the run does not sync (its result says why)."""

    result: ModelResult


@dataclass(frozen=True, slots=True)
class ModelStarted(ReportEvent):
    """A model's sync begins, from its relation in the warehouse."""

    spec: TargetSpec
    relation: str


@dataclass(frozen=True, slots=True)
class ModelProgress(ReportEvent):
    """The model's counts so far (after every chunk read and every batch answered)."""

    spec: TargetSpec
    result: ModelResult


@dataclass(frozen=True, slots=True)
class BatchSent(ReportEvent):
    """Pendo answered one batch of `rows` records."""

    spec: TargetSpec
    rows: int
    outcome: BatchOutcome
    result: ModelResult


@dataclass(frozen=True, slots=True)
class RowUndelivered(ReportEvent):
    """A row that did not reach Pendo, with why and the payload it would have sent."""

    spec: TargetSpec
    category: Undelivered
    record_id: str | None
    reason: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Retry(ReportEvent):
    """A call to Pendo failed and is tried again (fired from the client's send threads)."""

    notice: RetryNotice


@dataclass(frozen=True, slots=True)
class ModelFinished(ReportEvent):
    """A model is done (its state merged), in any status."""

    result: ModelResult


@dataclass(frozen=True, slots=True)
class Summary(ReportEvent):
    """The run's results, once its models are done."""

    results: SyncResults


@dataclass(frozen=True, slots=True)
class FilesWritten(ReportEvent):
    """The run's files are in place (those of `paths` that exist are named)."""

    paths: tuple[Path, ...]


Fire = Callable[[ReportEvent], None]  # what fires a report event: ReportBus.fire
E = TypeVar("E", bound=ReportEvent)


class ReportListener(Protocol):
    """Something that handles some types of report events."""

    def listen(self, bus: ReportBus) -> None:
        """Add a handler to `bus` for each type of event it handles."""


class ReportBus:
    """Each event fired goes to the handlers of its type, in the order the listeners were
    given (the report before the rejected file), on the thread that fires it; a type no one
    handles goes nowhere. A handler's error reaches the one who fired, and the handlers
    after it do not get that event. Listeners are added when the bus is made, so the send
    threads only read it."""

    def __init__(self, *listeners: ReportListener) -> None:
        self._handlers: dict[type[ReportEvent], list[Callable[[Any], None]]] = {}
        for listener in listeners:
            listener.listen(self)

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler` with every event of type `kind` (exactly: not its subclasses)."""
        self._handlers.setdefault(kind, []).append(handler)

    def fire(self, event: ReportEvent) -> None:
        """Hand `event` to the handlers of its type, in turn."""
        for handler in self._handlers.get(type(event), ()):
            handler(event)
