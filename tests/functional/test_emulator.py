"""The local Pendo emulator, exercised over real HTTP with requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
import requests
from urllib3.util.retry import Retry

from dbt_pendo_sync.emulator import EmulatorData, Fault, PendoEmulator
from dbt_pendo_sync.emulator.latency import KINDS, parse_latency
from dbt_pendo_sync.emulator.ratelimit import RateLimit

from ..conftest import wait_until

KEY = "test-integration-key"
READ_ONLY = "read-only-key"
SECRET = "test-track-secret"
AUTH = {"x-pendo-integration-key": KEY}


@pytest.fixture
def make_emulator(start_emulator) -> Callable[..., PendoEmulator]:
    """Start emulators with given switches (stopped at teardown)."""

    def make(**switches) -> PendoEmulator:
        switches.setdefault("track_secret", SECRET)
        return start_emulator(KEY, read_only_keys=[READ_ONLY], **switches)

    return make


@pytest.fixture
def emu(make_emulator) -> PendoEmulator:
    return make_emulator()


def write(emu, records, *, kind="visitor", group="custom", key=KEY, params=None, session=requests):
    return session.post(
        f"{emu.url}/api/v1/metadata/{kind}/{group}/value",
        json=records,
        params=params,
        headers={"x-pendo-integration-key": key},
        timeout=5,
    )


def get(emu, path, key=KEY):
    """GET with an integration key (None: no key header at all)."""
    return requests.get(emu.url + path, headers={"x-pendo-integration-key": key}, timeout=5)


def put(emu, path, **kwargs):
    return requests.put(emu.url + path, headers={**AUTH, **kwargs.pop("headers", {})}, timeout=5, **kwargs)


def segment_call(emu, method, path="", body=None, key=KEY):
    """A call on /api/v1/segment{path} with a JSON body (None: no body)."""
    url = f"{emu.url}/api/v1/segment{path}"
    return requests.request(method, url, json=body, headers={"x-pendo-integration-key": key}, timeout=5)


def upload(emu, name, visitors, key=KEY):
    return segment_call(emu, "POST", "/upload", {"name": name, "visitors": visitors}, key=key)


def patch_members(emu, segment_id, add=None, remove=None):
    """PATCH a segment's members: an "add" and/or a "remove" operation, in that order."""
    operations = [
        {"op": op, "path": "/visitors", "value": ids}
        for op, ids in [("add", add), ("remove", remove)]
        if ids is not None
    ]
    return segment_call(emu, "PATCH", f"/{segment_id}/visitor", {"patch": operations})


def ok_entry(op):
    return {"status": 200, "message": "", "operation": op}


def visitor(record_id, **values):
    return {"visitorId": record_id, "values": values}


def event(**changes):
    """A valid track event body, with some keys changed (None: the key left out)."""
    body = {
        "type": "track",
        "event": "Plan Upgraded",
        "visitorId": "u-0001",
        "accountId": "acc-001",
        "timestamp": 1700000000000,
        "properties": {"plan": "pro"},
        "context": {},
        **changes,
    }
    return {name: value for name, value in body.items() if value is not None}


def track(emu, body, *, key=SECRET, session=requests):
    """POST /data/track with a track secret (None: no key header at all)."""
    headers = {} if key is None else {"x-pendo-integration-key": key}
    return session.post(f"{emu.url}/data/track", json=body, headers=headers, timeout=10)


# ---------------------------------------------------------------- data


def test_default_data_has_demo_records_and_schema():
    data = EmulatorData.default()
    assert len(data.visitors) == 50 and {"u-0001", "u-0050"} <= data.visitors
    assert len(data.accounts) == 12 and {"acc-001", "acc-012"} <= data.accounts
    custom = data.schema["account"]["custom"]
    assert {name: entry["Type"] for name, entry in custom.items()} == {
        "name": "string",
        "plan": "string",
        "mrr": "float",
        "seats": "integer",
        "is_paying": "boolean",
        "created_at": "time",
        "industry": "string",
    }
    assert data.schema["visitor"]["custom"]["full_name"] == {
        "Type": "string",
        "DisplayName": "Full Name",
        "ElementType": "",
        "ElementFormat": "",
        "Dirty": False,
        "isHidden": False,
        "isDeleted": False,
        "isCalculated": False,
        "isPerApp": False,
    }
    assert set(data.schema["visitor"]["agent"]) == {"email", "full_name", "role", "language"}
    assert set(data.schema["account"]["agent"]) == {"name"}
    parent = data.schema["parentAccount"]
    assert {n: f["Type"] for n, f in parent["custom"].items()} == {
        "name": "string",
        "region": "string",
        "arr": "float",
        "renewal_date": "time",
    }
    assert parent["agent"] == {}


def test_from_file_accepts_all_lists_and_preset_values(tmp_path, make_emulator):
    path = tmp_path / "data.json"
    path.write_text(
        json.dumps(
            {
                "visitors": "all",
                "accounts": ["a-1"],
                "schema": {"account": {"custom": {"tier": {"Type": "integer"}}}},
                "values": {"account": {"a-2": {"tier": 3}}},
            }
        )
    )
    emu = make_emulator(data=EmulatorData.from_file(path))
    assert emu.fields("account") == {"tier": "integer"}
    assert emu.fields("visitor") == {}
    assert emu.all_values("account") == {"a-2": {"tier": 3}}
    body = write(emu, [{"accountId": "a-2", "values": {"tier": 4}}], kind="account").json()
    assert body["updated"] == 1  # preset values make a record known
    with pytest.raises(ValueError):
        EmulatorData.from_dict({"visitors": "some"})


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize("key", [None, "wrong"])
def test_bad_key_gets_403_with_empty_body(emu, key):
    answer = get(emu, "/api/v1/metadata/schema/visitor", key=key)
    assert answer.status_code == 403 and answer.content == b""
    assert emu.request_log()[-1].key_ok is False


def test_read_only_key_reads_but_cannot_write(emu):
    assert get(emu, "/api/v1/metadata/schema/visitor", key=READ_ONLY).ok
    answer = write(emu, [visitor("u-0001", role="x")], key=READ_ONLY)
    assert answer.status_code == 403 and answer.content == b""
    single = put(
        emu,
        "/api/v1/metadata/visitor/custom/value/u-0001/role",
        json="x",
        headers={"x-pendo-integration-key": READ_ONLY},
    )
    assert single.status_code == 403
    assert emu.values("visitor", "u-0001") == {}
    assert [r.key_ok for r in emu.request_log()] == [True, True, True]
    assert READ_ONLY not in repr(emu.request_log())


