"""A run's delivery with real parts: specs of a parsed project (the real metadata and events
targets), real PendoClients to the emulator, and a dry run's ledger on an in-memory DuckDB.
A sync (`Sending`) picks each target's client and refuses what cannot be sent; a preview
(`Previewing`) sends nothing, records nothing and goes on without Pendo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbt_pendo_sync.config import specs_for
from dbt_pendo_sync.dbt.warehouse import Warehouse
from dbt_pendo_sync.delivery import UNKNOWN_TYPES, Previewing, Sending
from dbt_pendo_sync.emulator import PendoEmulator
from dbt_pendo_sync.errors import ConfigError
from dbt_pendo_sync.ledger.snapshot import ModelSnapshot, SnapshotColumns
from dbt_pendo_sync.ledger.store import Ledger, LedgerLocation
from dbt_pendo_sync.pendo.client import PendoClient
from dbt_pendo_sync.pendo.policy import RetryPolicy
from dbt_pendo_sync.pendo.sender import PreviewSender
from dbt_pendo_sync.pendo.settings import PendoSettings, track_settings
from dbt_pendo_sync.report_events import Note, ReportEvent, RunWarning
from dbt_pendo_sync.results import ModelResult
from dbt_pendo_sync.settings import SyncOptions
from dbt_pendo_sync.targets.base import TargetSpec
from dbt_pendo_sync.targets.events import EVENTS
from dbt_pendo_sync.targets.events.body import EventSender
from dbt_pendo_sync.targets.metadata import METADATA
from dbt_pendo_sync.targets.metadata.records import MetadataSender
from dbt_pendo_sync.vocab import ChangeKind

from ..conftest import emulator_key, emulator_track_secret, make_emulator
from .tinyproject import TinyProject, fill, tiny_project

BLOCKS: dict[str, dict[str, Any]] = {
    "visitors": {"object": "visitor", "id_column": "id"},
    "more_visitors": {"object": "visitor", "id_column": "id"},
    "accounts": {"object": "account", "id_column": "id"},
    "signups": {"object": "event", "event": "signed_up", "visitor_id_column": "id", "timestamp_column": "at"},
}

# One worker runs the module, whose warehouse is made once (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("unit_delivery")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    return tiny_project(tmp_path_factory.mktemp("delivery") / "tiny", ":memory:", BLOCKS)


@pytest.fixture(scope="module")
def warehouse(tiny: TinyProject) -> Iterator[Warehouse]:
    """One connection to the in-memory database for the whole module (it ends with it)."""
    with tiny.connected() as w:
        yield w


@pytest.fixture(scope="module")
def specs(tiny: TinyProject) -> dict[str, TargetSpec]:
    return {spec.model: spec for spec in specs_for(tiny.manifest.pendo_models())}


class Heard:
    """Fires the run's report events into lists: its notes and warnings."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def __call__(self, event: ReportEvent) -> None:
        if isinstance(event, Note):
            self.notes.append(event.message)
        elif isinstance(event, RunWarning):
            self.warnings.append(event.message)


def key_client(em: PendoEmulator, retry: RetryPolicy | None = None) -> PendoClient:
    env = {"PENDO_BASE_URL": em.url, "PENDO_INTEGRATION_KEY": emulator_key(em)}
    return PendoClient(PendoSettings.from_env(env), retry)


def track_client(em: PendoEmulator) -> PendoClient:
    settings = track_settings({"PENDO_BASE_URL": em.url, "PENDO_TRACK_SECRET": emulator_track_secret(em)})
    assert settings is not None
    return PendoClient(settings)


@pytest.fixture
def clients(emulator: PendoEmulator) -> Iterator[tuple[PendoClient, PendoClient]]:
    """The integration key's client and the Track Event secret's."""
    key, track = key_client(emulator), track_client(emulator)
    yield key, track
    key.close()
    track.close()


def result_of(spec: TargetSpec) -> ModelResult:
    return ModelResult(model=spec.model, unique_id=spec.unique_id, object=spec.object)


def metadata_sender(client: PendoClient) -> MetadataSender:
    return MetadataSender(client, "visitor", "visitorId", False, "custom")


def test_a_sync_refuses_an_event_model_without_the_track_secret(specs, clients):
    key, track = clients
    without = Sending(key, SyncOptions(), Heard())
    with pytest.raises(ConfigError) as refused:
        without.check(specs["signups"], EVENTS.capabilities)
    assert "PENDO_TRACK_SECRET is not set" in str(refused.value)
    assert specs["signups"].where() in str(refused.value)  # the model and its file
    without.check(specs["visitors"], METADATA.capabilities)  # metadata needs only the key
    Sending(key, SyncOptions(), Heard(), track).check(specs["signups"], EVENTS.capabilities)
    Previewing(None, SyncOptions(), Heard()).check(specs["signups"], EVENTS.capabilities)  # sends nothing


