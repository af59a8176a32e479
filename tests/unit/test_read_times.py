"""Time values read back from Pendo become epoch milliseconds (pendo/times.py), whichever way
Pendo sends them: a whole number, or RFC 3339 text, compared at the millisecond."""

from __future__ import annotations

import datetime as dt

import pytest

from dbt_pendo_sync.pendo.times import epoch_ms


@pytest.mark.parametrize(
    "value, ms",
    [
        (1700000000123, 1700000000123),
        (0, 0),
        (1700000000123.9, 1700000000123),  # rounded down
        ("2023-11-14T22:13:20.123Z", 1700000000123),
        ("2023-11-14T22:13:20.123z", 1700000000123),
        ("2023-11-14t22:13:20.123Z", 1700000000123),
        ("2023-11-14T22:13:20Z", 1700000000000),
        ("2023-11-14T22:13:20.1Z", 1700000000100),
        ("2023-11-14T22:13:20.123999999Z", 1700000000123),  # nanoseconds, as Go writes them
        ("2023-11-14T17:13:20.123-05:00", 1700000000123),
        ("2023-11-15T03:43:20.123+05:30", 1700000000123),
        ("2023-11-14T22:13:20.123+0000", 1700000000123),
        ("2023-11-14 22:13:20.123", 1700000000123),  # no offset: UTC
        ("  2023-11-14T22:13:20.123Z ", 1700000000123),
        ("2023-11-14", 1699920000000),  # a date alone: its midnight UTC
        ("1969-12-31T23:59:59.5Z", -500),  # before 1970, still rounded down
        ("2016-12-31T23:59:60Z", 1483228800000),  # a leap second
    ],
)
def test_times_become_epoch_milliseconds(value, ms):
    assert epoch_ms(value) == ms


def test_rfc3339_text_as_the_sync_writes_it_matches_the_epoch_it_writes():
    """The two date formats the sync writes (pendo/fields.py) come back as one number."""
    instant = dt.datetime(2024, 2, 29, 12, 30, 45, 987654, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert epoch_ms(instant.isoformat()) == int(instant.timestamp() * 1000)
    naive = dt.datetime(2024, 2, 29, 12, 30, 45, 987654)
    assert epoch_ms(naive.isoformat() + "+00:00") == int(
        naive.replace(tzinfo=dt.timezone.utc).timestamp() * 1000
    )


@pytest.mark.parametrize(
    "value",
    [
        "pro",
        "",
        "2023-02-30T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:61:00Z",
        "17000000",
        "2023-11-14T22:13",
        True,
        None,
        float("nan"),
        float("inf"),
        ["2023-11-14"],
        {"t": 1},
    ],
)
def test_anything_else_comes_back_as_it_is(value):
    result = epoch_ms(value)
    assert result is value or (result != result and value != value)  # nan is itself
