"""What a run reports, as a protocol: the engine's per-model events plus the run's notes,
warnings and model ends. The pipeline and deliveries depend on this, not on how it is shown
(report.ConsoleReport renders it for each --log-format)."""

from __future__ import annotations

from typing import Any, Protocol

from .engine import EventSink
from .results import ModelResult


class RunEvents(EventSink, Protocol):
    """The events of a whole run."""

    def note(self, message: str, **fields: Any) -> None:
        """A line for the user."""
        ...

    def warn(self, message: str, **fields: Any) -> None:
        """Something the user should look at; the run goes on."""
        ...

    def model_finished(self, result: ModelResult) -> None:
        """A model is done, in any status."""
        ...