# ---------------------------------------------------------------- bulk writes


def test_bulk_write_answers_counts_and_missing_ids(emu):
    answer = write(
        emu,
        [
            visitor("u-0001", role="admin", events_30d=3),
            visitor("nobody", role="x"),
            visitor("u-0002", is_admin=True),
        ],
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"total": 3, "updated": 2, "failed": 1, "missing": ["nobody"], "errors": []}
    assert emu.all_values("visitor") == {
        "u-0001": {"role": "admin", "events_30d": 3},
        "u-0002": {"is_admin": True},
    }
    assert get(emu, "/api/v1/visitor/nobody").status_code == 404


def test_values_merge_and_null_clears(emu):
    write(emu, [visitor("u-0001", role="admin", email="a@example.com")])
    write(emu, [visitor("u-0001", role=None, full_name="Ann")])
    assert emu.values("visitor", "u-0001") == {"email": "a@example.com", "full_name": "Ann"}
    write(emu, [visitor("u-0001", email=None, full_name=None)])
    assert emu.values("visitor", "u-0001") == {}
    assert "u-0001" not in emu.all_values("visitor")


def test_create_true_creates_unknown_records(emu):
    body = write(
        emu, [{"accountId": "acc-new", "values": {"plan": "pro"}}], kind="account", params={"create": "true"}
    ).json()
    assert body == {"total": 1, "updated": 1, "failed": 0, "missing": [], "errors": []}
    record = get(emu, "/api/v1/account/acc-new").json()
    assert record == {"accountId": "acc-new", "metadata": {"custom": {"plan": "pro"}, "agent": {}}}


def test_all_known_ids(make_emulator):
    data = EmulatorData.default()
    data.visitors = "all"
    emu = make_emulator(data=data)
    assert write(emu, [visitor("anyone-at-all", role="x")]).json()["updated"] == 1
    assert get(emu, "/api/v1/visitor/someone-else").ok


def test_unknown_fields_rejected_for_whole_batch(emu):
    answer = write(emu, [visitor("u-0001", role="x"), visitor("u-0002", zeta=1, alpha=2)])
    assert answer.status_code == 400
    assert answer.json() == {"error": "missing field mappings: alpha, zeta"}
    assert emu.all_values("visitor") == {}


def test_unknown_fields_created_as_text(make_emulator):
    emu = make_emulator(unknown_fields="create_text")
    assert write(emu, [visitor("u-0001", nickname="Al")]).json()["updated"] == 1
    assert emu.fields("visitor")["nickname"] == "string"
    assert emu.values("visitor", "u-0001") == {"nickname": "Al"}


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("role", "x", True),
        ("role", 12, True),
        ("role", 1.5, True),
        ("role", True, True),
        ("is_admin", True, True),
        ("is_admin", "true", False),
        ("is_admin", 1, False),
        ("events_30d", 7, True),
        ("events_30d", True, False),
        ("events_30d", 1.5, False),
        ("events_30d", "7", False),
        ("signup_date", "2006-01-02T15:04:05.999-05:00", True),
        ("signup_date", "2024-01-01T00:00:00Z", True),
        ("signup_date", "yesterday", False),
        ("signup_date", 1700000000000, True),
        ("signup_date", True, False),
        ("role", None, True),
        ("events_30d", None, True),
    ],
)
def test_type_rules(emu, field, value, ok):
    assert write(emu, [visitor("u-0001", **{field: value})]).json()["updated"] == int(ok)


def test_account_float_field_takes_ints_and_floats(emu):
    records = [
        {"accountId": account_id, "values": {"mrr": mrr}}
        for account_id, mrr in [("acc-001", 10), ("acc-002", 9.5), ("acc-003", "9.5")]
    ]
    assert write(emu, records, kind="account").json()["updated"] == 2


def test_epoch_ms_dates_can_be_refused(make_emulator):
    emu = make_emulator(epoch_ms_dates=False)
    assert write(emu, [visitor("u-0001", signup_date=1700000000000)]).json()["failed"] == 1
    assert write(emu, [visitor("u-0001", signup_date="2024-01-01T00:00:00Z")]).json()["updated"] == 1


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("object", {"visitorId": "u-0002", "error": "field 'events_30d' expects integer, got 'abc'"}),
        ("text", "visitor u-0002: field 'events_30d' expects integer, got 'abc'"),
    ],
)
def test_type_errors_in_both_shapes(make_emulator, shape, expected):
    emu = make_emulator(errors_shape=shape)
    body = write(emu, [visitor("u-0001", role="ok"), visitor("u-0002", role="ok", events_30d="abc")]).json()
    assert body == {"total": 2, "updated": 1, "failed": 1, "missing": [], "errors": [expected]}
    assert emu.values("visitor", "u-0002") == {}  # a bad record is not written at all


def test_malformed_writes_get_400_text(emu):
    url = f"{emu.url}/api/v1/metadata/visitor/custom/value"
    as_json = {**AUTH, "content-type": "application/json"}
    as_text = {**AUTH, "content-type": "text/plain"}
    cases = [
        (requests.post(url, data="[{", headers=as_json, timeout=5), "not valid JSON"),
        (requests.post(url, data="[]", headers=as_text, timeout=5), "content-type"),
        (requests.post(url, json={"visitorId": "u-0001"}, headers=AUTH, timeout=5), "JSON array"),
        (write(emu, [{"accountId": "u-0001", "values": {}}]), "visitorId"),
        (write(emu, [visitor("u-0001", email="a")], group="secret"), "unknown metadata group: secret"),
    ]
    for answer, message in cases:
        assert answer.status_code == 400 and message in answer.text


def test_unknown_paths_answer_404(emu):
    for path in ["/api/v1/metadata/nothing/custom/value", "/api/v1/nothing", "/nothing"]:
        assert requests.post(emu.url + path, json=[], headers=AUTH, timeout=5).status_code == 404


# ---------------------------------------------------------------- the agent group


