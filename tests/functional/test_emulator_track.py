"""Track events on the emulator (POST /data/track): accepted events are recorded, bodies are checked
field by field, and the answer comes in either of its shapes."""

from __future__ import annotations

import json

import pytest
import requests

from dbt_pendo_sync.emulator import PendoEmulator

from ..support import emulator_calls
from ..support.emulator_calls import KEY, SECRET, event, track

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


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