def test_a_sync_sends_each_target_through_its_own_client_and_capabilities(specs, clients):
    key, track = clients
    delivery = Sending(key, SyncOptions(threads=7), Heard(), track)
    events = delivery.channel(EVENTS.capabilities, EventSender, result_of(specs["signups"]))
    assert isinstance(events.sender, EventSender) and events.sender.client is track
    assert (events.concurrent, events.write_ahead, events.threads) == (True, True, 7)
    visitors = delivery.channel(METADATA.capabilities, metadata_sender, result_of(specs["visitors"]))
    assert isinstance(visitors.sender, MetadataSender) and visitors.sender.client is key
    assert (visitors.concurrent, visitors.write_ahead) == (
        METADATA.capabilities.concurrent,
        METADATA.capabilities.write_ahead,
    )


def test_a_preview_sends_from_one_thread_confirms_nothing_and_keeps_the_sample(specs, emulator):
    spec = specs["visitors"]
    result = result_of(spec)
    channel = Previewing(None, SyncOptions(show=2, threads=7), Heard()).channel(
        METADATA.capabilities, metadata_sender, result
    )
    assert (channel.concurrent, channel.write_ahead) == (False, False)  # in order: the first rows
    assert isinstance(channel.sender, PreviewSender) and not channel.sender.delivers
    records = [{"visitorId": v, "values": {"plan": "pro"}} for v in ("v1", "v2", "v3")]
    outcome = channel.sender.send(records, ["v1", "v2", "v3"])
    assert not outcome.confirmed and not outcome.missing
    assert [p["visitorId"] for p in result.payload_sample] == ["v1", "v2"]
    assert emulator.write_calls() == 0


def test_field_schemas_are_read_ahead_once_each(specs, emulator, clients):
    key, _ = clients
    delivery = Sending(key, SyncOptions(), Heard())
    delivery.read_ahead(specs.values())  # two visitor models, an account one, an event one
    visitor = delivery.field_types("visitor")
    assert visitor == emulator.fields("visitor") and delivery.field_types("visitor") is visitor
    assert delivery.field_types("account") == emulator.fields("account")
    reads = [r.path for r in emulator.request_log() if r.method == "GET"]
    assert sorted(reads) == ["/api/v1/metadata/schema/account", "/api/v1/metadata/schema/visitor"]


def test_a_preview_goes_on_without_field_types_when_pendo_cannot_be_reached(specs):
    with make_emulator() as gone:
        client = key_client(gone, RetryPolicy(attempts=1))
    heard = Heard()
    delivery = Previewing(client, SyncOptions(dry_run=True), heard)
    delivery.read_ahead([specs["visitors"]])
    assert delivery.knows_field_types
    assert delivery.field_types("visitor") is None
    assert not delivery.knows_field_types and delivery.field_types("account") is None
    (warning,) = heard.warnings
    assert "could not be reached" in warning and UNKNOWN_TYPES in warning
    assert delivery.reader is None  # nothing more is asked of an unreachable Pendo
    client.close()


def test_fields_are_created_by_a_sync_and_only_said_by_a_preview(emulator, clients):
    key, _ = clients
    heard = Heard()
    Previewing(key, SyncOptions(dry_run=True), heard).create_fields("visitor", {"tier": "string"})
    assert "tier" not in emulator.fields("visitor") and heard.notes == [
        "would create Pendo visitor fields: tier (string)"
    ]
    sending = Sending(key, SyncOptions(), heard)
    sending.create_fields("visitor", {"tier": "string"})
    assert "tier" in emulator.fields("visitor") and sending.field_types("visitor")["tier"] == "string"
    assert sending.reader is key


def test_a_preview_leaves_nothing_in_the_warehouse(tiny, warehouse):
    node = tiny.node("visitors")
    fill(warehouse, node, ("id", "plan"), [("v1", "pro"), ("v2", "basic")])
    store = Ledger(warehouse, LedgerLocation(node.database, str(node.schema)))
    delivery = Previewing(None, SyncOptions(dry_run=True), Heard())
    assert not delivery.state_exists(store)  # a first run: no state tables, none created
    columns = SnapshotColumns(kind="visitor", id_column="id", mapping={"plan": "plan"})
    snapshot = ModelSnapshot(store, node, columns, full_resync=False, state_exists=False)
    with delivery.ledger(store, node, snapshot) as journal:
        snapshot.create()
        assert snapshot.counts()[ChangeKind.NEW] == 2  # the same diff a sync makes
        journal.intend(["v1"])
        journal.record(0, "v1", "v2", [])
    assert not warehouse.table_exists(snapshot.table) and not store.exists()
