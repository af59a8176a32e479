"""A visitor or account block as a MetadataSpec: which columns go to which Pendo fields, and
how their values are converted; matched against the relation's real columns."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ...dbt.artifacts import ModelNode
from ...errors import ConfigError, Problem
from ...pendo.fields import Coercion
from ...specbase import (
    MISSING_COLUMN_FIX,
    ModelMessages,
    find_column,
    identity,
    mapping_fix,
    state_schema_problems,
    suggest_field_name,
    timezone_problems,
)
from ...vocab import NullPolicy, OnRemove

OBJECTS = ("visitor", "account")
DEFAULT_BATCH_SIZE = 500
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ColumnRule:
    """A column-level `pendo:` block: rename/include (`field`) or leave out (`exclude`)."""

    field: str | None = None
    exclude: bool = False
    nulls: NullPolicy | None = None


@dataclass(frozen=True)
class MetadataSpec(ModelMessages):
    """What to sync for one model: validated, typed, and independent of dbt."""

    model: str
    unique_id: str
    properties_file: str
    object: str  # visitor or account
    id_column: str
    fields: Mapping[str, str] | None
    column_rules: Mapping[str, ColumnRule]
    batch_size: int
    state_schema: str | None = None
    create_fields: bool = False
    nulls: NullPolicy = NullPolicy.SKIP
    truncate_text: bool = False
    date_format: str = "rfc3339"
    timezone: str = "UTC"
    on_remove: OnRemove = OnRemove.KEEP
    group: str = "custom"  # the metadata group written: custom, or agent (Pendo's own fields)
    # accounts: ids are `parent::child`, the parent from this column (null or blank: the plain id)
    parent_account_id_column: str | None = None

    @property
    def kind(self) -> str:
        """Pendo's metadata kind, in its schema and write URLs: visitor or account."""
        return self.object

    @property
    def id_key(self) -> str:
        """The payload key of the record id: visitorId or accountId."""
        return f"{self.object}Id"

    @property
    def label(self) -> None:
        """Metadata's words name nothing beside the model."""
        return None

    def match_columns(self, columns: Sequence[str]) -> tuple[str | None, dict[str, str], list[Problem]]:
        """The id column (None when missing), the mapping of the columns that match, and
        every problem found (not only the first).

        Names match exactly, else case-insensitively (warehouses fold unquoted names).
        """
        problems: list[Problem] = []

        def real(name: str, label: str, fix: str = MISSING_COLUMN_FIX) -> str | None:
            found = find_column(name, columns)
            if found is not None:
                return found
            problems.append(
                self.problem(
                    f"{label} is not a column of the built relation (columns: {', '.join(columns)})", fix
                )
            )
            return None

        id_col = real(self.id_column, f"id_column '{self.id_column}'")
        parent = self.parent_account_id_column
        parent_col = real(parent, f"parent_account_id_column '{parent}'") if parent else None
        rules = {
            col: rule
            for col, rule in (
                (real(name, f"column '{name}' of a column-level pendo block"), rule)
                for name, rule in self.column_rules.items()
            )
            if col is not None
        }
        if self.fields is not None:
            wanted = {}
            for name, field in self.fields.items():
                found = real(name, f"mapped column '{name}'", mapping_fix(name, field, columns, "fields"))
                if found is not None:
                    wanted[found] = field
        else:
            wanted = {col: col for col in columns if col not in (id_col, parent_col)}
        for col, rule in rules.items():
            if rule.field:
                wanted[col] = rule.field
        mapping = {
            col: wanted[col]
            for col in columns
            if col in wanted and col != id_col and not rules.get(col, ColumnRule()).exclude
        }
        problems += self.field_problems(mapping, empty_is_a_problem=not problems)
        return id_col, mapping, problems

    def coercion(self, pendo_type: str | None, column_type: str) -> Coercion:
        """How this model's values become a field of `pendo_type` (None: type unknown)."""
        return Coercion(
            pendo_type=pendo_type,
            column_is_boolean=column_type.lower().startswith("bool"),
            truncate_text=self.truncate_text,
            date_format=self.date_format,
            timezone=dt.timezone.utc if self.timezone == "UTC" else ZoneInfo(self.timezone),
        )

    @property
    def conversion_salt(self) -> str:
        """The options that change payloads for the same values (part of every fingerprint)."""
        return f"{self.truncate_text}|{self.date_format}|{self.timezone}"

    def clears_nulls(self, column: str) -> bool:
        """Whether a null in this (real) column is sent as null, clearing Pendo's value."""
        named = find_column(column, self.column_rules)
        rule = self.column_rules[named] if named is not None else ColumnRule()
        return (rule.nulls or self.nulls) is NullPolicy.CLEAR

    def field_problems(self, mapping: Mapping[str, str], *, empty_is_a_problem: bool = True) -> list[Problem]:
        """Problems of the fields a mapping sends to: two columns on one field, names
        Pendo cannot use, nothing left to send."""
        problems = self.mapping_problems(mapping, "Pendo field", self._refused_field)
        if not mapping and empty_is_a_problem:
            problems.append(self.problem("no column is left to send", "map at least one column"))
        return problems

    def _refused_field(self, column: str, field: str) -> Problem | None:
        if _FIELD_NAME.match(field):
            return None
        return self.problem(
            f"column '{column}' would be sent as field '{field}', which Pendo cannot use in segments or "
            "reports",
            f"rename it with `pendo: {{field: {suggest_field_name(field)}}}` on the column",
        )

    @staticmethod
    def usable_field(field: str) -> bool:
        """Whether Pendo can use this field name (letters, digits, underscore)."""
        return _FIELD_NAME.match(field) is not None


