"""A model's `pendo:` blocks validated with JSON Schema (its target's, and the columns'), then
made into its target's spec; every problem named with its model, file and fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema

from .dbt.artifacts import ModelNode
from .errors import ConfigError, Problem
from .schemas import load_schema
from .specbase import suggest_field_name
from .targets import registry
from .targets.base import TargetSpec

GENERAL_FIX = "correct that value in the pendo block (the README's Configuration section lists every key)"
_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


def _validator(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    found = _VALIDATORS.get(id(schema))
    if found is None:
        found = _VALIDATORS[id(schema)] = jsonschema.Draft202012Validator(schema)
    return found


def _explain(error: jsonschema.ValidationError, prefix: str) -> tuple[str, str]:
    """One validation error as (where: what is wrong, what is allowed)."""
    path = ".".join([prefix, *(str(p) for p in error.absolute_path)])
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if f"x-{kind}-problem" in schema:  # the schema's own words for this error
        said = {"value": error.instance, "limit": error.validator_value}
        return f"{path}: " + schema[f"x-{kind}-problem"].format(**said), schema[f"x-{kind}-fix"].format(
            **said
        )
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        hints: list[str] = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return f"{path}: unknown key {', '.join(hints)}", f"allowed keys: {', '.join(allowed)}"
    if kind == "required":
        return f"{path}: {error.message}", f"add it (allowed keys: {', '.join(schema.get('properties', {}))})"
    if kind == "enum":
        choices = ", ".join(str(v) for v in error.validator_value)
        return f"{path}: {error.instance!r} is not allowed", f"use one of: {choices}"
    if kind == "type":
        return f"{path}: {error.instance!r} must be of type {error.validator_value}", GENERAL_FIX
    if kind == "pattern":
        return (
            f"{path}: {error.instance!r} is not a Pendo field name Pendo can use in segments "
            f"(letters, digits, underscore, not starting with a digit)",
            f"try '{suggest_field_name(str(error.instance))}'",
        )
    if kind in ("minimum", "maximum"):
        return (f"{path}: {error.instance!r} is out of range", f"allowed {kind} is {error.validator_value}")
    if kind == "minProperties":
        return f"{path}: must not be empty", "list at least one entry or leave the key out"
    if kind == "minLength":
        return f"{path}: must not be empty", GENERAL_FIX
    return f"{path}: {error.message}", GENERAL_FIX


def _schema_problems(model: ModelNode, block: Any, schema: Mapping[str, Any], prefix: str) -> list[Problem]:
    errors = sorted(_validator(schema).iter_errors(block), key=lambda e: list(e.absolute_path))
    return [Problem(model.name, model.properties_file, *_explain(e, prefix)) for e in errors]


def block_problems(model: ModelNode) -> list[Problem]:
    """Every problem of a model's pendo blocks (model and columns); [] when valid."""
    block = model.pendo_block()
    problems = _schema_problems(model, block, registry.for_block(block).block_schema, "pendo")
    for col in model.columns.values():
        block = col.pendo_block()
        if block is not None:
            problems += _schema_problems(
                model, block, load_schema("pendo_column.schema.json"), f"columns.{col.name}.pendo"
            )
    return problems


def spec_for(model: ModelNode) -> TargetSpec:
    """The spec of one model; raise ConfigError naming every problem of its blocks."""
    problems = block_problems(model)
    if problems:
        raise ConfigError(problems=problems)
    block = model.pendo_block()
    return registry.for_block(block).spec(model, block)


def specs_for(models: Iterable[ModelNode]) -> list[TargetSpec]:
    """Specs for many models, reporting the problems of all of them at once."""
    specs: list[TargetSpec] = []
    problems: list[Problem] = []
    for model in models:
        try:
            specs.append(spec_for(model))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(
            "invalid pendo configuration:\n" + "\n".join(str(p) for p in problems), problems=problems
        )
    return specs


def project_problems(models: Iterable[ModelNode]) -> None:
    """Stop on problems between the project's models (e.g. two models naming one segment)."""
    every = list(models)
    problems = [p for target in registry.targets() for p in target.project_problems(every)]
    if problems:
        raise ConfigError(
            "invalid pendo configuration:\n" + "\n".join(str(p) for p in problems), problems=problems
        )