def test_agent_group_writes_like_custom_and_is_kept_apart(emu):
    body = write(
        emu,
        [visitor("u-0001", email="a@example.com", role="admin"), visitor("nobody", role="x")],
        group="agent",
    ).json()
    assert body == {"total": 2, "updated": 1, "failed": 1, "missing": ["nobody"], "errors": []}
    assert emu.values("visitor", "u-0001", group="agent") == {"email": "a@example.com", "role": "admin"}
    assert emu.values("visitor", "u-0001") == {} and emu.all_values("visitor") == {}
    write(emu, [visitor("u-0001", email="custom@example.com")])
    assert get(emu, "/api/v1/visitor/u-0001").json()["metadata"] == {
        "custom": {"email": "custom@example.com"},
        "agent": {"email": "a@example.com", "role": "admin"},
    }
    write(emu, [visitor("u-0001", role=None)], group="agent")
    assert emu.all_values("visitor", group="agent") == {"u-0001": {"email": "a@example.com"}}
    assert emu.write_calls() == 3


def test_agent_group_rules_and_faults_are_the_custom_ones(emu):
    answer = write(emu, [visitor("u-0001", is_admin=True)], group="agent")  # a custom field only
    assert answer.status_code == 400 and answer.json() == {"error": "missing field mappings: is_admin"}
    account = {"accountId": "acc-001", "values": {"name": 7}}
    assert write(emu, [account], kind="account", group="agent").json()["updated"] == 1
    emu.faults.add(Fault("partial", ids=frozenset({"u-0002"})))
    body = write(emu, [visitor("u-0001", role="x"), visitor("u-0002", role="y")], group="agent").json()
    assert body["failed"] == 1 and body["errors"][0]["visitorId"] == "u-0002"
    emu.faults.add(Fault("status", status=429, retry_after="1", first=1))
    assert write(emu, [visitor("u-0003", role="z")], group="agent").status_code == 429
    assert emu.all_values("visitor", group="agent") == {"u-0001": {"role": "x"}}
    path = "/api/v1/metadata/visitor/agent/value/u-0004/language"
    assert put(emu, path, json="fr").ok and get(emu, path).json() == "fr"
    with pytest.raises(ValueError, match="group"):
        emu.values("visitor", "u-0001", group="secret")


def test_agent_fields_in_the_schema(make_emulator):
    data = EmulatorData.default()
    data.schema["visitor"]["agent"]["tier"] = {"Type": "integer", "DisplayName": "Tier"}
    emu = make_emulator(data=data)
    schema = get(emu, "/api/v1/metadata/schema/visitor").json()
    assert set(schema["agent"]) == {"email", "full_name", "role", "language", "tier"}
    assert get(emu, "/api/v1/metadata/schema/account").json()["agent"]["name"]["Type"] == "string"
    assert emu.fields("visitor", group="agent")["tier"] == "integer"
    assert write(emu, [visitor("u-0001", tier="high")], group="agent").json()["failed"] == 1
    emu.set_value("visitor", "u-0001", "tier", 2, group="agent")
    assert get(emu, "/_emulator/values/visitor?group=agent", key=None).json() == {"u-0001": {"tier": 2}}
    bare = make_emulator(data=EmulatorData.from_dict({}))
    assert get(bare, "/api/v1/metadata/schema/account").json() == {"custom": {}, "agent": {}}


# ---------------------------------------------------------------- single values, schema, verify, records


def test_single_value_put_and_get(emu):
    path = "/api/v1/metadata/account/custom/value/acc-001/seats"
    assert get(emu, path).status_code == 404
    answer = put(emu, path, json=25)
    assert answer.status_code == 200 and answer.json() == {}
    assert get(emu, path).json() == 25
    assert put(emu, path, json="many").status_code == 400
    assert put(emu, "/api/v1/metadata/account/custom/value/acc-999/seats", json=1).status_code == 404
    assert put(emu, path, data="null", headers={"content-type": "application/json"}).ok
    assert emu.values("account", "acc-001") == {}


def test_schema_get_and_post(emu):
    schema = get(emu, "/api/v1/metadata/schema/account").json()
    assert schema["custom"]["seats"]["Type"] == "integer" and "agent" in schema

    def create(spec):
        url = f"{emu.url}/api/v1/metadata/schema/account/custom"
        return requests.post(url, json=[spec], headers=AUTH, timeout=5)

    created = create({"name": "arr", "displayname": "ARR", "type": "number"})
    assert created.status_code == 200
    assert created.json()["arr"]["Type"] == "float" and created.json()["arr"]["DisplayName"] == "ARR"
    assert get(emu, "/api/v1/metadata/schema/account").json()["custom"]["arr"]["Type"] == "float"
    assert emu.fields("account")["arr"] == "float"
    for bad in [
        {"name": "9lives", "type": "string"},
        {"name": "ok", "type": "list"},
        {"name": "arr", "type": "string"},
    ]:
        assert create(bad).status_code == 400
    parent = get(emu, "/api/v1/metadata/schema/parentAccount").json()
    assert set(parent["custom"]) == {"name", "region", "arr", "renewal_date"} and parent["agent"] == {}


def test_verify_reports_write_access(make_emulator):
    emu = make_emulator()
    assert get(emu, "/api/v1/token/verify").json() == {"valid": True, "writeAccess": True}
    assert get(emu, "/api/v1/token/verify", key=READ_ONLY).json() == {"valid": True, "writeAccess": False}
    off = make_emulator(verify_endpoint=False)
    assert get(off, "/api/v1/token/verify").status_code == 404


def test_seeded_values_show_on_records(emu):
    emu.set_value("visitor", "u-0003", "role", "owner")
    emu.add_records("visitor", ["u-new"])
    record = get(emu, "/api/v1/visitor/u-0003").json()
    assert record["metadata"]["custom"] == {"role": "owner"}
    assert get(emu, "/api/v1/visitor/u-new").ok


# ---------------------------------------------------------------- faults


def test_status_fault_with_retry_after_does_not_write(emu):
    emu.faults.add(Fault("status", status=429, retry_after="3", first=1))
    answer = write(emu, [visitor("u-0001", role="x")])
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    assert emu.values("visitor", "u-0001") == {}
    assert write(emu, [visitor("u-0001", role="x")]).status_code == 200
    assert emu.values("visitor", "u-0001") == {"role": "x"}


