"""Which key opens what on the emulator: a bad key gets 403, a read-only key reads but never writes
(metadata or segments), token verify reports write access, and the Track Event secret is the only
key /data/track takes."""

from __future__ import annotations

import pytest

from ..support import emulator_calls
from ..support.emulator_calls import (
    KEY,
    READ_ONLY,
    SECRET,
    event,
    get,
    put,
    segment_call,
    track,
    upload,
    visitor,
    write,
)

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


# ---------------------------------------------------------------- integration keys


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


def test_verify_reports_write_access(make_emulator):
    emu = make_emulator()
    assert get(emu, "/api/v1/token/verify").json() == {"valid": True, "writeAccess": True}
    assert get(emu, "/api/v1/token/verify", key=READ_ONLY).json() == {"valid": True, "writeAccess": False}
    off = make_emulator(verify_endpoint=False)
    assert get(off, "/api/v1/token/verify").status_code == 404


def test_segment_writes_need_a_write_key(emu):
    assert upload(emu, "Trial users", ["u-0001"], key=READ_ONLY).status_code == 403
    segment_id = emu.add_segment("Trial users", ["u-0001"], created_by_api=True)
    answer = segment_call(emu, "PATCH", f"/{segment_id}/visitor", {"patch": []}, key=READ_ONLY)
    assert answer.status_code == 403 and answer.content == b""
    assert segment_call(emu, "GET", key="wrong").status_code == 403


# ---------------------------------------------------------------- the track secret


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
