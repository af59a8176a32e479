"""Injected faults on the emulator (status with and without Retry-After, drop, delay, malformed,
partial, bad_rows, multistatus): what each does to metadata writes, track events and segment calls,
and which calls they are aimed at."""

from __future__ import annotations

import pytest
import requests

from dbt_pendo_sync.emulator import Fault

from ..support import emulator_calls
from ..support.emulator_calls import KEY, event, get, ok_entry, patch_members, track, upload, visitor, write

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


# ---------------------------------------------------------------- metadata writes


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
    """A client that waits less than the delay times out; one that waits longer is answered."""
    emu.faults.add(Fault("delay", delay=1.0, first=1))
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{emu.url}/api/v1/metadata/visitor/custom/value",
            json=[visitor("u-0001", role="x")],
            headers={"x-pendo-integration-key": KEY},
            timeout=(5, 0.1),
        )
    emu.faults.add(Fault("delay", delay=0.2, first=1))
    assert write(emu, [visitor("u-0001", role="x")]).ok


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