def test_status_fault_without_retry_after(emu):
    emu.faults.add(Fault("status", status=503))
    answer = write(emu, [visitor("u-0001", role="x")])
    assert answer.status_code == 503 and "Retry-After" not in answer.headers


def test_drop_fault_closes_connection_without_answer(emu):
    emu.faults.add(Fault("drop", first=1))
    with pytest.raises(requests.ConnectionError):
        write(emu, [visitor("u-0001", role="x")])
    assert emu.request_log()[-1].status == 0
    assert emu.write_calls() == 1 and emu.values("visitor", "u-0001") == {}
    assert write(emu, [visitor("u-0001", role="x")]).ok


def test_delay_fault_answers_late(emu):
    emu.faults.add(Fault("delay", delay=0.2))
    started = time.monotonic()
    assert write(emu, [visitor("u-0001", role="x")]).ok
    assert time.monotonic() - started >= 0.2


def test_malformed_fault_writes_then_answers_garbage(emu):
    emu.faults.add(Fault("malformed"))
    answer = write(emu, [visitor("u-0001", role="x")])
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()
    assert emu.values("visitor", "u-0001") == {"role": "x"}


def test_partial_fault_turns_ids_into_errors(emu):
    emu.faults.add(Fault("partial", ids=frozenset({"u-0002"})))
    body = write(emu, [visitor("u-0001", role="x"), visitor("u-0002", role="x")]).json()
    assert body["updated"] == 1 and body["failed"] == 1 and body["errors"][0]["visitorId"] == "u-0002"
    assert emu.all_values("visitor") == {"u-0001": {"role": "x"}}


def test_bad_rows_fault_rejects_batch(emu):
    emu.faults.add(Fault("bad_rows", ids=frozenset({"u-0002"})))
    answer = write(emu, [visitor("u-0001", role="x"), visitor("u-0002", role="x")])
    assert answer.status_code == 400 and answer.json() == {"error": "invalid value for u-0002"}
    assert emu.all_values("visitor") == {}
    assert write(emu, [visitor("u-0001", role="x")]).ok


def test_fault_on_chosen_write_calls_only(emu):
    emu.faults.add(Fault("status", status=502, requests=frozenset({2, 4})))
    emu.faults.add(Fault("status", status=500, first=1))
    get(emu, "/api/v1/metadata/schema/visitor")  # not a write call
    statuses = [write(emu, [visitor("u-0001", role="x")]).status_code for _ in range(5)]
    assert statuses == [500, 502, 200, 502, 200]
    assert emu.write_calls() == 5


def test_rate_faults_are_deterministic(make_emulator):
    def faulted_calls(seed):
        emu = make_emulator()
        emu.faults.add(Fault("status", status=503, rate=0.5, seed=seed))
        session = requests.Session()
        statuses = [write(emu, [visitor("u-0001", role="x")], session=session).status_code for _ in range(20)]
        return [n for n, status in enumerate(statuses, start=1) if status == 503]

    first = faulted_calls(7)
    assert 0 < len(first) < 20
    assert faulted_calls(7) == first


def test_path_prefix_aims_faults_at_other_endpoints(emu):
    emu.faults.add(Fault("status", status=500, path_prefix="/api/v1/token/"))
    assert get(emu, "/api/v1/token/verify").status_code == 500
    assert write(emu, [visitor("u-0001", role="x")]).ok


# ---------------------------------------------------------------- track events


def test_track_event_accepted_and_recorded(emu):
    first, second = event(), event(event="Seat Added", accountId=None, properties=None)
    answer = track(emu, first)
    assert answer.status_code == 200 and answer.content == b""
    assert track(emu, second).status_code == 200
    assert emu.tracked_events() == [first, second]
    assert emu.track_calls() == 2 and emu.write_calls() == 0
    record = emu.request_log()[0]
    assert (record.method, record.path, record.key_ok, record.status) == ("POST", "/data/track", True, 200)
    assert record.body == first and SECRET not in repr(emu.request_log())


@pytest.mark.parametrize("key", [None, "wrong", KEY])
def test_track_refuses_anything_but_the_secret(emu, key):
    answer = track(emu, event(), key=key)
    assert answer.status_code == 403 and answer.content == b""
    assert emu.tracked_events() == [] and emu.request_log()[-1].key_ok is False


def test_integration_key_is_not_accepted_by_track_nor_the_secret_by_the_api(emu):
    assert track(emu, event(), key=KEY).status_code == 403
    assert get(emu, "/api/v1/metadata/schema/visitor", key=SECRET).status_code == 403


def test_track_without_a_secret_refuses_every_event(make_emulator):
    emu = make_emulator(track_secret=None)
    for key in [None, "", KEY, SECRET]:
        answer = track(emu, event(), key=key)
        assert answer.status_code == 403 and "the emulator has no track secret" in answer.text
    assert emu.tracked_events() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "identify"}, '"type" must be "track"'),
        ({"type": None}, '"type" must be "track"'),
        ({"event": None}, '"event" must be a non-blank string'),
        ({"event": "  "}, '"event" must be a non-blank string'),
        ({"event": 7}, '"event" must be a non-blank string'),
        ({"visitorId": None}, '"visitorId" must be a non-blank string'),
        ({"visitorId": ""}, '"visitorId" must be a non-blank string'),
        ({"visitorId": 12}, '"visitorId" must be a non-blank string'),
        ({"accountId": 3}, '"accountId" must be a string when present'),
        ({"timestamp": None}, '"timestamp" must be an integer above 0 (epoch milliseconds)'),
        ({"timestamp": 0}, '"timestamp" must be an integer above 0'),
        ({"timestamp": -5}, '"timestamp" must be an integer above 0'),
        ({"timestamp": 1.7e12}, '"timestamp" must be an integer above 0'),
        ({"timestamp": "1700000000000"}, '"timestamp" must be an integer above 0'),
        ({"timestamp": True}, '"timestamp" must be an integer above 0'),
        ({"context": None}, '"context" is required and must be an object'),
        ({"context": []}, '"context" is required and must be an object'),
        ({"properties": "plan=pro"}, '"properties" must be an object when present'),
    ],
)
def test_track_body_rules(emu, changes, message):
    answer = track(emu, event(**changes))
    assert answer.status_code == 400 and message in answer.text
    assert emu.tracked_events() == []


