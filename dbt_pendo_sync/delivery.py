"""What a run does with each model's records: send them to Pendo and keep the ledger
(`Sending`), or show what would be sent (`Previewing`, a dry run). The pipeline asks its
delivery and never checks which one it has."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager
from functools import partial

from .background import in_background
from .dbt.artifacts import ModelNode
from .engine import Channel, ProgressJournal
from .errors import ConfigError, PendoError
from .ledger.lock import LedgerLock
from .ledger.session import previewing, recording
from .ledger.snapshot import ModelSnapshot
from .ledger.store import Ledger
from .pendo.client import PendoClient
from .pendo.sender import PreviewSender, Sender
from .report_events import Debug, Fire, Note, RunWarning
from .results import ModelResult
from .settings import SyncOptions
from .targets import registry
from .targets.base import Capabilities, TargetSpec
from .vocab import ModelStatus

# A target's sender, made for the client its calls go through.
MakeSender = Callable[[PendoClient], Sender]

# What a preview that cannot read Pendo's fields shows instead.
UNKNOWN_TYPES = (
    "Pendo's field types are unknown, so the preview shows values with their warehouse JSON "
    "types (120, true, text), while a sync converts each to its Pendo field's type (120 into a "
    'text field is sent as "120")'
)


class Delivery(ABC):
    """Pendo's field types, read once per object and run, and the parts a model's sync uses."""

    settled: ModelStatus | None = None  # the status of a model that ended well, if not its own
    sends: bool = True  # records go to Pendo and the ledger records them (not a preview)

    def __init__(self, client: PendoClient | None, options: SyncOptions, fire: Fire) -> None:
        self._client = client
        self.options = options
        self.fire = fire
        self._fields: dict[tuple[str, str], dict[str, str]] = {}
        self._ahead: dict[tuple[str, str], Future[dict[str, str]]] = {}

    def read_ahead(self, specs: Iterable[TargetSpec]) -> None:
        """Start reading the field schemas these models need, in turn, in a thread of their
        own, so Pendo answers while the warehouse starts up (the first read is also the run's
        first check of the key: its error comes out where the fields are needed)."""
        client = self._client
        wanted = dict.fromkeys(w for s in specs for w in registry.for_spec(s).field_schemas(s))
        if client is None or not wanted:
            return
        for kind, _ in wanted:
            self.fire(Debug(f"reading Pendo's {kind} field schema ahead", {"object": kind}))
        reads = [partial(client.field_types, kind, group) for kind, group in wanted]
        self._ahead.update(zip(wanted, in_background(reads, name="dbt-pendo field schemas"), strict=True))

    @property
    def knows_field_types(self) -> bool:
        """Whether Pendo's field types are read (always for a sync; with a key for a preview)."""
        return self._client is not None

    def field_types(self, kind: str, group: str = "custom") -> dict[str, str] | None:
        """{field: Pendo type} of an object's fields in a metadata group; None when they
        cannot be known."""
        if self._client is None:
            return None
        if (kind, group) not in self._fields:
            ahead = self._ahead.pop((kind, group), None)
            types = ahead.result() if ahead is not None else self._client.field_types(kind, group)
            self.fire(
                Debug(f"read Pendo's {kind} field schema ({len(types)} {group} fields)", {"object": kind})
            )
            self._fields[(kind, group)] = types
        return self._fields[(kind, group)]

    def create_fields(self, kind: str, missing: Mapping[str, str]) -> None:
        """Make the missing fields {name: type} exist, for this run at least."""
        self._fields.setdefault((kind, "custom"), {}).update(
            {name: "float" if typ == "number" else typ for name, typ in missing.items()}
        )

    def _note_fields(self, verb: str, kind: str, fields: Mapping[str, str]) -> None:
        self.fire(Note(f"{verb} Pendo {kind} fields: " + ", ".join(f"{n} ({t})" for n, t in fields.items())))

    @abstractmethod
    def check(self, spec: TargetSpec, capabilities: Capabilities) -> None:
        """Stop a model that cannot be sent, before any warehouse work."""

    @property
    def reader(self) -> PendoClient | None:
        """The client that reads Pendo with the integration key (None when Pendo cannot be
        asked: a preview without a key)."""
        return self._client

    @abstractmethod
    def channel(self, capabilities: Capabilities, make: MakeSender, result: ModelResult) -> Channel:
        """Where this model's records go, and how (`make`: the target's sender for a client)."""

    @abstractmethod
    def ledger(
        self, store: Ledger, model: ModelNode, snapshot: ModelSnapshot
    ) -> AbstractContextManager[ProgressJournal]:
        """Around the model's send: the journal its progress goes to, and what happens after."""

    @abstractmethod
    def state_exists(self, store: Ledger) -> bool:
        """Whether the snapshot can diff against the state tables."""


