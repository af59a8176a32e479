"""The emulator's parser of aggregation `filter` expressions: what it accepts and means, and
that it refuses anything else with a FilterError (it never evaluates text as code)."""

from __future__ import annotations

import re

import pytest

from dbt_pendo_sync.emulator.filters import FilterError, lookup, parse_filter

ROWS = [
    {"visitorId": "a", "metadata": {"custom": {"plan": "pro", "seats": 5}}},
    {"visitorId": "b", "metadata": {"custom": {"plan": "free", "seats": 1}}},
    {"visitorId": "c", "metadata": {"custom": {}}},
    {"visitorId": 'q"uote\\', "metadata": {"custom": {"plan": "pro"}}},
    {"visitorId": "é", "metadata": {}},
]


def kept(expression: str) -> list[str]:
    keep = parse_filter(expression)
    return [row["visitorId"] for row in ROWS if keep(row)]


@pytest.mark.parametrize(
    "expression, ids",
    [
        ('visitorId > "a"', ["b", "c", 'q"uote\\', "é"]),
        ('visitorId >= "c"', ["c", 'q"uote\\', "é"]),
        ('visitorId < "b"', ["a"]),
        ('visitorId == "c"', ["c"]),
        ('visitorId != "c"', ["a", "b", 'q"uote\\', "é"]),
        ('visitorId in ["a", "c", "z"]', ["a", "c"]),
        ("visitorId in []", []),
        ('metadata.custom.plan == "pro" && metadata.custom.seats > 2', ["a"]),
        ('metadata.custom.plan == "free" || visitorId == "c"', ["b", "c"]),
        ('!(metadata.custom.plan == "pro")', ["b", "c", "é"]),
        ("metadata.custom.plan == null", ["c", "é"]),
        ("metadata.custom.seats <= 1.5e0", ["b"]),
        ('visitorId == "q\\"uote\\\\"', ['q"uote\\']),  # JSON escapes in texts
        ('visitorId > "\\u00e0"', ["é"]),  # \\u escapes too, compared by code point
        ('visitorId > "a" && (visitorId == "b" || visitorId == "c")', ["b", "c"]),
    ],
)
def test_expressions(expression, ids):
    assert kept(expression) == ids


def test_order_comparisons_of_unlike_types_are_false():
    assert kept('metadata.custom.seats > "0"') == []
    assert kept("metadata.custom.plan < 3") == []
    assert kept("metadata.custom.missing < 3 || metadata.custom.missing >= 3") == []
    assert parse_filter("true == true")({}) and not parse_filter("true > false")({})


def test_lookup_takes_a_field_of_that_name_before_walking_the_path():
    assert (
        lookup(
            {"metadata.custom.plan": "own", "metadata": {"custom": {"plan": "walked"}}},
            "metadata.custom.plan",
        )
        == "own"
    )
    assert lookup({"metadata": {"custom": {"plan": "walked"}}}, "metadata.custom.plan") == "walked"
    assert lookup({"metadata": "text"}, "metadata.custom") is None
    assert lookup({}, "visitorId") is None


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "expected a field"),
        ("visitorId", "expected a comparison"),
        ('visitorId > "a" &&', "found the end"),
        ('visitorId = "a"', "cannot read"),
        ('visitorId > "a" extra', "expected the end"),
        ('(visitorId > "a"', 'expected ")"'),
        ('visitorId in ["a",]', "expected a field, a text"),
        ('visitorId in ["a" "b"]', 'expected "," or "]"'),
        ('visitorId in "a"', 'expected "[" after in'),
        ("visitorId in [visitorId]", "expected a field, a text"),  # members are literals
        ('visitorId > "\\x41"', "is not a JSON string"),
        ('__import__("os").system("true")', "cannot read"),
        ("visitorId > 'a'", "cannot read"),
        ('visitorId > "unterminated', "cannot read"),
    ],
)
def test_refusals(expression, message):
    with pytest.raises(FilterError, match="filter: .*" + re.escape(message)):
        parse_filter(expression)
