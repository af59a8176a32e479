"""Warehouse values become the JSON Pendo accepts; Pendo's answers map back to ids."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dbt_pendo_sync.pendo.answers import read_answer
from dbt_pendo_sync.pendo.fields import Coercion, to_json_value
from dbt_pendo_sync.records import NOT_BLANK, InvalidValue, record_id
from dbt_pendo_sync.targets.metadata.fieldcheck import column_kind


@pytest.mark.parametrize(
    "value, expected",
    [
        ("text", "text"),
        (True, True),
        (12, 12),
        (2.5, 2.5),
        (Decimal("12.00"), 12),
        (Decimal("12.50"), 12.5),
        (Decimal("1E-9"), 1e-9),
        (Decimal("9007199254740993"), 9007199254740992.0),  # past 2^53: a JSON number, as close as it gets
        (dt.date(2024, 2, 29), "2024-02-29T00:00:00+00:00"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05+00:00"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=ZoneInfo("America/New_York")),
            "2024-01-02T03:04:05.120000-05:00",
        ),
        (dt.time(13, 30), "13:30:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_values_become_json(value, expected):
    assert to_json_value(value) == expected
    assert type(to_json_value(value)) is type(expected)


@pytest.mark.parametrize(
    "value, reason",
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (Decimal("NaN"), "not a finite number"),
        ({"a": 1}, "nested value"),
        ([1, 2], "nested value"),
        (b"\x00", "cannot be sent"),
    ],
)
def test_unsendable_values_are_invalid_with_a_reason(value, reason):
    with pytest.raises(InvalidValue, match=reason):
        to_json_value(value)


@pytest.mark.parametrize("value, expected", [("v1", "v1"), (42, "42"), (42.0, "42"), (Decimal("7"), "7")])
def test_ids_are_strings(value, expected):
    assert record_id(value) == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_null_and_blank_ids_are_invalid(value):
    with pytest.raises(InvalidValue):
        record_id(value)


IDS = ["u-1", "u-10", "u-2", "u-3"]


def test_answer_with_missing_and_object_errors():
    outcome = read_answer(
        IDS,
        {
            "total": 4,
            "updated": 2,
            "failed": 2,
            "missing": ["u-3"],
            "errors": [{"visitorId": "u-1", "error": "bad value"}],
        },
    )
    assert outcome.confirmed == ["u-10", "u-2"]
    assert outcome.missing == ["u-3"]
    assert outcome.rejected == [("u-1", "bad value")]


def test_answer_with_text_errors_matches_whole_ids_only():
    outcome = read_answer(
        IDS,
        {
            "total": 4,
            "updated": 3,
            "failed": 1,
            "missing": [],
            "errors": ["visitor u-1: field 'seats' expects integer"],
        },
    )
    assert outcome.rejected == [("u-1", "visitor u-1: field 'seats' expects integer")]
    assert outcome.confirmed == ["u-10", "u-2", "u-3"]  # u-10 is not u-1


def test_answer_that_does_not_add_up_confirms_nothing():
    outcome = read_answer(
        IDS, {"total": 4, "updated": 3, "failed": 1, "missing": [], "errors": ["something went wrong"]}
    )
    assert outcome.confirmed == []
    assert [i for i, _ in outcome.failed] == IDS
    assert "something went wrong" in outcome.failed[0][1]


def test_answer_with_wrong_updated_count_confirms_nothing():
    outcome = read_answer(IDS, {"total": 4, "updated": 2, "failed": 0, "missing": [], "errors": []})
    assert outcome.confirmed == [] and len(outcome.failed) == 4


@pytest.mark.parametrize(
    "data_type, kind",
    [
        ("VARCHAR", "text"),
        ("character varying(256)", "text"),
        ("text", "text"),
        ("UUID", "text"),
        ("BOOLEAN", "boolean"),
        ("bool", "boolean"),
        ("INTEGER", "number"),
        ("bigint", "number"),
        ("DECIMAL(38,9)", "number"),
        ("numeric", "number"),
        ("DOUBLE", "number"),
        ("double precision", "number"),
        ("HUGEINT", "number"),
        ("DATE", "date"),
        ("TIMESTAMP", "date"),
        ("timestamp with time zone", "date"),
        ("TIMESTAMP WITH TIME ZONE", "date"),
        ("timestamp without time zone", "date"),
        ("JSON", "nested"),
        ("jsonb", "nested"),
        ("STRUCT(a INTEGER)", "nested"),
        ("INTEGER[]", "nested"),
    ],
)
def test_warehouse_column_types_are_classified(data_type, kind):
    assert column_kind(data_type) == kind


@pytest.mark.parametrize(
    "pendo_type, column_is_boolean, value, expected",
    [
        ("string", False, 42, "42"),
        ("string", False, True, "true"),
        ("string", False, Decimal("1E-9"), "0.000000001"),
        ("string", False, dt.date(2024, 1, 2), "2024-01-02T00:00:00+00:00"),
        ("boolean", False, "TRUE", True),
        ("boolean", False, 0, False),
        ("boolean", True, True, True),
        ("integer", False, "17", 17),
        ("integer", False, Decimal("5.000"), 5),
        ("float", False, " 2.50 ", 2.5),
        ("float", False, Decimal("12.00"), 12),
        ("time", False, "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
        ("time", False, dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05+00:00"),
    ],
)
def test_values_are_coerced_to_the_fields_type(pendo_type, column_is_boolean, value, expected):
    convert = Coercion(pendo_type, column_is_boolean=column_is_boolean).converter().convert
    assert convert(value) == expected
    assert type(convert(value)) is type(expected)


@pytest.mark.parametrize(
    "pendo_type, column_is_boolean, value, reason",
    [
        ("string", False, "x" * 1501, "over Pendo's 1500"),
        ("boolean", False, "maybe", "not a boolean"),
        ("boolean", True, 1, "not a boolean"),
        ("integer", False, "12abc", "not a number"),
        ("integer", False, 2.5, "not a whole number"),
        ("float", False, float("nan"), "not a finite number"),
        ("float", False, True, "boolean, not a number"),
        ("time", False, "next tuesday", "not an ISO 8601"),
        ("time", False, 1700000000, "are not dates"),
    ],
)
def test_values_that_do_not_fit_the_field_are_invalid(pendo_type, column_is_boolean, value, reason):
    with pytest.raises(InvalidValue, match=reason):
        Coercion(pendo_type, column_is_boolean=column_is_boolean).converter().convert(value)


def test_long_text_is_cut_when_asked_and_epoch_ms_dates():
    assert Coercion("string", truncate_text=True).converter().convert("x" * 2000) == "x" * 1500
    epoch = Coercion("time", date_format="epoch_ms", timezone=ZoneInfo("Europe/Berlin")).converter().convert
    assert epoch(dt.datetime(2024, 1, 1, 1, 0)) == 1704067200000  # 01:00 in Berlin is midnight UTC


def test_the_warehouses_blank_id_test_is_str_strip():
    """records.NOT_BLANK (what macros/payload.sql leaves to Python as a blank id) matches a
    character exactly when str.strip() keeps it."""
    kept = re.compile(NOT_BLANK)
    assert all((kept.match(chr(c)) is None) == chr(c).isspace() for c in range(0x110000))
