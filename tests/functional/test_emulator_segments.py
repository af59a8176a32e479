"""Segments on the emulator: upload, read and list, member PATCHes (add and remove, at most 1000 ids an
operation), unknown and deleted segments, and malformed bodies."""

from __future__ import annotations

import pytest

from dbt_pendo_sync.emulator import PendoEmulator

from ..support import emulator_calls
from ..support.emulator_calls import (
    KEY,
    READ_ONLY,
    get,
    ok_entry,
    patch_members,
    segment_call,
    upload,
)

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


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


def test_segment_patch_adds_and_removes(emu):
    segment_id = upload(emu, "Trial users", ["u-0001", "u-0002"]).json()["segmentId"]
    created = segment_call(emu, "GET", f"/{segment_id}").json()["createdAt"]
    answer = patch_members(emu, segment_id, add=["u-0003", "u-0004"], remove=["u-0001", "u-0099"])
    assert answer.status_code == 200
    assert answer.json() == {"multistatus": [ok_entry("add"), ok_entry("remove")]}
    assert emu.segment_members(segment_id) == {"u-0002", "u-0003", "u-0004"}
    assert segment_call(emu, "GET", f"/{segment_id}").json()["lastUpdatedAt"] >= created
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
