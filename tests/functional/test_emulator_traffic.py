"""The emulator under traffic: latency per kind of call and per record, the rate limit (429
with Retry-After, a sliding one-second window), kept-alive connections, concurrent writers, and
stopping with connections open."""

from __future__ import annotations

import threading

import pytest
import requests
from urllib3.util.retry import Retry

from dbt_pendo_sync.emulator import EmulatorData, Fault, PendoEmulator
from dbt_pendo_sync.emulator.latency import KINDS, parse_latency
from dbt_pendo_sync.emulator.ratelimit import RateLimit

from ..conftest import wait_until
from ..support import emulator_calls
from ..support.emulator_calls import KEY, event, get, track, upload, visitor, write

# the fixtures, named here for pytest to find them
emu = emulator_calls.emu
make_emulator = emulator_calls.make_emulator


# ---------------------------------------------------------------- latency


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


# ---------------------------------------------------------------- connections


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
