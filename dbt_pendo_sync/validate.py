"""`dbt-pendo validate`: every problem a sync would meet, found before it runs.

Each check turns what would stop (or quietly spoil) a sync into a Problem: the model, its
YAML file, what is wrong, and the fix. The checks are the sync's own (the same JSON Schema,
column matching and field checks), run to the end instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import spec_for
from .dbt.artifacts import ModelNode
from .dbt.compat import DbtTarget, build_adapter
from .dbt.warehouse import Warehouse
from .errors import ConfigError, PendoError, PendoKindRefusedError, Problem, WarehouseError
from .pendo.client import PendoClient
from .pendo.policy import RetryPolicy
from .pendo.settings import PendoSettings, track_settings
from .selection import EPHEMERAL_FIX, EPHEMERAL_PROBLEM, SelectedModel
from .targets import registry
from .targets.base import FoundColumns, TargetSpec

FieldSchemas = dict[tuple[str, str], dict[str, str]]  # {(kind, group): {field: Pendo type}}


def block_problems(model: ModelNode) -> tuple[TargetSpec | None, list[Problem]]:
    """The model's spec (None when its blocks are invalid) and the blocks' problems."""
    try:
        spec = spec_for(model)
    except ConfigError as exc:
        return None, list(exc.problems)
    if model.materialized == "ephemeral":
        return None, [Problem(model.name, model.properties_file, EPHEMERAL_PROBLEM, EPHEMERAL_FIX)]
    return spec, []


def run_problem(problem: str, fix: str) -> Problem:
    """A problem of the whole run (the key, Pendo), not of one model."""
    return Problem("(all)", "-", problem, fix)


@dataclass(frozen=True)
class Validation:
    """What `validate` checked (model names) and the problems it found."""

    models: list[str]
    problems: list[Problem]
    warnings: tuple[str, ...] = ()  # dbt's, about the selection


def validate_models(
    models: Sequence[ModelNode],
    target: DbtTarget,
    *,
    offline: bool = False,
    create_fields: bool = False,
    env: Mapping[str, str] | None = None,
    manifest_path: Path | None = None,
    state_schema: str | None = None,
) -> Validation:
    """Every problem of the models' syncs: blocks, then (through the adapter, with the macros
    of `manifest_path` when given) the names that go into SQL (with the run's `state_schema`)
    and columns, then (unless offline) the key and Pendo's fields."""
    found = _problems(models, target, offline, create_fields, env, manifest_path, state_schema)
    return Validation([m.name for m in models], found)


def _problems(
    models: Sequence[ModelNode],
    target: DbtTarget,
    offline: bool,
    create_fields: bool,
    env: Mapping[str, str] | None,
    manifest_path: Path | None,
    state_schema: str | None,
) -> list[Problem]:
    found: list[Problem] = []
    specs: list[tuple[TargetSpec, ModelNode]] = []
    for model in models:
        spec, of_block = block_problems(model)
        found += of_block
        if spec is not None:
            specs.append((spec, model))
    schemas = sorted({w for s, _ in specs for w in registry.for_spec(s).field_schemas(s)})
    pendo_fields = None if offline or not schemas else _pendo_fields(schemas, found, env)
    secret = any(registry.for_spec(s).capabilities.needs_track_secret for s, _ in specs)
    if not offline and secret and track_settings(env) is None:
        found.append(
            run_problem(
                "PENDO_TRACK_SECRET is not set, so the event models cannot be sent",
                "export the app's Track Event shared secret (not the integration key)",
            )
        )
    if specs:
        warehouse = Warehouse(build_adapter(target, manifest_path))
        named = []
        for spec, model in specs:  # before the connection opens: no statement has run
            of_names = SelectedModel(spec, model).name_problems(warehouse, state_schema)
            found += of_names
            if not of_names:
                named.append((spec, model))
        with warehouse.connection():
            for spec, model in named:
                found += _model_problems(spec, model, warehouse, pendo_fields, create_fields)
    return found


def _pendo_fields(
    schemas: list[tuple[str, str]], problems: list[Problem], env: Mapping[str, str] | None
) -> FieldSchemas | None:
    """Pendo's fields of each (kind, group) schema; None (and a problem) when the key or
    Pendo stands in the way."""
    settings = PendoSettings.from_env(env, key_required=False)
    if settings.key is None:
        problems.append(
            run_problem(
                "PENDO_INTEGRATION_KEY is not set, so Pendo's fields cannot be checked",
                "export the key, or pass --offline",
            )
        )
        return None
    client = PendoClient(settings, RetryPolicy(attempts=3, time_budget=60))
    try:
        key_problem = client.key_problem()
        if key_problem:
            problems.append(
                run_problem(
                    key_problem,
                    "create a key with write access in Pendo (Settings > Integrations > Integration Keys)",
                )
            )
        return _read_schemas(client, schemas)
    except PendoError as exc:
        problems.append(
            run_problem(str(exc), "check the key and PENDO_BASE_URL / PENDO_REGION, or pass --offline")
        )
        return None
    finally:
        client.close()


def _read_schemas(client: PendoClient, schemas: list[tuple[str, str]]) -> FieldSchemas:
    """The schemas Pendo answers; one it refuses (no such kind for the subscription: parent
    accounts not enabled) is left out, and each model of it says so (its target's check)."""
    found: FieldSchemas = {}
    for kind, group in schemas:
        try:
            found[(kind, group)] = client.field_types(kind, group)
        except PendoKindRefusedError:
            continue
    return found


def _model_problems(
    spec: TargetSpec,
    model: ModelNode,
    warehouse: Warehouse,
    pendo_fields: FieldSchemas | None,
    create_fields: bool,
) -> list[Problem]:
    try:
        columns = warehouse.relation_columns(model)
    except WarehouseError as exc:
        return [spec.problem(str(exc), "check that the profile's user can read the relation")]
    if not columns:  # only the block could be checked, which it was
        return [
            spec.problem(
                f"relation {warehouse.relation(model)} does not exist in the warehouse "
                "(the model is not built, so its columns were not checked)",
                f"run `dbt build --select {model.name}` first",
            )
        ]
    column_types = {c.written: c.data_type for c in columns}
    return registry.for_spec(spec).check(spec, FoundColumns(column_types, pendo_fields, create_fields))
