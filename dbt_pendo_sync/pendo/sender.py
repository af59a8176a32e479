"""Where one model's batches of records go: Pendo, or a dry run's preview.

The engine hands every batch to a Sender and accounts for the BatchOutcome it gets back; it
does not know which kind it talks to. A new Pendo target (events, segments) brings its own
sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..records import Record, payload_of
from .answers import BatchOutcome
from .client import PendoClient


class Sender(Protocol):
    """Sends batches of records and says what became of each."""

    concurrent: bool  # batches may go out from several threads at once
    delivers: bool  # outcomes are Pendo's answers (a preview confirms nothing)
    write_ahead: bool  # a send must not repeat: it is journaled before it goes out

    def send(self, records: Sequence[Any], ids: Sequence[str]) -> BatchOutcome:
        """Send one batch (`ids`: each record's id); the fate of every record in it. Records
        are what the model's builder makes: dicts, or metadata's records.Record."""
        ...


@dataclass
class MetadataSender:
    """Visitor or account metadata through Pendo's bulk endpoint (update-only unless `create`)."""

    client: PendoClient
    kind: str
    id_key: str
    create: bool = False
    group: str = "custom"  # the metadata group written: custom, or agent
    concurrent: bool = True
    delivers: bool = True
    write_ahead: bool = False  # setting values twice is harmless

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        return self.client.write_values(self.kind, records, ids, self.create, self.group)


@dataclass
class EventSender:
    """Track Events, one per call (Pendo has no batch endpoint for them): `client` talks to
    the track endpoint with the shared secret."""

    client: PendoClient
    concurrent: bool = True
    delivers: bool = True
    write_ahead: bool = True  # an event sent twice counts twice in Pendo

    def send(self, records: Sequence[dict], ids: Sequence[str]) -> BatchOutcome:
        return BatchOutcome.combine(*(self.client.track(r, i) for r, i in zip(records, ids, strict=True)))


@dataclass
class PreviewSender:
    """A dry run: keeps the first `show` records (exactly the payloads a sync would send) in
    `sample`, confirms none. Called from one thread, in order, so the sample is the first rows."""

    show: int
    sample: list[dict] = field(default_factory=list)
    concurrent: bool = False
    delivers: bool = False
    write_ahead: bool = False

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        room = self.show - len(self.sample)
        self.sample.extend(payload_of(r) for r in records[: max(0, room)])
        return BatchOutcome()
