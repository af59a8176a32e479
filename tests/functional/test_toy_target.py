"""A target is one module: a toy target defined here, and registered, runs through sync, dry
run, `validate`, `ls`, the results file and the JSON log, with no module of the package
changed for it. It writes one custom visitor field per row (`object: toy`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbt_pendo_sync.dbt.artifacts import ModelNode
from dbt_pendo_sync.emulator import EmulatorData, PendoEmulator
from dbt_pendo_sync.engine import Channel
from dbt_pendo_sync.errors import ConfigError, Problem
from dbt_pendo_sync.exposures import Exposure
from dbt_pendo_sync.ledger.snapshot import ModelSnapshot, SnapshotColumns
from dbt_pendo_sync.ledger.store import Ledger
from dbt_pendo_sync.pendo.answers import BatchOutcome
from dbt_pendo_sync.pendo.client import PendoClient
from dbt_pendo_sync.records import InvalidValue, Record, record_id
from dbt_pendo_sync.results import ModelResult
from dbt_pendo_sync.rows import RowShape
from dbt_pendo_sync.specbase import ModelMessages, find_column, identity
from dbt_pendo_sync.targets import registry
from dbt_pendo_sync.targets.base import (
    Built,
    Capabilities,
    FoundColumns,
    ModelRun,
    ModelSink,
    RecordBuilder,
    Target,
    TargetSpec,
)

from ..conftest import ROOT, IncrementalProject, fixture_on, make_emulator

TOY = ROOT / "tests" / "fixtures" / "toy_project"


@dataclass(frozen=True)
class ToySpec(ModelMessages):
    model: str
    unique_id: str
    properties_file: str
    id_column: str
    label_column: str
    field: str
    state_schema: str | None = None
    object: str = "toy"
    batch_size: int = 2
    id_key: str = "visitorId"
    label: str | None = None


class ToyBuilder(RecordBuilder):
    def __init__(self, shape: RowShape, field: str) -> None:
        self.shape, self.field = shape, field

    def build(self, row: Sequence[Any]) -> Built:
        try:
            rid = record_id(self.shape.id_of(row))
        except InvalidValue as exc:
            return None, None, str(exc)
        (label,) = self.shape.values_of(row)
        if label is None:
            return rid, None, "a toy needs a label"
        return rid, {"visitorId": rid, "values": {self.field: label}}, None


@dataclass
class ToySender:
    client: PendoClient
    delivers: bool = True

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        return self.client.write_values("visitor", records, ids, False, "custom")


def _columns(spec: ToySpec, columns: Sequence[str]) -> tuple[dict[str, str], list[Problem]]:
    found = {name: find_column(name, columns) for name in (spec.id_column, spec.label_column)}
    problems = [
        spec.problem(f"no column '{n}'", "add it to the model") for n, c in found.items() if c is None
    ]
    return {n: c for n, c in found.items() if c is not None}, problems


class ToySink(ModelSink):
    def __init__(self, spec: ToySpec, run: ModelRun) -> None:
        self.spec, self.run = spec, run

    def read(self) -> SnapshotColumns:
        real = {c.written: c.name for c in self.run.warehouse.columns(self.run.node)}
        found, problems = _columns(self.spec, list(real))
        if problems:
            raise ConfigError(problems=problems)
        label = real[found[self.spec.label_column]]
        return SnapshotColumns(
            kind="toy", id_column=real[found[self.spec.id_column]], mapping={label: self.spec.field}
        )

    def builder(self, snapshot: ModelSnapshot) -> RecordBuilder:
        return ToyBuilder(snapshot.shape, self.spec.field)

    def before(self, ledger: Ledger) -> Channel:
        return self.run.delivery.channel(ToyTarget.capabilities, ToySender, self.run.result)

    def after(self, ledger: Ledger) -> None:
        """A toy keeps nothing beside the state."""

    def finished(self) -> None:
        """Nothing to say."""


class ToyTarget(Target):
    objects = ("toy",)
    block_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["object", "id_column", "label_column", "field"],
        "properties": {
            "object": {"const": "toy"},
            "id_column": {"type": "string"},
            "label_column": {"type": "string"},
            "field": {"type": "string"},
        },
    }
    capabilities = Capabilities(concurrent=True, write_ahead=False)

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> ToySpec:
        return ToySpec(
            **identity(model),
            id_column=block["id_column"],
            label_column=block["label_column"],
            field=block["field"],
        )

    def check(self, spec: TargetSpec, found: FoundColumns) -> list[Problem]:
        assert isinstance(spec, ToySpec)
        return _columns(spec, list(found.types))[1]

    def mapping(self, spec: TargetSpec) -> dict[str, str]:
        assert isinstance(spec, ToySpec)
        return {spec.label_column: f"visitor field {spec.field}"}

    def exposure(self, kind: str) -> Exposure:
        return Exposure("pendo_toys", "Pendo toys", "Toy labels on Pendo visitors")

    def describe(self, spec: TargetSpec) -> str:
        return f"{spec.model} labels visitors."

    def sink(self, spec: TargetSpec, run: ModelRun) -> ToySink:
        assert isinstance(spec, ToySpec)
        return ToySink(spec, run)

    def words(self, result: ModelResult, dry_run: bool, label: str | None, zeros: bool) -> str:
        c = result.counts
        return (
            f"{c.sent} toys would go"
            if dry_run
            else f"{c.updated} toys labelled, {c.invalid} without a label"
        )


@pytest.fixture
def toy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IncrementalProject]:
    project = fixture_on(request, TOY, tmp_path, "duckdb")
    project.dbt("build")
    with registry.registered(ToyTarget()):
        yield project


@pytest.fixture
def toy_emulator() -> Iterator[PendoEmulator]:
    data = EmulatorData.default()
    data.visitors = "all"
    data.schema["visitor"]["custom"]["toy_label"] = {"Type": "string", "DisplayName": "toy_label"}
    with make_emulator(data) as em:
        yield em


def test_a_toy_target_runs_through_ls_validate_dry_run_and_sync(toy, toy_emulator):
    listed = toy.command("ls", "--output", "json")
    assert listed.code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["model"], row["object"], row["fields"]) == (
        "toy_labels",
        "toy",
        {"label": "visitor field toy_label"},
    )

    checked = toy.command("validate", "--offline")
    assert checked.code == 0, checked.output

    preview = toy.sync("--dry-run", emulator=toy_emulator)
    assert "toys would go" in preview.output and toy_emulator.all_values("visitor") == {}

    synced = toy.sync("--log-format", "json", emulator=toy_emulator)
    assert synced.code == 1, synced.output  # one row without a label: a partial sync
    assert toy_emulator.all_values("visitor") == {"v1": {"toy_label": "gold"}, "v2": {"toy_label": "silver"}}
    events = [json.loads(line) for line in synced.stdout.splitlines()]
    (finished,) = [e for e in events if e["event"] == "model_finished"]
    assert finished["object"] == "toy" and "2 toys labelled, 1 without a label" in finished["msg"]
    (model,) = toy.results()["models"]
    assert (model["object"], model["status"], model["counts"]["updated"]) == ("toy", "partial", 2)
    assert [r["id"] for r in toy.rejected()] == ["v3"]

    again = toy.sync("--log-format", "json", emulator=toy_emulator)  # the ledger: nothing new to send
    (model,) = toy.results()["models"]
    assert (model["counts"]["unchanged"], model["counts"]["new"], model["counts"]["sent"]) == (2, 1, 0), (
        again.output
    )


def test_a_toy_targets_own_check_names_the_model_in_validate(toy):
    (toy.path / "models" / "_models.yml").write_text(
        (toy.path / "models" / "_models.yml").read_text().replace("label_column: label", "label_column: tag")
    )
    checked = toy.command("validate", "--offline")
    assert checked.code != 0 and "toy_labels" in checked.output and "no column 'tag'" in checked.output
