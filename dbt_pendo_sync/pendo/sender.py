"""Where one model's batches of records go: Pendo, or a dry run's preview.

The engine hands every batch to a Sender and accounts for the BatchOutcome it gets back; it
does not know which kind it talks to. Each target brings its own sender (targets/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..records import Record, payload_of
from .answers import BatchOutcome


class Sender(Protocol):
    """Sends batches of records and says what became of each (whether calls may go out at
    once, or must be journaled first, is the target's capabilities)."""

    delivers: bool  # outcomes are Pendo's answers (a preview confirms nothing)

    def send(self, records: Sequence[Any], ids: Sequence[str]) -> BatchOutcome:
        """Send one batch (`ids`: each record's id); the fate of every record in it. Records
        are what the model's builder makes: dicts, or metadata's records.Record."""
        ...


@dataclass
class PreviewSender:
    """A dry run: keeps the first `show` records (exactly the payloads a sync would send) in
    `sample`, confirms none. Called from one thread, in order, so the sample is the first rows."""

    show: int
    sample: list[dict] = field(default_factory=list)
    delivers: bool = False

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        room = self.show - len(self.sample)
        self.sample.extend(payload_of(r) for r in records[: max(0, room)])
        return BatchOutcome()
