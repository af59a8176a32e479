"""Calls on the local Pendo emulator over real HTTP (requests), the keys they carry, and the
fixtures that start it with those keys: shared by the tests/functional/test_emulator_*.py
modules. A test module makes the fixtures its own by naming them (`emu = emulator_calls.emu`),
as pytest finds fixtures among a module's names."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import requests

from dbt_pendo_sync.emulator import PendoEmulator

KEY = "test-integration-key"
READ_ONLY = "read-only-key"
SECRET = "test-track-secret"
AUTH = {"x-pendo-integration-key": KEY}


def _start(start_emulator, **switches) -> PendoEmulator:
    switches.setdefault("track_secret", SECRET)
    return start_emulator(KEY, read_only_keys=[READ_ONLY], **switches)


@pytest.fixture
def make_emulator(start_emulator) -> Callable[..., PendoEmulator]:
    """Start emulators with given switches (stopped at teardown)."""
    return functools.partial(_start, start_emulator)


@pytest.fixture
def emu(start_emulator) -> PendoEmulator:
    return _start(start_emulator)


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
