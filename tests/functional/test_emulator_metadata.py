"""Metadata writes on the emulator: the demo data and data files, bulk writes and their counts, type
rules per field type, malformed writes, the agent group beside the custom one, single values, the
field schemas and records."""

from __future__ import annotations

import json

import pytest
import requests

from dbt_pendo_sync.emulator import EmulatorData, Fault

from ..support import emulator_calls
from ..support.emulator_calls import AUTH, get, put, visitor, write

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


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


# ---------------------------------------------------------------- single values, schema, records


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


def test_seeded_values_show_on_records(emu):
    emu.set_value("visitor", "u-0003", "role", "owner")
    emu.add_records("visitor", ["u-new"])
    record = get(emu, "/api/v1/visitor/u-0003").json()
    assert record["metadata"]["custom"] == {"role": "owner"}
    assert get(emu, "/api/v1/visitor/u-new").ok