def test_track_body_must_be_one_json_object(emu):
    url = f"{emu.url}/data/track"
    headers = {"x-pendo-integration-key": SECRET, "content-type": "application/json"}
    as_text = {**headers, "content-type": "text/plain"}
    cases = [
        (track(emu, [event()]), "body must be a JSON object: one track event"),
        (requests.post(url, data="{", headers=headers, timeout=5), "body is not valid JSON"),
        (requests.post(url, data=json.dumps(event()), headers=as_text, timeout=5), "content-type"),
    ]
    for answer, message in cases:
        assert answer.status_code == 400 and message in answer.text
    assert requests.get(url, headers=headers, timeout=5).status_code == 404


def test_track_answer_variants(make_emulator):
    emu = make_emulator(track_answer="json")
    answer = track(emu, event())
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    emu.set_track_answer("empty")
    assert track(emu, event()).content == b""
    with pytest.raises(ValueError, match="track_answer"):
        emu.set_track_answer("xml")
    with pytest.raises(ValueError, match="track_answer"):
        PendoEmulator(KEY, track_answer="text")


def test_track_429_fault_with_retry_after(emu):
    emu.faults.add(Fault("status", status=429, retry_after="2", first=1, path_prefix="/data/track"))
    write(emu, [visitor("u-0001", role="x")])  # metadata writes are neither faulted nor counted
    answer = track(emu, event())
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    assert emu.tracked_events() == []
    assert track(emu, event()).status_code == 200
    assert emu.track_calls() == 2 and len(emu.tracked_events()) == 1


@pytest.mark.parametrize("status", [409, 500, 503])
def test_track_status_faults_on_chosen_calls(emu, status):
    emu.faults.add(Fault("status", status=status, requests=frozenset({2}), path_prefix="/data/track"))
    assert [track(emu, event()).status_code for _ in range(3)] == [200, status, 200]
    assert len(emu.tracked_events()) == 2


def test_track_drop_and_malformed_faults(emu):
    emu.faults.add(Fault("drop", first=1, path_prefix="/data/track"))
    with pytest.raises(requests.ConnectionError):
        track(emu, event())
    assert emu.tracked_events() == [] and emu.request_log()[-1].status == 0
    emu.faults.clear()
    emu.faults.add(Fault("malformed", path_prefix="/data/track"))
    answer = track(emu, event())
    assert answer.status_code == 200 and answer.content.startswith(b'{"total"')
    assert len(emu.tracked_events()) == 1  # accepted, then answered with garbage


def test_partial_and_bad_rows_faults_do_not_touch_track(emu):
    emu.faults.add(Fault("partial", ids=frozenset({"u-0001"}), path_prefix="/data/track"))
    emu.faults.add(Fault("bad_rows", ids=frozenset({"u-0001"}), path_prefix="/data/track"))
    assert track(emu, event(visitorId="u-0001")).status_code == 200
    assert len(emu.tracked_events()) == 1


# ---------------------------------------------------------------- segments


def test_segment_upload_read_and_list(emu):
    ui_id = emu.add_segment("Made in the UI", ["u-0009"])
    answer = upload(emu, "Trial users", ["u-0001", "u-0002", "u-0001"])
    assert answer.status_code == 200 and set(answer.json()) == {"segmentId"}
    segment_id = answer.json()["segmentId"]
    shown = segment_call(emu, "GET", f"/{segment_id}", key=READ_ONLY).json()
    assert shown["id"] == segment_id and shown["name"] == "Trial users" and shown["createdByApi"] is True
    assert shown["createdAt"] == shown["lastUpdatedAt"] > 0 and isinstance(shown["definition"], dict)
    by_api = segment_call(emu, "GET", "?createdByApi=true").json()
    assert by_api == [shown]
    assert [s["id"] for s in segment_call(emu, "GET", "?createdByApi=false").json()] == [ui_id]
    assert {s["id"] for s in segment_call(emu, "GET").json()} == {ui_id, segment_id}
    assert segment_call(emu, "GET", "?createdByApi=maybe").status_code == 400
    assert emu.segment_members("Trial users") == emu.segment_members(segment_id) == {"u-0001", "u-0002"}
    assert emu.segments()[segment_id] == {
        "name": "Trial users",
        "createdByApi": True,
        "members": ["u-0001", "u-0002"],
    }
    assert emu.segment_calls() == 1  # reads are not counted
    assert get(emu, "/_emulator/segments", key=None).json() == emu.segments()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Empty", "visitors": []}, "Pendo requires at least one visitor"),
        ({"name": "No list"}, "Pendo requires at least one visitor"),
        ({"name": "  ", "visitors": ["u-0001"]}, '"name" must be a non-blank string'),
        ({"visitors": ["u-0001"]}, '"name" must be a non-blank string'),
        ({"name": "Bad ids", "visitors": ["u-0001", 7]}, '"visitors" must be a list of non-empty'),
        ({"name": "Bad ids", "visitors": "u-0001"}, '"visitors" must be a list of non-empty'),
        (["u-0001"], "body must be a JSON object"),
    ],
)
def test_segment_upload_refusals(emu, body, message):
    answer = segment_call(emu, "POST", "/upload", body)
    assert answer.status_code == 400 and message in answer.text
    assert emu.segments() == {} and emu.segment_calls() == 1


def test_segment_writes_need_a_write_key(emu):
    assert upload(emu, "Trial users", ["u-0001"], key=READ_ONLY).status_code == 403
    segment_id = emu.add_segment("Trial users", ["u-0001"], created_by_api=True)
    answer = segment_call(emu, "PATCH", f"/{segment_id}/visitor", {"patch": []}, key=READ_ONLY)
    assert answer.status_code == 403 and answer.content == b""
    assert segment_call(emu, "GET", key="wrong").status_code == 403


