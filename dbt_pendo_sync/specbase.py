"""What every model spec shares (each target's spec is in targets/): the
model and file its messages name, and the checks of keys that several kinds of block have."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .dbt.artifacts import ModelNode
from .errors import Problem
from .sqlnames import SCHEMA_NAME_RULE, schema_name_problem

MISSING_COLUMN_FIX = "fix the pendo block or rebuild the model"
# What each mapping of a block maps a column to (its keys are columns, its values these).
_MAPPED_TO = {"fields": "Pendo field", "properties": "event property"}


class ModelMessages:
    """What every spec says about itself: the model and the file of its block."""

    model: str
    properties_file: str

    def where(self) -> str:
        """`model (file)`, the prefix of every message about this spec."""
        return f"model {self.model} ({self.properties_file})"

    def problem(self, what: str, fix: str) -> Problem:
        """A Problem of this model."""
        return Problem(self.model, self.properties_file, what, fix)

    def mapping_problems(
        self, mapping: Mapping[str, str], what: str, refused: Callable[[str, str], Problem | None]
    ) -> list[Problem]:
        """Problems of a {column: name} mapping: two columns on one name (`what`: "Pendo
        field", "event property"), and each name `refused(column, name)` says Pendo refuses.
        The fix for two columns on one name maps one to another (or leaves it out, where
        `what` is a field: a column can be excluded)."""
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        for column, name in mapping.items():
            if name in seen:
                problems.append(
                    self.problem(
                        f"columns '{seen[name]}' and '{column}' both map to {what} '{name}'",
                        f"map one of them to another {what.split()[-1]}"
                        + (" or exclude it" if what.endswith("field") else ""),
                    )
                )
            elif (problem := refused(column, name)) is not None:
                problems.append(problem)
            seen.setdefault(name, column)
        return problems


class Identity(TypedDict):
    model: str
    unique_id: str
    properties_file: str


def identity(model: ModelNode) -> Identity:
    """The fields every spec takes from its model: name, unique_id, properties file."""
    return {"model": model.name, "unique_id": model.unique_id, "properties_file": model.properties_file}


def find_column(name: str, columns: Collection[str]) -> str | None:
    """The column of `columns` that `name` names: exactly, else case-insensitively (the first
    such: warehouses fold unquoted names); None when none does."""
    if name in columns:
        return name
    folded = name.lower()
    return next((column for column in columns if column.lower() == folded), None)


def mapping_fix(key: str, value: str, columns: Collection[str], mapping: str) -> str:
    """The fix for a key of `mapping` (`fields`, `properties`) that is not a column: when its
    value is one, the mapping was likely written the wrong way round."""
    if find_column(value, columns) is None:
        return MISSING_COLUMN_FIX
    return (
        f"reversed? write {{{value}: {key}}}: `{mapping}` maps column -> {_MAPPED_TO[mapping]} "
        f"(else {MISSING_COLUMN_FIX})"
    )


def suggest_field_name(name: str) -> str:
    """A Pendo-usable field name close to `name` (letters, digits, underscore)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "field"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def timezone_problems(spec: ModelMessages, timezone: str) -> list[Problem]:
    """The block's timezone must be an IANA name."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [
            spec.problem(
                f"pendo.timezone: {timezone!r} is not an IANA time zone",
                "use a name like 'UTC' or 'America/New_York'",
            )
        ]
    return []


def state_schema_problems(spec: ModelMessages, state_schema: str | None) -> list[Problem]:
    """The block's state_schema goes into SQL: only a plain name is taken (sqlnames.py)."""
    why = schema_name_problem(state_schema) if state_schema else None
    if why is None:
        return []
    return [spec.problem(f"pendo.state_schema: {why}", f"name a schema of {SCHEMA_NAME_RULE}")]
