"""What a run reports, as a protocol: the engine's per-model events plus the run's notes,
warnings and model ends. The pipeline and deliveries depend on this, not on who listens: the
report (one renderer per --log-format) and the rejected-rows file, joined by `Broadcast`."""

from __future__ import annotations

from typing import Any, Protocol

from .engine import EventSink
from .pendo.answers import BatchOutcome
from .results import ModelResult
from .targets.base import TargetSpec
from .vocab import Undelivered


class RunEvents(EventSink, Protocol):
    """The events of a whole run."""

    def note(self, message: str, **fields: Any) -> None:
        """A line for the user."""
        ...

    def warn(self, message: str, **fields: Any) -> None:
        """Something the user should look at; the run goes on."""
        ...

    def debug(self, message: str, **fields: Any) -> None:
        """A line for --debug and JSON logs (how the run set something up)."""
        ...

    def model_finished(self, result: ModelResult) -> None:
        """A model is done, in any status."""
        ...


class IgnoredEvents:
    """A RunEvents that takes no notice of anything: sinks interested in a few events
    subclass it and override those."""

    def note(self, message: str, **fields: Any) -> None:
        """Ignored."""

    def warn(self, message: str, **fields: Any) -> None:
        """Ignored."""

    def debug(self, message: str, **fields: Any) -> None:
        """Ignored."""

    def model_started(self, spec: TargetSpec, relation: str) -> None:
        """Ignored."""

    def progress(self, spec: TargetSpec, result: ModelResult) -> None:
        """Ignored."""

    def batch_sent(self, spec: TargetSpec, rows: int, outcome: BatchOutcome, result: ModelResult) -> None:
        """Ignored."""

    def undelivered(
        self, spec: TargetSpec, category: Undelivered, record_id: str | None, reason: str, payload: Any
    ) -> None:
        """Ignored."""

    def model_finished(self, result: ModelResult) -> None:
        """Ignored."""


class Broadcast:
    """Every event to each of several sinks, in order."""

    def __init__(self, *sinks: RunEvents) -> None:
        self.sinks = sinks

    def note(self, message: str, **fields: Any) -> None:
        for sink in self.sinks:
            sink.note(message, **fields)

    def warn(self, message: str, **fields: Any) -> None:
        for sink in self.sinks:
            sink.warn(message, **fields)

    def debug(self, message: str, **fields: Any) -> None:
        for sink in self.sinks:
            sink.debug(message, **fields)

    def model_started(self, spec: TargetSpec, relation: str) -> None:
        for sink in self.sinks:
            sink.model_started(spec, relation)

    def progress(self, spec: TargetSpec, result: ModelResult) -> None:
        for sink in self.sinks:
            sink.progress(spec, result)

    def batch_sent(self, spec: TargetSpec, rows: int, outcome: BatchOutcome, result: ModelResult) -> None:
        for sink in self.sinks:
            sink.batch_sent(spec, rows, outcome, result)

    def undelivered(
        self, spec: TargetSpec, category: Undelivered, record_id: str | None, reason: str, payload: Any
    ) -> None:
        for sink in self.sinks:
            sink.undelivered(spec, category, record_id, reason, payload)

    def model_finished(self, result: ModelResult) -> None:
        for sink in self.sinks:
            sink.model_finished(result)