def metadata_spec(
    model: ModelNode, block: Mapping[str, Any], kind: type[MetadataSpec] = MetadataSpec
) -> MetadataSpec:
    """The spec (a `kind`) of a valid metadata block; ConfigError naming every problem of its
    values."""
    problems: list[Problem] = []
    spec = kind(
        **identity(model),
        object=str(block["object"]),
        id_column=block["id_column"],
        fields=dict(block["fields"]) if "fields" in block else None,
        column_rules={
            col.name: ColumnRule(
                field=col.pendo_block().get("field"),
                exclude=bool(col.pendo_block().get("exclude", False)),
                nulls=NullPolicy(col.pendo_block()["nulls"]) if "nulls" in col.pendo_block() else None,
            )
            for col in model.columns.values()
            if col.pendo_block() is not None
        },
        batch_size=int(block.get("batch_size", DEFAULT_BATCH_SIZE)),
        state_schema=block.get("state_schema"),
        create_fields=bool(block.get("create_fields", False)),
        nulls=NullPolicy(block.get("nulls", NullPolicy.SKIP)),
        truncate_text=bool(block.get("truncate_text", False)),
        date_format=block.get("date_format", "rfc3339"),
        timezone=block.get("timezone", "UTC"),
        on_remove=OnRemove(block.get("on_remove", OnRemove.KEEP)),
        group=block.get("group", "custom"),
        parent_account_id_column=block.get("parent_account_id_column"),
    )
    problems += timezone_problems(spec, spec.timezone) + state_schema_problems(spec, spec.state_schema)
    if spec.parent_account_id_column is not None and spec.object != "account":
        problems.append(
            spec.problem(
                f"pendo.parent_account_id_column: a {spec.object} block has no parent account",
                "leave it out, or give it to the account model whose ids are parent::child",
            )
        )
    if spec.fields is not None:  # columns are known without the warehouse: check now
        named = {**spec.fields, **{c: r.field for c, r in spec.column_rules.items() if r.field}}
        problems += spec.field_problems(
            {c: f for c, f in named.items() if not spec.column_rules.get(c, ColumnRule()).exclude}
        )
    if problems:
        raise ConfigError(problems=problems)
    return spec