def test_segment_patch_adds_and_removes(emu):
    segment_id = upload(emu, "Trial users", ["u-0001", "u-0002"]).json()["segmentId"]
    created = segment_call(emu, "GET", f"/{segment_id}").json()["createdAt"]
    time.sleep(0.01)
    answer = patch_members(emu, segment_id, add=["u-0003", "u-0004"], remove=["u-0001", "u-0099"])
    assert answer.status_code == 200
    assert answer.json() == {"multistatus": [ok_entry("add"), ok_entry("remove")]}
    assert emu.segment_members(segment_id) == {"u-0002", "u-0003", "u-0004"}
    assert segment_call(emu, "GET", f"/{segment_id}").json()["lastUpdatedAt"] > created
    assert patch_members(emu, segment_id, remove=["u-0002"]).json() == {"multistatus": [ok_entry("remove")]}
    assert emu.segment_members(segment_id) == {"u-0003", "u-0004"}
    assert emu.segment_calls() == 3


def test_segment_patch_takes_1000_ids_per_operation(emu):
    segment_id = upload(emu, "Big", ["u-0001"]).json()["segmentId"]
    ids = [f"v{i}" for i in range(1001)]
    answer = patch_members(emu, segment_id, add=ids)
    assert answer.status_code == 400 and "at most 1000 visitor ids per operation, got 1001" in answer.text
    assert emu.segment_members(segment_id) == {"u-0001"}
    assert patch_members(emu, segment_id, add=ids[:1000], remove=ids[:1000]).ok


def test_unknown_and_deleted_segments_answer_404(emu):
    assert segment_call(emu, "GET", "/no-such-segment").status_code == 404
    assert patch_members(emu, "no-such-segment", add=["u-0001"]).status_code == 404
    segment_id = upload(emu, "Trial users", ["u-0001"]).json()["segmentId"]
    emu.delete_segment(segment_id)
    assert segment_call(emu, "GET", f"/{segment_id}").status_code == 404
    assert patch_members(emu, segment_id, add=["u-0002"]).status_code == 404
    assert segment_call(emu, "GET", "?createdByApi=true").json() == []
    with pytest.raises(KeyError):
        emu.delete_segment(segment_id)
    with pytest.raises(KeyError):
        emu.segment_members("Trial users")
    again = upload(emu, "Trial users", ["u-0001"]).json()["segmentId"]
    assert again != segment_id  # ids are never reused


def test_segment_members_by_an_ambiguous_name(emu):
    emu.add_segment("Twins", ["u-0001"])
    emu.add_segment("Twins", ["u-0002"])
    with pytest.raises(ValueError, match="2 segments are named 'Twins'"):
        emu.segment_members("Twins")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["add"], "body must be"),
        ({"ops": []}, "body must be"),
        ({"patch": []}, "body must be"),
        ({"patch": ["add"]}, "patch[0] must be an object"),
        ({"patch": [{"op": "replace", "path": "/visitors", "value": []}]}, '"op" must be "add" or "remove"'),
        ({"patch": [{"op": "add", "path": "/accounts", "value": []}]}, '"path" must be "/visitors"'),
        ({"patch": [{"op": "add", "path": "/visitors", "value": "u-0001"}]}, '"value" must be a list'),
        ({"patch": [{"op": "add", "path": "/visitors", "value": [1]}]}, '"value" must be a list'),
        ({"patch": [{"op": "add", "path": "/visitors"}]}, '"value" must be a list'),
        (
            {"patch": [{"op": "add", "path": "/visitors", "value": ["a"]}] * 2},
            'at most one "add" and one "remove"',
        ),
    ],
)
def test_malformed_segment_patch_gets_400(emu, body, message):
    segment_id = upload(emu, "Trial users", ["u-0001"]).json()["segmentId"]
    answer = segment_call(emu, "PATCH", f"/{segment_id}/visitor", body)
    assert answer.status_code == 400 and message in answer.text
    assert emu.segment_members(segment_id) == {"u-0001"}


def test_segment_upload_answer_with_a_status_url(make_emulator):
    emu = make_emulator(segment_upload_answer="status_url")
    body = upload(emu, "Trial users", ["u-0001"]).json()
    assert body == {"segmentId": body["segmentId"], "statusUrl": f"/api/v1/segment/{body['segmentId']}"}
    assert get(emu, body["statusUrl"]).json()["id"] == body["segmentId"]
    with pytest.raises(ValueError, match="segment_upload_answer"):
        PendoEmulator(KEY, segment_upload_answer="async")


@pytest.mark.parametrize(("operation", "other"), [("add", "remove"), ("remove", "add")])
def test_multistatus_fault_fails_one_operation_of_the_nth_patch(emu, operation, other):
    emu.faults.add(Fault("multistatus", operation=operation, status=500, requests=frozenset({2})))
    segment_id = upload(emu, "Trial users", ["u-0001", "u-0002"]).json()["segmentId"]  # not a PATCH
    assert patch_members(emu, segment_id, add=["u-0003"]).ok
    answer = patch_members(emu, segment_id, add=["u-0004"], remove=["u-0001"])
    assert answer.status_code == 200
    entries = {entry["operation"]: entry for entry in answer.json()["multistatus"]}
    assert entries[other] == ok_entry(other)
    assert entries[operation]["status"] == 500 and "injected fault" in entries[operation]["message"]
    expected = {"add": {"u-0002", "u-0003"}, "remove": {"u-0001", "u-0002", "u-0003", "u-0004"}}
    assert emu.segment_members(segment_id) == expected[operation]
    third = patch_members(emu, segment_id, add=["u-0005"], remove=["u-0002"]).json()
    assert third == {"multistatus": [ok_entry("add"), ok_entry("remove")]}


def test_multistatus_fault_from_the_control_surface_and_its_checks(emu):
    fault = {"kind": "multistatus", "operation": "remove", "status": 400, "first": 1}
    assert requests.post(f"{emu.url}/_emulator/faults", json=fault, timeout=5).ok
    segment_id = upload(emu, "Trial users", ["u-0001"]).json()["segmentId"]
    entry = patch_members(emu, segment_id, remove=["u-0001"]).json()["multistatus"][0]
    assert entry["status"] == 400 and entry["operation"] == "remove"
    assert emu.segment_members(segment_id) == {"u-0001"}
    assert patch_members(emu, segment_id, remove=["u-0001"]).json()["multistatus"] == [ok_entry("remove")]
    with pytest.raises(ValueError, match="operation"):
        Fault("multistatus", operation="replace")
    with pytest.raises(ValueError, match="PATCH"):
        Fault("multistatus", method="POST")


