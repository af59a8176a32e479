"""What exists in Pendo before a sync, as the emulator starts with it (``EmulatorData``): known
records, the field schema and preset values, and the checks of the data file.

Data file format (``emulator_data.json``, ``EmulatorData.from_file``; comments for illustration)::

    {
      "visitors": ["u-0001", "u-0002"],       # known visitor ids, or the string "all"
      "accounts": "all",
      "schema": {"visitor": {"custom": {"plan": {"Type": "string", "DisplayName": "Plan"}}}},
      "values": {"visitor": {"u-0001": {"plan": "pro"}}}
    }

"all" means every id is known. Ids are listed one by one (no ranges). Every key is optional.
Schema kinds and kinds of preset values are visitor, account and parentAccount. A parent
account is known when an account id names it (``parent::child``), or every one when accounts
are "all". A field needs only "Type" (string, integer, float, boolean, time; other Types
accept any value); DisplayName defaults to the field name and the other keys Pendo shows
(ElementType, isHidden, ...) get Pendo's defaults. Every kind gets empty "custom" and "agent"
groups at least. Ids with preset values count as known.
``from_dict``/``from_file`` raise ValueError saying what is wrong where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

ALL: Literal["all"] = "all"
KINDS = ("visitor", "account", "parentAccount")
# The id key of each kind's records (parentAccount's is a switch: values.PARENT_ID_KEYS).
ID_FIELDS = {"visitor": "visitorId", "account": "accountId", "parentAccount": "parentAccountId"}
GROUPS = ("custom", "agent")  # the metadata groups a write key sets

_FIELD_DEFAULTS = {
    "ElementType": "",
    "ElementFormat": "",
    "Dirty": False,
    "isHidden": False,
    "isDeleted": False,
    "isCalculated": False,
    "isPerApp": False,
}


def field_entry(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A full schema entry as Pendo shows it, from a spec holding at least "Type"."""
    return {"Type": spec["Type"], "DisplayName": name, **_FIELD_DEFAULTS, **spec}


def _normalize_schema(schema: Mapping[str, Mapping[str, Mapping]]) -> dict:
    """Fill in field defaults and make sure every kind has every group."""
    full: dict[str, dict] = {kind: {group: {} for group in GROUPS} for kind in KINDS}
    for kind, groups in schema.items():
        for group, fields in groups.items():
            full[kind][group] = {name: field_entry(name, spec) for name, spec in fields.items()}
    return full


_DATA_KEYS = ("visitors", "accounts", "schema", "values")


def _shown(value: Any) -> str:
    """A JSON value for an error message: scalars as written, containers by their type."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = json.dumps(value, default=repr)  # from_dict may get any Python value
    return text if len(text) <= 40 else text[:37] + "..."


def _ids_problem(raw: Any, what: str) -> str | None:
    if raw == ALL:
        return None
    if not isinstance(raw, list):
        return f'"{what}" must be a list of id strings or "all", not {_shown(raw)}'
    bad = next((i for i, item in enumerate(raw) if not isinstance(item, str)), None)
    if bad is not None:
        return f'"{what}"[{bad}] must be an id string, not {_shown(raw[bad])}'
    return None


class _DataProblem(ValueError):
    """What is wrong with emulator data (raised while walking it)."""


def _mapping(value: Any, where: str, shape: str) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else a _DataProblem naming `where` and the `shape`."""
    if not isinstance(value, Mapping):
        raise _DataProblem(f"{where} must be an object {shape}, not {_shown(value)}")
    return value


def _check_schema(schema: Any) -> None:
    for kind, groups in _mapping(schema, '"schema"', '{kind: {group: {field: {"Type": ...}}}}').items():
        if kind not in KINDS:
            raise _DataProblem(f'"schema": unknown kind {kind!r} (visitor, account or parentAccount)')
        for group, fields in _mapping(groups, f"schema.{kind}", 'of groups such as "custom"').items():
            for name, spec in _mapping(fields, f"schema.{kind}.{group}", "of fields").items():
                where = f"schema.{kind}.{group}.{name}"
                field_type = _mapping(spec, where, 'like {"Type": "string"}').get("Type")
                if not isinstance(field_type, str):
                    raise _DataProblem(
                        f'{where} needs "Type": a string such as "string", "integer", "float", '
                        f'"boolean" or "time" (got {_shown(field_type)})'
                    )


