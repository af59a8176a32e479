"""The generic pipeline (`sync_models`) with a toy target defined and registered here (its spec
is tests/functional/test_toy_target.py's), over a DuckDB file through the dbt adapter and the emulator
through a real PendoClient: what a run sends and counts, that a second run sends nothing,
--max-removals, and a sink that starts its model over. The toy writes each row's label into a
custom visitor field, and clears the field of a visitor that left the model."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from dbt_pendo_sync.dbt.artifacts import ModelNode
from dbt_pendo_sync.delivery import Sending
from dbt_pendo_sync.emulator import EmulatorData, PendoEmulator
from dbt_pendo_sync.engine import Channel
from dbt_pendo_sync.errors import DbtPendoError, RemovalsError
from dbt_pendo_sync.ledger.snapshot import ModelSnapshot, SnapshotColumns
from dbt_pendo_sync.ledger.store import Ledger
from dbt_pendo_sync.pendo.answers import BatchOutcome
from dbt_pendo_sync.pendo.client import PendoClient
from dbt_pendo_sync.pendo.settings import PendoSettings
from dbt_pendo_sync.pipeline import Run, _check_removals, sync_models
from dbt_pendo_sync.records import Record, record_id
from dbt_pendo_sync.report_events import ReportEvent
from dbt_pendo_sync.results import Counts, ModelResult, SyncResults
from dbt_pendo_sync.rows import RowShape
from dbt_pendo_sync.selection import SelectedModel
from dbt_pendo_sync.settings import SyncOptions
from dbt_pendo_sync.specbase import identity
from dbt_pendo_sync.targets import registry
from dbt_pendo_sync.targets.base import (
    Built,
    Capabilities,
    ModelRun,
    ModelSink,
    RecordBuilder,
    Target,
    TargetSpec,
)
from dbt_pendo_sync.vocab import ChangeKind, ModelStatus

from ..conftest import emulator_key, make_emulator
from ..functional.test_toy_target import ToySpec
from .tinyproject import TinyProject, fill, tiny_project

FIELD = "toy_label"
_CASES = itertools.count()


class Gone(DbtPendoError):
    """The toy's Pendo object vanished (as a segment deleted in Pendo): its sink starts over."""


class ToyBuilder(RecordBuilder):
    def __init__(self, shape: RowShape) -> None:
        self.shape = shape
        (self.field,) = shape.fields

    def build(self, row: Sequence[Any]) -> Built:
        if self.shape.change_of(row) == ChangeKind.REMOVED:  # left the model: its label cleared
            key = self.shape.key_of(row)
            return key, {"visitorId": key, "values": {self.field: None}}, None
        rid = record_id(self.shape.id_of(row))
        (label,) = self.shape.values_of(row)
        return rid, {"visitorId": rid, "values": {self.field: label}}, None


@dataclass
class ToySender:
    client: PendoClient
    target: ToyTarget
    delivers: bool = True

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        if self.target.failures and self.target.fails_on in ids:
            self.target.failures -= 1
            raise Gone(f"the toy of {self.target.fails_on} is gone")
        return self.client.write_values("visitor", records, ids, False, "custom")


class ToySink(ModelSink):
    def __init__(self, target: ToyTarget, spec: ToySpec, run: ModelRun) -> None:
        self.target, self.spec, self.run = target, spec, run

    def read(self) -> SnapshotColumns:
        spec = self.spec
        mapping = {spec.label_column: spec.field}
        return SnapshotColumns(kind="toy", id_column=spec.id_column, mapping=mapping, departed=True)

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        return ToyBuilder(snapshot.shape)

    def before(self, ledger: Ledger) -> Channel:
        return self.run.delivery.channel(self.target.capabilities, self._sender, self.run.result)

    def _sender(self, client: PendoClient) -> ToySender:
        return ToySender(client, self.target)

    def after(self, ledger: Ledger) -> None:
        """A toy keeps nothing beside the state."""

    def start_over(self, error: Exception) -> bool:
        """Once, after its object vanished."""
        again = isinstance(error, Gone) and not self.target.started_over
        self.target.started_over += again
        return again

    def finished(self) -> None:
        """Nothing to say."""


class ToyTarget(Target):
    """Only what `sync_models` asks of a target (checks, mappings, words and exposures are for
    `validate`, `ls`, the report and `exposures`, which these tests do not run)."""

    objects = ("toy",)
    block_schema: Mapping[str, Any] = {"type": "object"}
    capabilities = Capabilities(concurrent=True, write_ahead=False)
    removals = ("clear", "labels")

    def __init__(self) -> None:
        self.fails_on: str | None = None  # the id whose batch fails with Gone...
        self.failures = 0  # ...this many times
        self.started_over = 0

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> ToySpec:
        columns = {key: block[key] for key in ("id_column", "label_column", "field")}
        return ToySpec(**identity(model), **columns)

    def sink(self, spec: TargetSpec, run: ModelRun) -> ToySink:
        assert isinstance(spec, ToySpec)
        return ToySink(self, spec, run)


# One worker runs the module, whose warehouse is made once (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("unit_pipeline")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    path = tmp_path_factory.mktemp("pipeline") / "tiny"
    block = {"object": "toy", "id_column": "id", "label_column": "label", "field": FIELD}
    return tiny_project(path, str(path / "tiny.duckdb"), {"labels": block})