def test_status_faults_on_segment_paths(emu):
    emu.faults.add(Fault("status", status=409, first=1, path_prefix="/api/v1/segment"))
    emu.faults.add(
        Fault("status", status=429, retry_after="1", first=1, method="PATCH", path_prefix="/api/v1/segment")
    )
    assert write(emu, [visitor("u-0001", role="x")]).ok  # metadata writes are not aimed at
    refused = upload(emu, "Trial users", ["u-0001"])
    assert refused.status_code == 409 and emu.segments() == {}
    segment_id = upload(emu, "Trial users", ["u-0001"]).json()["segmentId"]
    answer = patch_members(emu, segment_id, add=["u-0002"])
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert emu.segment_members(segment_id) == {"u-0001"}
    assert patch_members(emu, segment_id, add=["u-0002"]).ok
    assert emu.segment_members(segment_id) == {"u-0001", "u-0002"}
    stats = get(emu, "/_emulator/stats", key=None).json()
    assert stats["segment_calls"] == 4 and stats["segments"] == 1 and stats["write_calls"] == 1


# ---------------------------------------------------------------- latency and concurrency


def test_latency_lets_concurrent_keep_alive_clients_wait_side_by_side(make_emulator):
    """Speed is measured in benchmarks: here only that 32 delayed requests were in flight at once."""
    emu = make_emulator()
    clients = 32
    sessions = [requests.Session() for _ in range(clients)]
    for session in sessions:  # open the kept-alive connections first
        assert track(emu, event(), session=session).ok
    emu.set_latency_ms(500)
    emu.reset_log()
    ready = threading.Barrier(clients)
    statuses: list[int] = []

    def client(session):
        ready.wait()
        statuses.append(track(emu, event(), session=session).status_code)

    threads = [threading.Thread(target=client, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in sessions:
        session.close()
    assert statuses == [200] * clients
    assert emu.max_in_flight() == clients


def test_latency_must_be_a_whole_number_of_milliseconds(emu):
    for bad in [-1, 1.5, "10"]:
        with pytest.raises(ValueError, match="latency_ms"):
            emu.set_latency_ms(bad)
    with pytest.raises(ValueError, match="latency_ms"):
        PendoEmulator(KEY, latency_ms=-5)


def _held_while_a_read_is_answered(emu, records) -> None:
    """A bulk write of `records` is held by its latency while a GET is answered: no clock is
    read, the emulator's in_flight count shows which call waits."""
    statuses: list[int] = []
    writer = threading.Thread(target=lambda: statuses.append(write(emu, records).status_code))
    writer.start()
    wait_until(lambda: emu.in_flight() == 1, "the write to be held by its latency")
    assert get(emu, "/api/v1/metadata/schema/visitor").ok
    assert emu.in_flight() == 1 and statuses == []
    writer.join()
    assert statuses == [200]


def test_latency_per_kind_of_call_and_per_record(make_emulator):
    """Pendo answers a read in milliseconds and a bulk write in a time that grows with its
    records: each kind of call has its own latency, and a delay per record adds up."""
    emu = make_emulator(latency_ms={"bulk": 1500})
    _held_while_a_read_is_answered(emu, [visitor("u-0001", role="admin")])
    emu.set_latency_ms(0, per_record_ms=500)  # a read carries no record
    _held_while_a_read_is_answered(emu, [visitor("u-0001", role="a"), visitor("u-0002", role="b")])


def test_latency_per_kind_is_checked():
    assert parse_latency("250") == dict.fromkeys(KINDS, 250)
    assert parse_latency("bulk=250, get=5") == {**dict.fromkeys(KINDS, 0), "bulk": 250, "get": 5}
    assert parse_latency("250,get=5") == {**dict.fromkeys(KINDS, 250), "get": 5}
    for bad in ["", "bulk=x", "reads=5", "1.5", "bulk=-1"]:
        with pytest.raises(ValueError, match="KIND=N"):
            parse_latency(bad)
    with pytest.raises(ValueError, match="unknown kind 'reads'"):
        PendoEmulator(KEY, latency_ms={"reads": 5})
    with pytest.raises(ValueError, match="latency_ms"):
        PendoEmulator(KEY, latency_ms={"bulk": 1.5})
    with pytest.raises(ValueError, match="latency_per_record_ms"):
        PendoEmulator(KEY, latency_per_record_ms=-1)


# ---------------------------------------------------------------- rate limit


def test_rate_limit_answers_429_with_retry_after_beyond_the_cap(make_emulator):
    """20 calls in a burst against 5 per second: the first 5 pass, later ones get 429."""
    emu = make_emulator(rate_limit=5)
    with requests.Session() as session:
        answers = [write(emu, [visitor("u-0001", events_30d=i)], session=session) for i in range(20)]
        stats = session.get(f"{emu.url}/_emulator/stats", timeout=5)  # never throttled
    statuses = [answer.status_code for answer in answers]
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert statuses[:5] == [200] * 5 and throttled
    assert statuses.count(200) + len(throttled) == 20
    for answer in throttled:
        assert int(answer.headers["Retry-After"]) >= 1
        assert Retry().parse_retry_after(answer.headers["Retry-After"]) >= 1  # the client reads it
        assert answer.json() == {"error": "too many requests: at most 5 calls per second"}
    assert stats.status_code == 200
    assert stats.json()["throttled"] == emu.throttled() == len(throttled)
    assert stats.json()["statuses"] == {"200": statuses.count(200), "429": len(throttled)}
    assert emu.write_calls() == statuses.count(200)  # throttled calls are not numbered


def test_rate_limit_covers_track_and_segment_calls_too(make_emulator):
    emu = make_emulator(rate_limit=1)
    assert track(emu, event()).ok
    assert track(emu, event()).status_code == 429
    assert upload(emu, "Trial", ["u-0001"]).status_code == 429
    assert get(emu, "/api/v1/metadata/schema/visitor").status_code == 429
    assert emu.throttled() == 3 and emu.track_calls() == 1 and emu.segment_calls() == 0
    assert len(emu.tracked_events()) == 1


def test_throttled_calls_do_not_advance_faults(make_emulator):
    emu = make_emulator(rate_limit=1)
    emu.faults.add(Fault("status", status=503, requests={2}))
    assert write(emu, [visitor("u-0001", role="a")]).status_code == 200
    assert write(emu, [visitor("u-0001", role="b")]).status_code == 429
    emu.set_rate_limit(None)
    assert write(emu, [visitor("u-0001", role="c")]).status_code == 503  # the 2nd numbered call
    assert emu.values("visitor", "u-0001") == {"role": "a"}


def test_set_rate_limit_at_runtime(emu):
    assert all(write(emu, [visitor("u-0001", role="x")]).ok for _ in range(10))  # no cap
    emu.set_rate_limit(1)
    assert write(emu, [visitor("u-0001", role="x")]).ok
    assert write(emu, [visitor("u-0001", role="x")]).status_code == 429
    emu.set_rate_limit(0)
    assert write(emu, [visitor("u-0001", role="x")]).ok
    for bad in [-1, 1.5, "10", True]:
        with pytest.raises(ValueError, match="rate_limit"):
            emu.set_rate_limit(bad)
    with pytest.raises(ValueError, match="rate_limit"):
        PendoEmulator(KEY, rate_limit=-5)


def test_rate_limit_is_a_sliding_one_second_window():
    now = [100.0]
    limit = RateLimit(2, clock=lambda: now[0])
    assert limit.admit() is None
    now[0] = 100.4
    assert limit.admit() is None
    assert limit.admit() == pytest.approx(0.6)  # until the call at 100.0 is a second old
    now[0] = 101.0
    assert limit.admit() is None
    assert limit.admit() == pytest.approx(0.4)  # refused calls do not use up the allowance
    limit.set(1)
    assert limit.admit() == pytest.approx(1.0)  # the call at 101.0 must leave the window too
    limit.set(None)
    assert limit.admit() is None


# ---------------------------------------------------------------- keep_bodies


def test_without_keep_bodies_only_counters_are_kept(make_emulator):
    emu = make_emulator(keep_bodies=False)
    assert write(emu, [visitor("u-0001", role="admin")]).ok
    assert write(emu, [visitor("u-0001", role="x")], key="bad").status_code == 403
    assert track(emu, event()).ok
    assert upload(emu, "Trial", ["u-0001"]).ok
    assert emu.request_log() == [] and emu.tracked_events() == []
    assert emu.values("visitor", "u-0001") == {"role": "admin"}  # the Pendo database is kept
    assert [s["members"] for s in emu.segments().values()] == [["u-0001"]]
    stats = emu.stats()
    assert (stats["requests"], stats["statuses"]) == (4, {"200": 3, "403": 1})
    assert (stats["write_calls"], stats["track_calls"], stats["tracked_events"]) == (2, 1, 1)


# ---------------------------------------------------------------- control surface, log, connections


def test_control_surface(emu):
    assert requests.post(f"{emu.url}/_emulator/faults", json={"kind": "status", "status": 504}, timeout=5).ok
    assert write(emu, [visitor("u-0001", role="x")]).status_code == 504
    assert requests.delete(f"{emu.url}/_emulator/faults", timeout=5).ok
    assert write(emu, [visitor("u-0001", role="x")]).ok
    assert get(emu, "/_emulator/values/visitor", key=None).json() == {"u-0001": {"role": "x"}}
    assert track(emu, event()).ok
    stats = get(emu, "/_emulator/stats", key=None).json()
    usage = {name: stats.pop(name) for name in ("cpu_seconds", "peak_rss_mb", "send_seconds")}
    assert stats == {
        "write_calls": 2,
        "track_calls": 1,
        "segment_calls": 0,
        "read_calls": 0,
        "read_rows": 0,
        "segments": 0,
        "tracked_events": 1,
        "requests": 3,
        "statuses": {"200": 2, "504": 1},
        "write_records": {"200": 1, "504": 1},
        "in_flight": 0,
        "throttled": 0,
        "max_in_flight": 1,
    }
    assert usage["cpu_seconds"] > 0 and usage["peak_rss_mb"] > 0  # this test process's own
    assert usage["send_seconds"] > 0  # from the first write's arrival to the track call's answer
    assert requests.post(f"{emu.url}/_emulator/faults", json={"kind": "nope"}, timeout=5).status_code == 400


def test_request_log_and_reset(emu):
    write(emu, [visitor("u-0001", role="x")], params={"create": "true"})
    (record,) = emu.request_log()
    assert record.method == "POST" and record.path == "/api/v1/metadata/visitor/custom/value"
    assert record.query == {"create": "true"} and record.content_type == "application/json"
    assert record.key_ok and record.status == 200 and record.body == [visitor("u-0001", role="x")]
    assert KEY not in repr(record)
    emu.reset_log()
    assert emu.request_log() == [] and emu.write_calls() == 0
    assert (emu.stats()["requests"], emu.stats()["statuses"]) == (0, {})


def test_keep_alive_reuses_one_connection(emu):
    with requests.Session() as session:
        for i in range(50):
            if i % 10 == 0:
                answer = write(emu, [visitor("u-0001", role="x")], key="bad", session=session)
                assert answer.status_code == 403
            else:
                assert write(emu, [visitor("u-0001", events_30d=i)], session=session).ok
        pools = session.get_adapter(emu.url).poolmanager.pools
        assert [pools[key].num_connections for key in pools.keys()] == [1]
    assert emu.write_calls() == 50


def test_concurrent_writers(make_emulator):
    data = EmulatorData.default()
    data.visitors = "all"
    emu = make_emulator(data=data)

    def push(thread):
        with requests.Session() as session:
            for batch in range(10):
                ids = [f"t{thread}-{batch}-{i}" for i in range(50)]
                answer = write(emu, [visitor(i, events_30d=1) for i in ids], session=session)
                assert answer.json()["updated"] == 50

    threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert emu.write_calls() == 40 and len(emu.all_values("visitor")) == 2000


def test_stop_closes_kept_alive_connections():
    emu = PendoEmulator(KEY).start()
    with requests.Session() as session:
        assert write(emu, [visitor("u-0001", role="x")], session=session).ok
        emu.stop()
        with pytest.raises(requests.ConnectionError):
            write(emu, [visitor("u-0001", role="x")], session=session)