def _check_values(values: Any) -> None:
    for kind, records in _mapping(values, '"values"', "{kind: {id: {field: value}}}").items():
        if kind not in ID_FIELDS:
            raise _DataProblem(f'"values": unknown kind {kind!r} (visitor, account or parentAccount)')
        for record_id, fields in _mapping(records, f"values.{kind}", "{id: {field: value}}").items():
            _mapping(fields, f"values.{kind}.{record_id}", "{field: value}")


def data_problem(raw: Any) -> str | None:
    """What is wrong with emulator data in the JSON format of the module docstring (None: nothing)."""
    if not isinstance(raw, Mapping):
        return f"the top level must be a JSON object, not {_shown(raw)}"
    unknown = [key for key in raw if key not in _DATA_KEYS]
    if unknown:
        return (
            f"unknown key {', '.join(map(repr, unknown))} "
            f"(the keys are {', '.join(_DATA_KEYS)}, each optional)"
        )
    ids = _ids_problem(raw.get("visitors", []), "visitors") or _ids_problem(
        raw.get("accounts", []), "accounts"
    )
    if ids:
        return ids
    try:
        _check_schema(raw.get("schema", {}))
        _check_values(raw.get("values", {}))
    except _DataProblem as exc:
        return str(exc)
    return None


def _known_ids(raw: Any, what: str) -> set[str] | Literal["all"]:
    """A set of ids, or "all", from a list of strings or the string "all"."""
    if raw == ALL:
        return ALL
    if isinstance(raw, (list, tuple, set, frozenset)) and all(isinstance(i, str) for i in raw):
        return set(raw)
    raise ValueError(f'{what} must be a list of id strings or "all"')


def record_kind(kind: str) -> str:
    """Check that kind is one whose records hold values (visitor, account or parentAccount)."""
    if kind not in ID_FIELDS:
        raise ValueError(f"kind must be 'visitor', 'account' or 'parentAccount', not {kind!r}")
    return kind


def record_group(group: str) -> str:
    """Check that group is one whose values can be written (custom or agent)."""
    if group not in GROUPS:
        raise ValueError(f"group must be 'custom' or 'agent', not {group!r}")
    return group


@dataclass
class EmulatorData:
    """What exists in Pendo before a sync: known records, field schema and preset values."""

    visitors: set[str] | Literal["all"] = field(default_factory=set)
    accounts: set[str] | Literal["all"] = field(default_factory=set)
    schema: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)
    values: dict[str, dict[str, dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.visitors = _known_ids(self.visitors, "visitors")
        self.accounts = _known_ids(self.accounts, "accounts")
        self.schema = _normalize_schema(self.schema)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EmulatorData:
        """Build from the JSON format described in the module docstring (ValueError if not)."""
        problem = data_problem(raw)
        if problem:
            raise ValueError(problem)
        return cls(
            visitors=raw.get("visitors", []),
            accounts=raw.get("accounts", []),
            schema=raw.get("schema", {}),
            values=raw.get("values", {}),
        )

    @classmethod
    def default(cls) -> EmulatorData:
        """The demo data shipped with the package (emulator_data.json)."""
        text = resources.files(__package__).joinpath("emulator_data.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_file(cls, path: str | Path) -> EmulatorData:
        """Load a JSON file in the same format as emulator_data.json.

        ValueError (its message starts with the path) if the file is not UTF-8 JSON of that
        format; OSError if it cannot be read.
        """
        try:
            raw = json.loads(Path(path).read_text("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise ValueError(f"{path}: not valid JSON: {exc.msg} at {where}") from None
        try:
            return cls.from_dict(raw)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
