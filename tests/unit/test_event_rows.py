"""Rows made into Track Events, and the window of times Pendo processes (targets/events.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dbt_pendo_sync.errors import ConfigError
from dbt_pendo_sync.records import InvalidValue
from dbt_pendo_sync.results import Counts
from dbt_pendo_sync.rows import RowShape
from dbt_pendo_sync.targets.events.body import EventBuilder
from dbt_pendo_sync.targets.events.spec import EventSpec, resolve_columns
from dbt_pendo_sync.targets.events.target import nothing_in_window
from dbt_pendo_sync.targets.events.window import EventWindow, epoch_ms

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOW = EventWindow.around(NOW, 7)
TYPES = {
    "id": "varchar",
    "user_id": "varchar",
    "name": "varchar",
    "at": "timestamp",
    "plan": "varchar",
    "url": "text",
}


def _spec(**block) -> EventSpec:
    fields = {"visitor_id_column": "user_id", "timestamp_column": "at", "event_column": "name"}
    return EventSpec(
        model="events", unique_id="model.p.events", properties_file="models/e.yml", **{**fields, **block}
    )


def test_times_become_epoch_milliseconds_naive_ones_in_the_blocks_zone():
    assert epoch_ms(dt.datetime(2026, 11, 29, 12, 0), UTC) == 1_795_953_600_000
    assert epoch_ms(dt.datetime(2026, 11, 29, 13, 0), ZoneInfo("Europe/Paris")) == 1_795_953_600_000
    assert (
        epoch_ms(dt.datetime(2026, 11, 29, 7, 0, tzinfo=ZoneInfo("America/New_York")), UTC)
        == 1_795_953_600_000
    )
    assert epoch_ms(dt.date(2026, 11, 29), UTC) == 1_795_910_400_000
    assert epoch_ms(1_795_953_600, UTC) == 1_795_953_600_000  # seconds
    assert epoch_ms(Decimal("1795953600000"), UTC) == 1_795_953_600_000  # milliseconds
    with pytest.raises(InvalidValue):
        epoch_ms("yesterday", UTC)


def test_the_window_is_sql_for_each_kind_of_time_column():
    cast = "cast({} as T)"
    assert WINDOW.conditions("ts", "timestamp with time zone", UTC, cast) == (
        "ts < cast('2026-11-22 12:00:00+00:00' as T)",
        "ts > cast('2026-11-30 12:00:00+00:00' as T)",
    )
    assert WINDOW.conditions("ts", "TIMESTAMP", ZoneInfo("Europe/Paris"), cast) == (
        "ts < cast('2026-11-22 13:00:00' as T)",
        "ts > cast('2026-11-30 13:00:00' as T)",
    )
    # A date counts from its midnight: the 22nd began before the window did.
    assert WINDOW.conditions("d", "date", UTC, cast) == (
        "d < cast('2026-11-23' as T)",
        "d > cast('2026-11-30' as T)",
    )
    before, after = WINDOW.conditions("n", "bigint", UTC, cast)
    assert before.endswith(f"< {WINDOW.start_ms}") and after.endswith(f"> {WINDOW.end_ms}")


def test_a_row_becomes_one_track_body_and_bad_rows_say_why():
    spec = _spec(event_id_column="id", context={"url": "url"})
    columns = resolve_columns(spec, TYPES)
    assert list(columns.sent) == ["visitorId", "timestamp", "event", "context:url", "property:plan"]
    build = EventBuilder(spec, RowShape(tuple(columns.sent)), WINDOW).build
    at = dt.datetime(2026, 11, 28, 9, 30)
    assert build(("k1", "e1", "u1", at, "Signed Up", "https://x", None)) == (
        "e1",
        {
            "type": "track",
            "event": "Signed Up",
            "visitorId": "u1",
            "timestamp": epoch_ms(at, UTC),
            "properties": {},
            "context": {"url": "https://x"},
        },
        None,
    )
    assert build(("k2", "e2", " ", at, "x", None, "pro"))[2] == "visitor id is blank"
    assert build(("k3", "e3", "u1", None, "x", None, "pro"))[2] == "timestamp is null"
    assert build(("k4", "e4", "u1", at, "", None, "pro"))[2] == "event name is blank"
    assert build(("k5", None, "u1", at, "x", None, "pro"))[2] == "event id is null"
    reason = build(("k6", "e6", "u1", at, "x", None, "p" * 600))[2]
    assert reason is not None and reason.startswith("properties are 611 bytes of JSON")


def test_columns_the_block_names_must_exist_once_and_be_times():
    with pytest.raises(ConfigError) as caught:
        resolve_columns(_spec(account_id_column="user_id", timestamp_column="plan"), TYPES)
    problems = [p.problem for p in caught.value.problems]
    assert "column 'user_id' is used twice (visitorId and accountId)" in problems
    assert any("timestamp_column 'plan' has type varchar, which is no time" in p for p in problems)
    with pytest.raises(ConfigError) as caught:
        resolve_columns(_spec(event_column="kind"), TYPES)
    assert "event_column 'kind' is not a column of the built relation" in caught.value.problems[0].problem


def test_a_model_with_nothing_in_the_window_is_told_why_and_what_to_check():
    ahead = nothing_in_window(_spec(timezone="Europe/Paris"), Counts(too_new=5), "2027-01-01", "2027-02-01")
    assert ahead.startswith("events: all 5 rows are more than 1 day ahead (the oldest at is 2027-01-01); ")
    assert "naive times are read in Europe/Paris, epoch numbers below 1e11 as seconds" in ahead
    both = nothing_in_window(_spec(max_age_days=3), Counts(too_old=2, too_new=1), None, None)
    assert both.startswith(
        "events: all 3 rows are outside the window Pendo processes: 2 older than max_age_days 3, "
        "1 more than 1 day ahead; no event was sent."
    )
    old = nothing_in_window(_spec(max_age_days=3), Counts(too_old=4), None, "2026-11-20 10:00:00")
    assert "older than max_age_days 3 (the newest at is 2026-11-20 10:00:00)" in old
    assert "(max_age_days can be raised to 7); no event was sent" in old
