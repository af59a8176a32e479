"""`dbt-pendo validate`: every problem a sync would meet, found before it runs.

Each check turns what would stop (or quietly spoil) a sync into a Problem: the model, its
YAML file, what is wrong, and the fix. The checks are the sync's own (the same JSON Schema,
column resolution and field checks), run to the end instead of stopping at the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .config import SyncSpec, spec_for
from .dbt.artifacts import ModelNode
from .errors import ConfigError
from .fieldcheck import column_kind, field_problems

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
        return None, [Problem(model.name, model.properties_file,
                              "ephemeral models are not built in the warehouse, so there is nothing to sync",
                              "materialize it as a table or view, or remove its pendo block")]
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