class Sending(Delivery):
    """A sync: records go to Pendo; what it confirms goes into the ledger. `client` has the
    integration key (None when no model needs it), `track` the Track Event shared secret
    (None when it is not set)."""

    def __init__(
        self,
        client: PendoClient | None,
        options: SyncOptions,
        fire: Fire,
        track: PendoClient | None = None,
    ) -> None:
        super().__init__(client, options, fire)
        self.track = track

    def create_fields(self, kind: str, missing: Mapping[str, str]) -> None:
        assert self._client is not None  # see sender
        self._client.create_fields(kind, dict(missing))
        super().create_fields(kind, missing)
        self._note_fields("created", kind, missing)

    def check(self, spec: TargetSpec, capabilities: Capabilities) -> None:
        if capabilities.needs_track_secret and self.track is None:
            raise ConfigError(
                f"{spec.where()}: PENDO_TRACK_SECRET is not set. Track Events are sent with the "
                "app's Track Event shared secret (Settings > Subscription Settings > your app), "
                "not the integration key: export it, or leave this model out of the selection"
            )

    def channel(self, capabilities: Capabilities, make: MakeSender, result: ModelResult) -> Channel:
        client = self.track if capabilities.needs_track_secret else self._client
        assert client is not None  # the run requires the key, and check() the secret, where needed
        sender = make(client)
        threads = self.options.threads
        return Channel(sender, capabilities.concurrent, capabilities.write_ahead, threads)

    def ledger(
        self, store: Ledger, model: ModelNode, snapshot: ModelSnapshot
    ) -> AbstractContextManager[ProgressJournal]:
        lock = LedgerLock(
            store,
            model,
            wait=self.options.lock_wait,
            stale_after=self.options.lock_stale_after,
            say=lambda text: self.fire(Note(text)),
        )
        return recording(store, model, snapshot, lock=lock)

    def state_exists(self, store: Ledger) -> bool:
        return True  # the ledger creates the tables before the snapshot is taken


class Previewing(Delivery):
    """A dry run: records are shown, not sent; the ledger is read, never written. With a key,
    Pendo's field list is read, so the preview is exactly what a sync sends."""

    settled = ModelStatus.PLANNED
    sends = False

    def field_types(self, kind: str, group: str = "custom") -> dict[str, str] | None:
        try:
            return super().field_types(kind, group)
        except PendoError as exc:  # a preview goes on without Pendo: field types unknown
            self._client = None
            self.fire(RunWarning(f"{exc}; {UNKNOWN_TYPES}"))
            return None

    def create_fields(self, kind: str, missing: Mapping[str, str]) -> None:
        super().create_fields(kind, missing)
        self._note_fields("would create", kind, missing)

    def check(self, spec: TargetSpec, capabilities: Capabilities) -> None:
        """A preview sends nothing, so it needs no secret."""

    def channel(self, capabilities: Capabilities, make: MakeSender, result: ModelResult) -> Channel:
        """One thread, in order, so the sample is the model's first records."""
        sender = PreviewSender(self.options.show, result.payload_sample)
        return Channel(sender, concurrent=False, write_ahead=False, threads=self.options.threads)

    def ledger(
        self, store: Ledger, model: ModelNode, snapshot: ModelSnapshot
    ) -> AbstractContextManager[ProgressJournal]:
        return previewing(snapshot)

    def state_exists(self, store: Ledger) -> bool:
        return store.exists()
