"""A model's mapped columns checked against Pendo's custom field definitions, before any write.

Any scalar column fits a text field; a type conflict is a column that can never become the
field's type (a boolean or date column into a number field, a number or boolean column into
a date field, a date column into a boolean field). Text columns into number, boolean or date
fields are allowed: their values are checked row by row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import Problem
from ...pendo.fields import FIELD_KINDS
from .spec import MetadataSpec

# Pendo field Type -> the kind of value it holds, integers counted as numbers.
PENDO_KINDS = {t: "number" if k == "integer" else k for t, k in FIELD_KINDS.items()}
# Warehouse column kind -> the type a created field gets.
CREATE_TYPES = {"text": "string", "boolean": "boolean", "number": "number", "date": "time"}
_CONFLICTS = {
    ("boolean", "number"),
    ("date", "number"),
    ("number", "date"),
    ("boolean", "date"),
    ("date", "boolean"),
}
_PATTERNS = (  # first match wins
    ("nested", r"json|struct|map\b|map\(|array|\[\]|list|variant|object|super|record"),
    ("binary", r"blob|bytea|binary|bytes|image"),
    ("boolean", r"^bool"),
    ("date", r"date|time"),
    ("number", r"int|numeric|decimal|double|float|real|number|money|serial"),
)


@dataclass(frozen=True)
class Unsendable:
    """Why no Pendo field takes a kind of column, and what to do about it."""

    why: str
    fix: str


# Column kinds no Pendo field takes: every row would be invalid, no field is created for
# them, and `validate` reports them.
UNSENDABLE = {
    "nested": Unsendable(
        "holds nested values, which no Pendo field takes",
        "flatten it into scalar columns in the model, or exclude it",
    ),
    "binary": Unsendable(
        "holds binary values, which no Pendo field takes",
        "cast it to text in the model (e.g. hex or base64), or exclude it",
    ),
}


def unsendable(data_type: str) -> Unsendable | None:
    """Why a column of this type can never be sent, or None when some field takes it."""
    return UNSENDABLE.get(column_kind(data_type))


def column_kind(data_type: str) -> str:
    """text, boolean, number, date, nested or binary, from the adapter's name for a column type."""
    name = data_type.lower()
    for kind, pattern in _PATTERNS:
        if re.search(pattern, name):
            return kind
    return "text"


def read_as_text(column_type: str, pendo_type: str | None) -> bool:
    """Whether a column is best read as its text form: decimals into number fields.

    Drivers build a Decimal per value (DuckDB's Python API at several times the cost of a
    float), while the text parses into the same JSON number (a double) far faster.
    """
    return (
        PENDO_KINDS.get(pendo_type or "") == "number"
        and re.search(r"numeric|decimal", column_type.lower()) is not None
    )


def field_problems(
    spec: MetadataSpec,
    mapping: Mapping[str, str],
    column_types: Mapping[str, str],
    pendo_fields: Mapping[str, str],
) -> tuple[list[Problem], dict[str, str]]:
    """Type conflicts, and the fields Pendo lacks ({field: type to create it with}).

    Columns no field takes (nested, binary) are left out: their rows are invalid whatever
    the field, so no field is created for them.
    """
    problems: list[Problem] = []
    missing: dict[str, str] = {}
    for column, field in mapping.items():
        col_kind = column_kind(column_types.get(column, ""))
        if col_kind in UNSENDABLE:
            continue
        if field not in pendo_fields:
            missing[field] = CREATE_TYPES.get(col_kind, "string")
            continue
        pendo_type = pendo_fields[field]
        field_kind = PENDO_KINDS.get(pendo_type, "text")
        if (col_kind, field_kind) in _CONFLICTS:
            problems.append(
                spec.problem(
                    f"column '{column}' ({column_types.get(column)}) can never be a value of Pendo "
                    f"{spec.object} field '{field}' (type {pendo_type})",
                    "map another column to it, or change the field's type in Pendo "
                    "(Settings > Data Mappings)",
                )
            )
    return problems, missing


def missing_field_problems(
    spec: MetadataSpec, mapping: Mapping[str, str], missing: Mapping[str, str]
) -> list[Problem]:
    """One problem per field Pendo lacks, naming its column, the type to create and the fixes."""
    by_field = {f: c for c, f in mapping.items()}
    return [
        spec.problem(
            f"Pendo has no custom {spec.object} field '{f}' for column '{by_field[f]}' "
            f"('{by_field[f]}' -> '{f}' ({t}))",
            f"create it in Pendo (Settings > Data Mappings) as type {t}, map another "
            "column, or sync with --create-fields (or `create_fields: true` in the "
            "pendo block) to create it",
        )
        for f, t in missing.items()
    ]


def unsendable_problems(
    spec: MetadataSpec, mapping: Mapping[str, str], column_types: Mapping[str, str]
) -> list[Problem]:
    """The mapped columns no Pendo field takes (every row would be invalid)."""
    problems = []
    for column in mapping:
        refused = unsendable(column_types.get(column, ""))
        if refused is not None:
            problems.append(
                spec.problem(
                    f"column '{column}' ({column_types[column]}) {refused.why} (every row would be invalid)",
                    f"{refused.fix} with `pendo: {{exclude: true}}` on column '{column}'",
                )
            )
    return problems
