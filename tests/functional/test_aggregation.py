"""The emulator's aggregation endpoint (POST /api/v1/aggregation) and its admin edits
(POST /_emulator/values), over real HTTP with requests: the pipeline steps, the switches for
what Pendo leaves open, keys, rate limit, latency, faults and counts."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
import requests

from dbt_pendo_sync.emulator import EmulatorData, Fault, PendoEmulator

from ..conftest import wait_until

KEY = "agg-integration-key"
READ_ONLY = "agg-read-only-key"
PATH = "/api/v1/aggregation"


def _data() -> EmulatorData:
    """Visitors v1..v4 (v4 known, without values), accounts a1, a2; a time field per kind."""
    return EmulatorData.from_dict(
        {
            "visitors": ["v4"],
            "schema": {
                "visitor": {"custom": {"plan": {"Type": "string"}, "signup": {"Type": "time"}}},
                "account": {"custom": {"renews": {"Type": "time"}}},
            },
            "values": {
                "visitor": {
                    "v2": {"plan": "pro", "signup": "2024-01-02T03:04:05.678999-05:00"},
                    "v1": {"plan": "free", "signup": 1700000000123},
                    "v3": {"plan": "pro"},
                },
                "account": {"a1": {"renews": "2025-06-01T00:00:00Z"}, "a2": {}},
            },
        }
    )


@pytest.fixture
def make_emulator(start_emulator) -> Callable[..., PendoEmulator]:
    """Emulators holding _data(), with the switches given."""
    return lambda **switches: start_emulator(KEY, read_only_keys=[READ_ONLY], data=_data(), **switches)


def aggregate(emu, *steps, source="visitors", key=KEY, body=None) -> requests.Response:
    pipeline = [{"source": {source: None}}, *steps]
    body = body or {
        "response": {"mimeType": "application/json"},
        "request": {"pipeline": pipeline, "requestId": "t"},
    }
    return requests.post(emu.url + PATH, json=body, headers={"x-pendo-integration-key": key}, timeout=10)


SELECT = {
    "select": {"visitorId": "visitorId", "plan": "metadata.custom.plan", "signup": "metadata.custom.signup"}
}


def test_sort_filter_limit_select(make_emulator):
    emu = make_emulator()
    answer = aggregate(emu, {"identified": "visitorId"}, {"sort": ["visitorId"]}, SELECT)
    assert answer.status_code == 200
    assert answer.json() == {
        "results": [
            {"visitorId": "v1", "plan": "free", "signup": 1700000000123},
            {"visitorId": "v2", "plan": "pro", "signup": 1704182645678},  # to the ms, rounded down
            {"visitorId": "v3", "plan": "pro", "signup": None},
            {"visitorId": "v4", "plan": None, "signup": None},  # known, never written
        ]
    }
    paged = aggregate(emu, {"filter": 'visitorId > "v1"'}, {"sort": ["visitorId"]}, {"limit": 2}, SELECT)
    assert [row["visitorId"] for row in paged.json()["results"]] == ["v2", "v3"]
    pros = aggregate(emu, {"filter": 'metadata.custom.plan == "pro"'}, {"sort": ["-visitorId"]}, SELECT)
    assert [row["visitorId"] for row in pros.json()["results"]] == ["v3", "v2"]
    chosen = aggregate(
        emu, {"filter": 'visitorId in ["v4", "v9"] || visitorId == "v1"'}, {"sort": ["visitorId"]}
    )
    assert [row["visitorId"] for row in chosen.json()["results"]] == ["v1", "v4"]
    assert aggregate(emu, {"limit": 0}).json() == {"results": []}


def _paged_ids(emu, size: int) -> list[str]:
    """Every visitor id, read a page at a time as pendo/reading.py pages (after the last id)."""
    ids: list[str] = []
    while True:
        after = [{"filter": f"visitorId > {json.dumps(ids[-1])}"}] if ids else []
        steps = [{"identified": "visitorId"}, *after, {"sort": ["visitorId"]}, {"limit": size}, SELECT]
        page = [row["visitorId"] for row in aggregate(emu, *steps).json()["results"]]
        ids += page
        if len(page) < size:
            return ids


def test_pages_by_id_are_the_sorted_read_as_records_come_and_go(make_emulator):
    emu = make_emulator()
    for rid in ('v"5', "V0", "v\\1", "é9", "v10"):  # quotes, backslashes, case, beyond ASCII
        emu.set_value("visitor", rid, "plan", "pro")
    whole = aggregate(emu, {"sort": ["visitorId"]}, SELECT).json()["results"]
    assert (
        _paged_ids(emu, 2) == [row["visitorId"] for row in whole] == sorted(row["visitorId"] for row in whole)
    )
    emu.set_value("visitor", "v25", "plan", "free")  # a new id after the ids were sorted
    assert "v25" in _paged_ids(emu, 3)
    not_id = aggregate(emu, {"filter": 'metadata.custom.plan > "g"'}, {"sort": ["visitorId"]}, {"limit": 2})
    assert [row["visitorId"] for row in not_id.json()["results"]] == ["V0", 'v"5']  # the general path


def test_rows_without_select_show_every_group_and_when_they_were_written(make_emulator):
    emu = make_emulator()
    emu.set_value("visitor", "v3", "role", "admin", group="agent")
    (row,) = aggregate(emu, {"filter": 'visitorId == "v3"'}).json()["results"]
    assert row == {
        "visitorId": "v3",
        "metadata": {
            "custom": {"plan": "pro"},
            "agent": {"role": "admin"},
            "auto": {"lastupdated": emu.last_written("visitor", "v3")},
        },
    }
    (never,) = aggregate(emu, {"filter": 'visitorId == "v4"'}).json()["results"]
    assert never["metadata"]["auto"] == {} and emu.last_written("visitor", "v4") is None


def test_filters_sorts_and_selects_see_times_as_they_are_answered(make_emulator):
    """A time field reads the same in every step: epoch ms, or RFC 3339 text with the switch."""
    for switch, later in (("epoch_ms", 1700000000124), ("rfc3339", '"2023-11-14T22:13:20.124Z"')):
        emu = make_emulator(aggregation_times=switch)
        steps = [{"filter": f"metadata.custom.signup > {later}"}, {"sort": ["-metadata.custom.signup"]}]
        answer = aggregate(emu, *steps, {"select": {"id": "visitorId", "custom": "metadata.custom"}})
        rows = answer.json()["results"]
        assert [row["id"] for row in rows] == ["v2"]
        assert rows[0]["custom"]["signup"] in (1704182645678, "2024-01-02T08:04:05.678Z")


def test_accounts_source(make_emulator):
    emu = make_emulator()
    answer = aggregate(
        emu,
        {"sort": ["accountId"]},
        {"select": {"accountId": "accountId", "renews": "metadata.custom.renews"}},
        source="accounts",
    )
    assert answer.json()["results"] == [
        {"accountId": "a1", "renews": 1748736000000},
        {"accountId": "a2", "renews": None},
    ]


def test_switches_for_the_answer_shape_limit_and_times(make_emulator):
    emu = make_emulator(aggregation_answer="array", aggregation_limit="refused", aggregation_times="rfc3339")
    answer = aggregate(emu, {"sort": ["visitorId"]}, SELECT)
    assert answer.json()[:2] == [
        {"visitorId": "v1", "plan": "free", "signup": "2023-11-14T22:13:20.123Z"},
        {"visitorId": "v2", "plan": "pro", "signup": "2024-01-02T08:04:05.678Z"},
    ]
    refused = aggregate(emu, {"sort": ["visitorId"]}, {"limit": 2})
    assert refused.status_code == 400 and '"limit" is not supported' in refused.text
    with pytest.raises(ValueError, match="aggregation_limit"):
        PendoEmulator(KEY, aggregation_limit="sometimes")


@pytest.mark.parametrize(
    "steps, body, message",
    [
        ([{"limit": -1}], None, "limit must be a whole number"),
        ([{"limit": True}], None, "limit must be a whole number"),
        ([{"sort": "visitorId"}], None, "sort: expected a list"),
        ([{"select": ["visitorId"]}], None, "select: expected an object"),
        ([{"filter": 'visitorId >> "a"'}], None, "filter: "),
        ([{"filter": 3}], None, "filter: expected an expression"),
        ([{"group": {}}], None, "unknown pipeline step 'group'"),
        ([{"limit": 1, "sort": ["visitorId"]}], None, "one key"),
        ([{"source": {"accounts": None}}], None, "only the first step may be a source"),
        ([], {"request": {"pipeline": []}}, "pipeline"),
        ([], {"request": {"pipeline": [{"source": {"visitors": None}}]}}, "mimeType"),
        (
            [],
            {"response": {"mimeType": "application/json"}, "request": {"pipeline": [{"limit": 1}]}},
            "must start with",
        ),
    ],
)
def test_malformed_pipelines_get_400(make_emulator, steps, body, message):
    emu = make_emulator()
    answer = aggregate(emu, *steps, body=body)
    assert answer.status_code == 400 and message in answer.text
    unknown_source = aggregate(emu, source="events")
    assert unknown_source.status_code == 400 and "sources are visitors and accounts" in unknown_source.text


def test_keys_reads_take_a_read_only_key(make_emulator):
    emu = make_emulator()
    assert aggregate(emu, key="wrong").status_code == 403
    assert aggregate(emu, key=READ_ONLY).status_code == 200


def test_counts_faults_and_the_rate_limit(make_emulator):
    emu = make_emulator(rate_limit=2)
    emu.faults.add(Fault("status", status=503, requests={2}, path_prefix=PATH))
    assert len(aggregate(emu, {"limit": 3}).json()["results"]) == 3
    assert aggregate(emu).status_code == 503  # the 2nd read call
    assert aggregate(emu).status_code == 429  # over 2 per second
    stats = emu.stats()
    assert (stats["read_calls"], stats["read_rows"], stats["throttled"]) == (2, 3, 1)
    assert emu.read_calls() == 2 and stats["write_calls"] == 0
    assert stats["send_seconds"] == 0  # reads are no send phase


def test_latency_of_an_aggregation_grows_with_the_rows_it_answers(make_emulator):
    """No clock is read: the emulator's in_flight count shows the aggregation is held by the
    delay its 4 rows bring, while a schema GET is answered at once."""
    emu = make_emulator(latency_ms={"aggregation": 0, "get": 0}, latency_per_record_ms=500)
    statuses: list[int] = []
    reader = threading.Thread(target=lambda: statuses.append(aggregate(emu).status_code))
    reader.start()
    wait_until(lambda: emu.in_flight() == 1, "the aggregation to be held by its rows")
    schema = requests.get(
        emu.url + "/api/v1/metadata/schema/visitor", headers={"x-pendo-integration-key": KEY}, timeout=5
    )
    assert schema.ok and emu.in_flight() == 1 and statuses == []
    reader.join()
    assert statuses == [200]


def test_admin_edits_by_python_and_by_the_control_surface(make_emulator):
    emu = make_emulator()
    before = emu.last_written("visitor", "v1")
    emu.set_values("visitor", "v1", {"plan": "enterprise", "signup": None})
    assert emu.values("visitor", "v1") == {"plan": "enterprise"}
    assert emu.last_written("visitor", "v1") >= before
    edit = {"kind": "visitor", "group": "agent", "id": "v7", "values": {"role": "owner"}}
    assert requests.post(emu.url + "/_emulator/values", json=edit, timeout=5).json() == {}
    assert emu.values("visitor", "v7", group="agent") == {"role": "owner"}
    ids = [row["visitorId"] for row in aggregate(emu, {"sort": ["visitorId"]}).json()["results"]]
    assert ids == ["v1", "v2", "v3", "v4", "v7"]
    for bad in [
        {**edit, "kind": "segment"},
        {**edit, "group": "auto"},
        {**edit, "id": ""},
        {**edit, "values": ["role"]},
        {**edit, "extra": 1},
        ["not", "an", "object"],
    ]:
        answer = requests.post(emu.url + "/_emulator/values", json=bad, timeout=5)
        assert answer.status_code == 400 and '"kind": "visitor"|"account"|"parentAccount"' in answer.text
