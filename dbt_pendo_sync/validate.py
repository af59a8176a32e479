"""`dbt-pendo validate`: every problem a sync would meet, found before it runs.

Each check turns what would stop (or quietly spoil) a sync into a Problem: the model, its
YAML file, what is wrong, and the fix. The checks are the sync's own (the same JSON Schema,
column resolution and field checks), run to the end instead of stopping at the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .config import SyncSpec, spec_for
from .dbt.artifacts import ModelNode
from .dbt.compat import DbtTarget, build_adapter
from .dbt.warehouse import Warehouse
from .errors import ConfigError, PendoError, WarehouseError
from .fieldcheck import column_kind, field_problems
from .pendo.client import PendoClient, RetryPolicy
from .pendo.settings import PendoSettings
from .plan import EPHEMERAL

_GENERAL_FIX = "correct that value in the pendo block (the README's Configuration section lists every key)"


@dataclass(frozen=True)
class Problem:
    """One thing that stands in the way of a sync, and how to fix it."""

    model: str
    file: str
    problem: str
    fix: str


def problem_from(model: str, file: str, message: str) -> Problem:
    """A Problem from one of the sync's error messages (`model m (file): what; fix`)."""
    text = message.split(": ", 1)[1] if message.startswith(f"model {model}") else message
    what, _, fix = text.partition("; ")
    return Problem(model, file, what.strip(), fix.strip() or _GENERAL_FIX)


def _from_error(model: ModelNode, error: Exception) -> list[Problem]:
    return [problem_from(model.name, model.properties_file, line.strip())
            for line in str(error).splitlines() if line.strip()]


def block_problems(model: ModelNode) -> tuple[SyncSpec | None, list[Problem]]:
    """The model's SyncSpec (None when its blocks are invalid) and the blocks' problems."""
    try:
        spec = spec_for(model)
    except ConfigError as exc:
        return None, _from_error(model, exc)
    if model.materialized == "ephemeral":
        return None, [problem_from(model.name, model.properties_file, EPHEMERAL)]
    return spec, []


def declared_column_problems(spec: SyncSpec, model: ModelNode) -> list[Problem]:
    """For a model that is not built: the block checked against its declared columns."""
    if not model.columns:
        return []
    try:
        spec.resolve_columns(list(model.columns))
    except ConfigError as exc:
        return [problem_from(model.name, model.properties_file, line.replace(
            "is not a column of the built relation", "is not a declared column of the model"))
            for line in str(exc).splitlines()]
    return []


def column_problems(spec: SyncSpec, model: ModelNode,
                    column_types: Mapping[str, str]) -> tuple[dict[str, str] | None, list[Problem]]:
    """The block against the relation's real columns: the mapping, or the problems."""
    try:
        _, mapping = spec.resolve_columns(list(column_types))
    except ConfigError as exc:
        return None, _from_error(model, exc)
    nested = [Problem(spec.model, spec.properties_file,
                      f"column '{c}' ({column_types[c]}) holds nested values, which no Pendo field "
                      f"can take (every row would be invalid)",
                      f"flatten it into scalar columns in the model, or exclude it with "
                      f"`pendo: {{exclude: true}}` on column '{c}'")
              for c in mapping if column_kind(column_types[c]) == "nested"]
    return mapping, nested


def field_check_problems(spec: SyncSpec, mapping: Mapping[str, str], column_types: Mapping[str, str],
                         pendo_fields: Mapping[str, str], create_fields: bool) -> list[Problem]:
    """The mapped columns against Pendo's field definitions: type conflicts and missing fields."""
    conflicts, missing = field_problems(spec, mapping, column_types, pendo_fields)
    problems = [problem_from(spec.model, spec.properties_file, p.message) for p in conflicts]
    if missing and not (create_fields or spec.create_fields):
        by_field = {f: c for c, f in mapping.items()}
        problems += [Problem(spec.model, spec.properties_file,
                             f"Pendo has no custom {spec.object} field '{f}' (for column '{by_field[f]}')",
                             f"create it in Pendo (Settings > Data Mappings) as type {t}, map another "
                             f"column, or sync with --create-fields (or `create_fields: true`)")
                     for f, t in missing.items()]
    return problems


def run_problem(problem: str, fix: str) -> Problem:
    """A problem of the whole run (the key, Pendo), not of one model."""
    return Problem("(all)", "-", problem, fix)


@dataclass(frozen=True)
class Validation:
    """What `validate` checked (model names) and the problems it found."""

    models: list[str]
    problems: list[Problem]


def validate_models(models: Sequence[ModelNode], target: DbtTarget, *, offline: bool = False,
                    create_fields: bool = False, env: Mapping[str, str] | None = None) -> Validation:
    """Every problem of the models' syncs: blocks, then (through the adapter) columns, then
    (unless offline) the key and Pendo's fields."""
    return Validation([m.name for m in models],
                      _problems(models, target, offline, create_fields, env))


def _problems(models: Sequence[ModelNode], target: DbtTarget, offline: bool, create_fields: bool,
              env: Mapping[str, str] | None) -> list[Problem]:
    found: list[Problem] = []
    specs = []
    for model in models:
        spec, of_block = block_problems(model)
        found += of_block
        if spec is not None:
            specs.append((spec, model))
    pendo_fields = None if offline or not specs else _pendo_fields(specs, found, env)
    if specs:
        warehouse = Warehouse(build_adapter(target))
        with warehouse.connection():
            for spec, model in specs:
                found += _model_problems(spec, model, warehouse, pendo_fields, create_fields)
    return found


def _pendo_fields(specs: list[tuple[SyncSpec, ModelNode]], problems: list[Problem],
                  env: Mapping[str, str] | None) -> dict[str, dict[str, str]] | None:
    """Pendo's custom fields per object the specs sync to; None (and a problem) when the key
    or Pendo stands in the way."""
    settings = PendoSettings.from_env(env, key_required=False)
    if settings.key is None:
        problems.append(run_problem("PENDO_INTEGRATION_KEY is not set, so Pendo's fields "
                                    "cannot be checked", "export the key, or pass --offline"))
        return None
    client = PendoClient(settings, RetryPolicy(attempts=3, time_budget=60))
    try:
        key_problem = client.key_problem()
        if key_problem:
            problems.append(run_problem(key_problem, "create a key with write access in Pendo "
                                        "(Settings > Integrations > Integration Keys)"))
        return {kind: client.custom_fields(kind) for kind in sorted({s.object for s, _ in specs})}
    except PendoError as exc:
        what, _, fix = str(exc).partition(": ")
        problems.append(run_problem(what, fix or "check PENDO_BASE_URL / PENDO_REGION"))
        return None
    finally:
        client.close()


def _model_problems(spec: SyncSpec, model: ModelNode, warehouse: Warehouse,
                    pendo_fields: dict[str, dict[str, str]] | None, create_fields: bool) -> list[Problem]:
    try:
        column_types = {c.name: c.data_type for c in warehouse.columns(model)}
    except WarehouseError as exc:
        return [problem_from(model.name, model.properties_file, str(exc)),
                *declared_column_problems(spec, model)]
    mapping, problems = column_problems(spec, model, column_types)
    if mapping is not None and pendo_fields is not None:
        problems += field_check_problems(spec, mapping, column_types, pendo_fields[spec.object],
                                         create_fields)
    return problems
