"""Reading Pendo's values back (pendo/reading.py) with the real client against the emulator:
paging by id, each open point of the aggregation endpoint played both ways, retries, keys,
and drift made by hand in Pendo."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
import requests

from dbt_pendo_sync.emulator import EmulatorData, Fault, PendoEmulator
from dbt_pendo_sync.errors import PendoAuthError, PendoError, PendoUnreachableError
from dbt_pendo_sync.pendo.client import PendoClient, RetryNotice
from dbt_pendo_sync.pendo.policy import RetryPolicy
from dbt_pendo_sync.pendo.reading import read_values
from dbt_pendo_sync.pendo.settings import PendoSettings
from dbt_pendo_sync.safety import Secret

KEY = "rb-integration-key"
READ_ONLY = "rb-read-only-key"
PATH = "/api/v1/aggregation"
FIELDS = [("custom", "plan"), ("custom", "signup"), ("agent", "role")]
# Ids a filter must quote: a quote, a backslash, a space, text beyond ASCII.
ODD_IDS = ['v"quoted', "v\\slash", "v space", "vé", "v日本"]
RECORDS = 12_000
BASE_MS = 1_700_000_000_000


def _signup(i: int) -> int | str:
    """Half the times written as epoch ms, half as RFC 3339 text with microseconds."""
    if i % 2:
        return BASE_MS + i
    instant = dt.datetime.fromtimestamp((BASE_MS + i * 1000) / 1000, dt.timezone.utc) + dt.timedelta(
        microseconds=456
    )
    return instant.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()


def _data() -> EmulatorData:
    """RECORDS visitors: most with values, the odd ids too, the last 10 known without any."""
    ids = [f"u-{i:05d}" for i in range(RECORDS - len(ODD_IDS) - 10)] + ODD_IDS
    return EmulatorData.from_dict(
        {
            "visitors": [f"w-{i}" for i in range(10)],
            "schema": {
                "visitor": {
                    "custom": {"plan": {"Type": "string"}, "signup": {"Type": "time"}},
                    "agent": {"role": {"Type": "string"}},
                },
                "account": {"custom": {"tier": {"Type": "integer"}}},
            },
            "values": {
                "visitor": {rid: {"plan": f"p{i % 3}", "signup": _signup(i)} for i, rid in enumerate(ids)},
                "account": {"a1": {"tier": 1}, "a2": {"tier": 2}},
            },
        }
    )


def expected(emu: PendoEmulator) -> dict[str, dict[str, dict]]:
    """What a read of FIELDS should give, from what the emulator holds (times as epoch ms)."""
    records: dict[str, dict[str, dict]] = {f"w-{i}": {"custom": {}, "agent": {}} for i in range(10)}
    for rid, values in emu.all_values("visitor").items():
        signup = values.get("signup")
        if isinstance(signup, str):
            instant = dt.datetime.fromisoformat(signup)
            signup = int(instant.timestamp()) * 1000 + instant.microsecond // 1000
        custom = {"plan": values["plan"], **({} if signup is None else {"signup": signup})}
        records[rid] = {"custom": custom, "agent": emu.values("visitor", rid, group="agent")}
    for rid, values in emu.all_values("visitor", group="agent").items():
        records.setdefault(rid, {"custom": {}, "agent": {}})["agent"] = values
    return records


@pytest.fixture
def make_emulator(start_emulator) -> Callable[..., PendoEmulator]:
    return lambda **options: start_emulator(KEY, read_only_keys=[READ_ONLY], data=_data(), **options)


@pytest.fixture
def emu(make_emulator) -> PendoEmulator:
    return make_emulator()


def client_for(
    emu: PendoEmulator, key: str = KEY, notices: list | None = None, attempts: int = 8
) -> PendoClient:
    settings = PendoSettings(base_url=emu.url, key=Secret(key))
    policy = RetryPolicy(attempts=attempts, backoff=0.01)
    return PendoClient(settings, policy, on_retry=None if notices is None else notices.append)


def read_all(
    client: PendoClient, fields=FIELDS, kind: str = "visitor", page_size: int = 5000
) -> tuple[list[int], dict]:
    """The sizes of the pages read, and the records (each id must come once)."""
    sizes: list[int] = []
    records: dict[str, dict] = {}
    for page in read_values(client, kind, fields, page_size):
        sizes.append(len(page))
        for record_id, groups in page:
            assert record_id not in records, f"{record_id} read twice"
            records[record_id] = groups
    return sizes, records


def test_paging_reads_every_record_once(emu):
    sizes, records = read_all(client_for(emu))
    assert sizes == [5000, 5000, 2000]
    assert records == expected(emu) and len(records) == RECORDS
    assert records["v\\slash"]["custom"]["plan"] in ("p0", "p1", "p2")
    assert records["w-3"] == {"custom": {}, "agent": {}}  # known, never written
    stats = emu.stats()
    assert (stats["read_calls"], stats["read_rows"]) == (3, RECORDS)
    bodies = [r.body["request"]["pipeline"] for r in emu.request_log() if r.path == PATH]
    assert [step for step in bodies[0] if "filter" in step or "limit" in step] == [{"limit": 5000}]
    after = json.dumps(sorted(records)[4999], ensure_ascii=False)  # code point order, as the emulator's
    assert {"filter": f"visitorId > {after}"} in bodies[1]


SWITCHES = {
    "bare-array": {"aggregation_answer": "array"},
    "limit-refused": {"aggregation_limit": "refused"},
    "rfc3339-times": {"aggregation_times": "rfc3339"},
    "all-three": {
        "aggregation_answer": "array",
        "aggregation_limit": "refused",
        "aggregation_times": "rfc3339",
    },
}


@pytest.mark.parametrize("switches", SWITCHES.values(), ids=SWITCHES.keys())
def test_each_open_point_played_either_way_gives_the_same_records(make_emulator, switches):
    emu = make_emulator(**switches)
    sizes, records = read_all(client_for(emu))
    assert records == expected(emu)
    assert sizes == [5000, 5000, 2000]  # one streamed answer is still handed on in pages
    calls = [r for r in emu.request_log() if r.path == PATH]
    if switches.get("aggregation_limit") == "refused":
        assert [c.status for c in calls] == [400, 200]  # the refused page, then one call for all
        assert not any("limit" in step for step in calls[1].body["request"]["pipeline"])
    else:
        assert [c.status for c in calls] == [200, 200, 200]


def test_a_429_with_retry_after_during_a_read_is_retried(emu):
    emu.faults.add(Fault("status", status=429, retry_after="1", requests={2}, path_prefix=PATH))
    notices: list[RetryNotice] = []
    sizes, records = read_all(client_for(emu, notices=notices))
    assert sizes == [5000, 5000, 2000] and records == expected(emu)
    assert notices == [RetryNotice(method="POST", path=PATH, status=429, error=None, attempt=1, wait=1.0)]
    assert emu.read_calls() == 4 and emu.stats()["statuses"]["429"] == 1


def test_the_rate_limit_is_honoured(make_emulator):
    """Pendo's rate limit counts reads too: the 429s are waited out (Retry-After), each page
    comes once."""
    emu = make_emulator(rate_limit=2)
    notices: list[RetryNotice] = []
    sizes, records = read_all(client_for(emu, notices=notices), page_size=6000)
    assert sizes == [6000, 6000] and records == expected(emu)
    assert emu.throttled() >= 1 and {n.status for n in notices} == {429}


def test_a_dropped_connection_is_retried_and_a_lasting_error_raised(emu):
    emu.faults.add(Fault("drop", first=1, path_prefix=PATH))
    assert read_all(client_for(emu))[1] == expected(emu)
    emu.faults.clear()
    emu.faults.add(Fault("status", status=500, path_prefix=PATH))
    with pytest.raises(PendoError, match="Pendo answered 500 to reading the visitor values"):
        read_all(client_for(emu, attempts=2))


@pytest.mark.parametrize("limit", ["accepted", "refused"])
def test_an_answer_broken_off_is_read_again_from_the_last_page(make_emulator, limit):
    emu = make_emulator(aggregation_limit=limit)
    # The second call: the second page's answer, or (limit refused) the one answer of them all.
    emu.faults.add(Fault("cut", requests={2}, path_prefix=PATH))
    sizes, records = read_all(client_for(emu), page_size=1000)
    assert records == expected(emu) and sum(sizes) == RECORDS  # each record once, none lost
    # 12 pages and an empty one, or a refused call and the one answer; and the answer cut off again
    assert emu.stats()["read_calls"] == (13 if limit == "accepted" else 2) + 1
    emu.faults.add(Fault("cut", path_prefix=PATH))
    with pytest.raises(PendoUnreachableError, match="broke off its answer .* 4 times in a row"):
        read_all(client_for(emu))


def test_a_malformed_answer_is_our_error(emu):
    emu.faults.add(Fault("malformed", path_prefix=PATH))
    with pytest.raises(PendoError, match="answer to reading the visitor values is not rows"):
        read_all(client_for(emu))


def test_a_wrong_key_raises_pendo_auth_error_without_the_key(emu):
    wrong = "rb-wrong-key-0123456789"
    for fields in (FIELDS, []):  # with fields the schema is read first; without, the aggregation
        with pytest.raises(PendoAuthError) as raised:
            read_all(client_for(emu, key=wrong), fields=fields)
        assert (
            "403" in str(raised.value) and wrong not in str(raised.value) and wrong not in repr(raised.value)
        )
    assert [r.path for r in emu.request_log()][-1] == PATH
    assert read_all(client_for(emu, key=READ_ONLY))[1] == expected(emu)  # a read-only key reads


def test_set_values_changes_what_a_read_returns(emu):
    client = client_for(emu)
    before = read_all(client)[1]
    emu.set_values("visitor", "u-00007", {"plan": "changed by hand", "signup": None})
    edit = {"kind": "visitor", "group": "agent", "id": "vé", "values": {"role": "owner"}}
    assert requests.post(f"{emu.url}/_emulator/values", json=edit, timeout=5).ok
    after = read_all(client)[1]
    changed = {rid for rid in after if after[rid] != before[rid]}
    assert changed == {"u-00007", "vé"}
    assert after["u-00007"]["custom"] == {"plan": "changed by hand"}
    assert after["vé"]["agent"] == {"role": "owner"}


def test_accounts_and_pendos_own_times(emu):
    sizes, records = read_all(
        client_for(emu), fields=[("custom", "tier"), ("auto", "lastupdated")], kind="account"
    )
    assert sizes == [2]
    assert records == {
        rid: {"custom": {"tier": tier}, "auto": {"lastupdated": emu.last_written("account", rid)}}
        for rid, tier in (("a1", 1), ("a2", 2))
    }


def test_a_read_stopped_early_leaves_the_client_usable(emu):
    client = client_for(emu)
    pages = read_values(client, "visitor", FIELDS, 100)
    assert len(next(pages)) == 100
    pages.close()  # the answer is closed unread
    assert read_all(client)[1] == expected(emu)


@pytest.mark.parametrize(
    "kind, fields, page_size, message",
    [
        ("parentAccount", FIELDS, 10, "kind must be 'visitor' or 'account'"),
        ("visitor", FIELDS, 0, "page_size must be a whole number >= 1"),
        ("visitor", [("custom", "plan.x")], 10, "'custom.plan.x' is not a Pendo field"),
        ("visitor", [("custom", 'a"b')], 10, "is not a Pendo field"),
    ],
)
def test_what_cannot_be_read_is_refused_before_any_call(emu, kind, fields, page_size, message):
    with pytest.raises(ValueError, match=message):
        read_values(client_for(emu), kind, fields, page_size)
    assert emu.request_log() == []
