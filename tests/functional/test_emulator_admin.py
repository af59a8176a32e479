"""The emulator's own surface: the /_emulator control endpoints (faults, values, stats), the request
log and its reset, and keep_bodies=False keeping only counters."""

from __future__ import annotations

import requests

from ..support import emulator_calls
from ..support.emulator_calls import KEY, event, get, track, upload, visitor, write

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


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