@dataclass
class Case:
    """One test's model (a relation of (id, label) rows), its state schema and its Pendo."""

    tiny: TinyProject
    node: ModelNode
    state_schema: str
    target: ToyTarget
    emulator: PendoEmulator
    client: PendoClient

    def fill(self, *rows: tuple[str, str]) -> None:
        with self.tiny.connected() as w:
            fill(w, self.node, ("id", "label"), rows)

    def sync(self, **options: Any) -> ModelResult:
        """One run of the model; its result."""
        spec = self.target.spec(self.node, self.node.pendo_block())
        fired: list[ReportEvent] = []
        delivery = Sending(self.client, SyncOptions(threads=1, **options), fired.append)
        results = SyncResults()
        run = Run(self.tiny.target, self.state_schema, fired.append, delivery)
        sync_models([SelectedModel(spec, self.node)], self.tiny.manifest, run, results)
        assert run.started
        (result,) = results.models
        return result

    def labels(self) -> dict[str, Any]:
        return {v: values[FIELD] for v, values in self.emulator.all_values("visitor").items()}


@pytest.fixture
def case(tiny: TinyProject) -> Iterator[Case]:
    data = EmulatorData.default()
    data.visitors = "all"
    data.schema["visitor"]["custom"][FIELD] = {"Type": "string", "DisplayName": FIELD}
    n = next(_CASES)
    target = ToyTarget()
    with make_emulator(data) as em, registry.registered(target):
        client = PendoClient(
            PendoSettings.from_env({"PENDO_BASE_URL": em.url, "PENDO_INTEGRATION_KEY": emulator_key(em)})
        )
        yield Case(tiny, tiny.model(f"labels_{n}", like="labels"), f"state_{n}", target, em, client)
        client.close()


def counts(result: ModelResult, *names: str) -> tuple[int, ...]:
    return tuple(getattr(result.counts, name) for name in names)


def test_a_sync_sends_the_rows_and_a_second_sends_nothing(case):
    case.fill(("a", "gold"), ("b", "silver"), ("c", "bronze"))
    first = case.sync()
    assert (first.status, first.object, first.message) == (ModelStatus.SUCCESS, "toy", None)
    assert counts(first, "rows", "new", "sent", "updated") == (3, 3, 3, 3)
    assert first.relation and first.relation.endswith(f'"{case.node.alias}"')
    assert first.state_table and case.state_schema in first.state_table
    assert case.labels() == {"a": "gold", "b": "silver", "c": "bronze"}
    calls = case.emulator.write_calls()

    again = case.sync()
    assert counts(again, "rows", "new", "unchanged", "sent") == (3, 0, 3, 0)
    assert case.emulator.write_calls() == calls  # nothing changed: no call to Pendo

    case.fill(("a", "gold"), ("b", "platinum"), ("c", "bronze"), ("d", "tin"))
    third = case.sync()
    assert counts(third, "new", "changed", "unchanged", "sent") == (1, 1, 2, 2)
    assert case.labels() == {"a": "gold", "b": "platinum", "c": "bronze", "d": "tin"}


def test_a_run_that_would_clear_too_many_records_stops_unless_allowed(case):
    case.fill(("a", "gold"), ("b", "silver"), ("c", "bronze"), ("d", "tin"))
    case.sync()
    case.fill(("a", "gold"))  # a broken build: three of four visitors gone

    stopped = case.sync()
    assert stopped.status == ModelStatus.ERROR and stopped.message
    assert "would clear 3 of the 4 labels synced before (75% > --max-removals 20%)" in stopped.message
    assert "--allow-removals" in stopped.message and counts(stopped, "removed", "sent") == (3, 0)
    assert case.labels() == {"a": "gold", "b": "silver", "c": "bronze", "d": "tin"}

    assert case.sync(allow_removals=True).status == ModelStatus.SUCCESS  # as the message says
    assert case.labels() == {"a": "gold"}
    assert counts(case.sync(), "removed", "sent") == (0, 0)  # the state forgot them


@pytest.mark.parametrize(
    ("removed", "options", "stops"),
    [
        (1, SyncOptions(), False),  # 1 of 5: 20%, at the limit
        (2, SyncOptions(), True),
        (2, SyncOptions(allow_removals=True), False),
        (5, SyncOptions(max_removals=100), False),
        (0, SyncOptions(max_removals=0), False),
    ],
)
def test_max_removals_is_a_percent_of_the_records_synced_before(removed, options, stops):
    spec = ToySpec("labels", "model.tiny.labels", "models/_models.yml", "id", "label", FIELD)
    result = ModelResult(model="labels", unique_id=spec.unique_id, object="toy")
    result.counts = Counts(unchanged=5 - removed, removed=removed)
    with registry.registered(ToyTarget()):
        if stops:
            said = f"model labels (models/_models.yml): this run would clear {removed} of the 5 labels"
            with pytest.raises(RemovalsError, match=re.escape(said)):
                _check_removals(spec, result, options)
        else:
            _check_removals(spec, result, options)


def test_a_sink_that_starts_over_runs_the_model_again_with_counts_reset(case):
    case.fill(("a", "gold"), ("b", "silver"), ("c", "bronze"))
    case.target.fails_on, case.target.failures = "c", 1  # the second batch fails, once
    result = case.sync()
    assert case.target.started_over == 1 and result.status == ModelStatus.SUCCESS
    # The first pass confirmed a and b (kept in the state); the second sent c alone.
    assert counts(result, "new", "unchanged", "sent", "updated") == (1, 2, 1, 1)
    assert case.labels() == {"a": "gold", "b": "silver", "c": "bronze"}


def test_a_sink_starts_over_once_then_the_error_ends_the_model(case):
    case.fill(("a", "gold"), ("b", "silver"), ("c", "bronze"))
    case.target.fails_on, case.target.failures = "c", 2
    result = case.sync()
    assert case.target.started_over == 1
    assert (result.status, result.message) == (ModelStatus.ERROR, "the toy of c is gone")
    assert case.labels() == {"a": "gold", "b": "silver"}
    assert counts(case.sync(), "new", "unchanged", "sent") == (1, 2, 1)  # the next run sends c
