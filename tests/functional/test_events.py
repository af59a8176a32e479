"""Track Events from a dbt model (`object: event`): each row one event, sent once, and only
inside the window Pendo processes. On DuckDB and PostgreSQL (tests/fixtures/events_project:
events one a minute back from the build's `anchor`, some a month old, some days ahead)."""

from __future__ import annotations

import json
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dbt_pendo_sync.emulator import Fault

from ..conftest import (
    EVENTS,
    IncrementalProject,
    emulator_key,
    fixture_on,
    kill_when,
    make_emulator,
    wait_until,
)
from ..support.processes import free_port

SECRET = "track-" + secrets.token_hex(12)


@pytest.fixture(params=["duckdb", "postgres"])
def events(request: pytest.FixtureRequest, tmp_path) -> IncrementalProject:
    return fixture_on(request, EVENTS, tmp_path)


@pytest.fixture
def duck_events(request: pytest.FixtureRequest, tmp_path) -> IncrementalProject:
    return fixture_on(request, EVENTS, tmp_path, "duckdb")


@pytest.fixture
def emulator():
    with make_emulator(track_secret=SECRET) as em:
        yield em


ANCHOR = int(time.time())


def _build(project: IncrementalProject, **values: object) -> None:
    project.build(anchor=ANCHOR, **values)


def _sync(project, emulator, *args: str, **env: str):
    return project.sync("--max-rps", "0", *args, emulator=emulator, **env)


def _counts(project) -> dict:
    return project.results()["models"][0]["counts"]


def _minutes_back(emulator) -> list[int]:
    """Each event the emulator took, by how many minutes before the anchor it happened (the
    fixture's events are one a minute apart, so this names each one)."""
    return sorted((ANCHOR * 1000 - e["timestamp"]) // 60_000 for e in emulator.tracked_events())


def test_every_event_in_the_window_is_sent_once_and_a_rerun_sends_nothing(events, emulator):
    _build(events, rows=120, old=4, future=3)
    result = _sync(events, emulator)
    assert result.code == 0, result.output
    counts = _counts(events)
    assert (counts["rows"], counts["sent"], counts["updated"]) == (127, 120, 120)  # rows: the model's
    assert (counts["too_old"], counts["too_new"]) == (4, 3)
    assert "not sent, outside Pendo's window: 4 too old, 3 in the future" in result.output
    assert _minutes_back(emulator) == list(range(1, 121))
    first = min(emulator.tracked_events(), key=lambda e: -e["timestamp"])  # a minute back
    assert first == {
        "type": "track",
        "event": "Report Run",
        "visitorId": "u-0001",
        "accountId": "w-1",
        "timestamp": (ANCHOR - 60) * 1000,
        "properties": {"plan": "free", "seats": 2},  # the null note left out
        "context": {},
    }

    again = _sync(events, emulator)
    assert again.code == 0, again.output
    assert _counts(events)["sent"] == 0
    assert len(emulator.tracked_events()) == 120


def test_new_rows_are_sent_and_changed_rows_are_not_sent_again(events, emulator):
    _build(events, rows=50)
    assert _sync(events, emulator).code == 0
    _build(events, rows=60, changed=5)  # 10 new events; 5 old ones changed under their ids

    result = _sync(events, emulator)
    assert result.code == 0, result.output
    counts = _counts(events)
    assert (counts["new"], counts["changed"], counts["sent"]) == (10, 5, 10)
    # Frozen: the new events and the changed ones (never sent); the other 45 are counted.
    assert (counts["rows"], counts["unchanged"], counts["frozen"]) == (60, 45, 15)
    assert "5 changed under an event id already sent (events are sent once)" in result.output
    assert _minutes_back(emulator) == list(range(1, 61))  # each event exactly once


def test_sigkill_mid_sync_then_a_rerun_delivers_every_event_exactly_once(events, emulator):
    """Killed while an event is at Pendo (an answer takes 300 ms, as across the internet, and
    the kill lands while the emulator holds a call): that event was journaled before it left,
    so the rerun neither sends it again nor loses it. (A kill before the request leaves the
    machine loses that event, as the README says: not what this test is about.)"""
    _build(events, rows=60)
    emulator.set_latency_ms(300)
    proc = events.start_sync("--threads", "1", "--max-rps", "0", emulator=emulator, stdout=subprocess.DEVNULL)
    kill_when(proc, lambda: emulator.track_calls() >= 20 and emulator.in_flight() > 0)
    emulator.set_latency_ms(0)
    wait_until(lambda: emulator.in_flight() == 0, "Pendo to take the held call")

    result = _sync(events, emulator)  # at once: the killed run's process is gone, its lock taken over
    assert result.code == 0, result.output
    assert _counts(events)["sent"] < 60  # what the killed run had confirmed was kept
    assert _minutes_back(emulator) == list(range(1, 61))  # no event twice, none lost
    assert _sync(events, emulator).code == 0
    assert _counts(events)["sent"] == 0


def _sync_process(project, emulator, *args: str, **env: str):
    """A sync as a process of its own: its exit is the point (the journal merged as it stops)."""
    return project.sync_process("--max-rps", "0", *args, **project.sync_env(emulator, **env))


def _rerun_sends_the_rest(project, emulator, expected: int) -> None:
    """A rerun succeeds, sends `expected` events, and Pendo then holds each of the 10 once."""
    again = _sync(project, emulator)
    assert again.code == 0, again.output
    assert _counts(project)["sent"] == expected
    assert _minutes_back(emulator) == list(range(1, 11))


def test_events_refused_with_a_wrong_secret_are_all_sent_with_the_right_one(events, emulator):
    """Pendo refused every call (403) and the run stopped: nothing was delivered, so the
    events journaled before they went out are withdrawn, and the next run sends each once."""
    _build(events, rows=10)
    wrong = _sync_process(events, emulator, PENDO_TRACK_SECRET="track-" + secrets.token_hex(12))
    assert wrong.code == 1, wrong.output
    assert "Pendo refused the Track Event shared secret (403)" in wrong.output
    assert emulator.tracked_events() == []

    _rerun_sends_the_rest(events, emulator, 10)


def test_events_that_found_nothing_listening_are_all_sent_by_the_next_run(duck_events, emulator):
    """Connection refused: no request left the machine, so no event counts as sent."""
    _build(duck_events, rows=10)
    dead = f"http://127.0.0.1:{free_port()}/data/track"
    refused = _sync_process(duck_events, emulator, PENDO_TRACK_URL=dead)
    assert refused.code == 1, refused.output
    assert "could not be reached (connection refused)" in refused.output

    _rerun_sends_the_rest(duck_events, emulator, 10)


@contextmanager
def _full_listener() -> Iterator[str]:
    """A track URL whose port takes no more connections (its backlog is full and nobody
    accepts): a connection to it times out before any byte of the request is written."""
    with socket.socket() as server, socket.socket() as queued:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        queued.connect(server.getsockname())  # fills the backlog of one
        yield f"http://127.0.0.1:{server.getsockname()[1]}/data/track"


def test_events_whose_connection_timed_out_are_all_sent_by_the_next_run(duck_events, emulator):
    _build(duck_events, rows=10)
    with _full_listener() as url:
        timed_out = _sync(duck_events, emulator, "--connect-timeout", "0.3", PENDO_TRACK_URL=url)
    assert timed_out.code == 1, timed_out.output
    assert "could not be reached (timed out)" in timed_out.output

    _rerun_sends_the_rest(duck_events, emulator, 10)


@pytest.mark.parametrize("status", [400, 404, 500])
def test_events_pendo_answered_with_a_failure_are_sent_again_and_only_they(duck_events, emulator, status):
    """Two calls answered with a failure (rejected, failed): the run goes on, and the next
    run sends exactly those two events (a guard: this worked before the withdrawals too)."""
    _build(duck_events, rows=10)
    emulator.faults.add(
        Fault(kind="status", status=status, path_prefix="/data/track", requests=frozenset({3, 7}))
    )
    failed = _sync(duck_events, emulator, "--threads", "1", "--retries", "1")
    assert failed.code == 1, failed.output
    assert len(emulator.tracked_events()) == 8

    emulator.faults.clear()
    _rerun_sends_the_rest(duck_events, emulator, 2)


def test_a_refusal_mid_run_stops_it_and_the_next_run_sends_exactly_the_rest(events, emulator):
    """The 5th call is refused (403) while others of its group are at Pendo: the run stops;
    what Pendo took stays sent, the refused event and those never sent go with the next run."""
    _build(events, rows=10)
    emulator.faults.add(Fault(kind="status", status=403, path_prefix="/data/track", requests=frozenset({5})))
    stopped = _sync_process(events, emulator, "--threads", "2")
    assert stopped.code == 1, stopped.output
    taken = len(emulator.tracked_events())
    assert 4 <= taken <= 5

    emulator.faults.clear()
    _rerun_sends_the_rest(events, emulator, 10 - taken)


def test_an_event_whose_answer_never_came_is_taken_as_sent(duck_events, emulator):
    """The one case taken as sent without Pendo's answer: the request went out and no answer
    came (here Pendo keeps the event but answers after the read timeout). The call is not
    repeated and the next run does not send the event again: each event once."""
    _build(duck_events, rows=10)
    emulator.faults.add(Fault(kind="delay", delay=2.5, path_prefix="/data/track", requests=frozenset({4})))
    late = _sync(duck_events, emulator, "--threads", "1", "--read-timeout", "1")
    assert late.code == 1, late.output
    assert "may have reached Pendo" in late.output
    wait_until(lambda: len(emulator.tracked_events()) == 4, "Pendo to keep the event it answered late")

    _rerun_sends_the_rest(duck_events, emulator, 6)


def test_an_event_whose_connection_dropped_before_the_answer_is_not_sent_again(duck_events, emulator):
    """The price of "maybe sent": the connection drops after the request left (here Pendo did
    not keep the event), the call is not repeated, and no run sends that event again."""
    _build(duck_events, rows=10)
    emulator.faults.add(Fault(kind="drop", path_prefix="/data/track", requests=frozenset({4})))
    dropped = _sync(duck_events, emulator, "--threads", "1")
    assert dropped.code == 1, dropped.output
    assert "its request may have reached Pendo, so it is not made again" in dropped.output
    assert emulator.track_calls() == 4

    again = _sync(duck_events, emulator)
    assert again.code == 0, again.output
    assert _counts(duck_events)["sent"] == 6
    back = _minutes_back(emulator)
    assert len(back) == len(set(back)) == 9  # none twice; the one in doubt never resent


def test_ctrl_c_mid_sync_then_a_rerun_delivers_every_event_exactly_once(duck_events, emulator):
    """Ctrl-C while calls are at Pendo: the run waits for their answers and exits 130; the
    rerun sends exactly the events Pendo did not confirm."""
    _build(duck_events, rows=30)
    emulator.set_latency_ms(200)
    proc = duck_events.start_sync("--threads", "2", "--max-rps", "0", emulator=emulator)
    wait_until(lambda: emulator.track_calls() >= 6 and emulator.in_flight() > 0, "calls at Pendo")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    emulator.set_latency_ms(0)

    again = _sync(duck_events, emulator)
    assert again.code == 0, again.output
    assert _minutes_back(emulator) == list(range(1, 31))


def test_a_big_model_reads_only_the_rows_inside_the_window(duck_events):
    """1M rows, 1% of them recent: the window is a filter of the warehouse's query, so only
    those 10,000 rows are frozen and read (a dry run reads exactly what a sync would send)."""
    _build(duck_events, rows=10_000, old=990_000)
    result = duck_events.sync("--dry-run")
    assert result.code == 0, result.output
    plan = json.loads((duck_events.path / "target" / "pendo_sync_plan.json").read_text())
    counts = plan["models"][0]["counts"]
    assert (counts["rows"], counts["sent"], counts["too_old"]) == (1_000_000, 10_000, 990_000)
    assert "rows are older than max_age_days" not in result.output


def test_when_every_row_is_too_old_the_run_says_so_with_the_options(duck_events, emulator):
    _build(duck_events, rows=0, old=99)  # 99 events of a month ago
    result = _sync(duck_events, emulator)
    assert result.code == 0, result.output
    counts = _counts(duck_events)
    assert (counts["rows"], counts["too_old"], counts["too_new"], counts["sent"]) == (99, 99, 0, 0)
    text = " ".join(result.output.split())  # the warning as one line, however the terminal wrapped it
    assert (
        "Warning: product_events: all 99 rows are older than max_age_days 7 (the newest occurred_at is "
        in text
    )
    assert "Pendo does not process Track Events older than 7 days; no event was sent." in text
    assert "rebuild it (`dbt build -s product_events`) and check that occurred_at is when each event" in text
    assert emulator.track_calls() == 0


def test_max_age_days_beyond_what_pendo_processes_is_a_config_error(duck_events, emulator):
    (duck_events.path / "models" / "_models.yml").write_text(
        (EVENTS / "models" / "_models.yml").read_text() + "          max_age_days: 30\n"
    )
    _build(duck_events, rows=5, old=5)
    result = _sync(duck_events, emulator)
    assert result.code == 2, result.output
    text = " ".join(result.output.split())
    assert (
        "model product_events (models/_models.yml): pendo.max_age_days: 30 is more than 7: Pendo does not "
        "process Track Events older than 7 days, so older rows would be sent and dropped"
    ) in text
    assert "use at most 7 (the default)" in text
    assert emulator.track_calls() == 0


def test_a_property_pendo_would_refuse_is_a_config_error_with_a_name_to_use(duck_events, emulator):
    (duck_events.path / "models" / "_models.yml").write_text(
        (EVENTS / "models" / "_models.yml").read_text()
        + "          properties: {plan: plan-name, seats: 2nd_seat_count_of_the_workspace_today}\n"
    )
    _build(duck_events, rows=5)
    result = _sync(duck_events, emulator)
    assert result.code != 0
    assert "event property 'plan-name' (column 'plan') is not a name Pendo accepts" in result.output
    assert "name it 'plan_name' in the block's `properties` ({plan: plan_name})" in result.output
    assert "event property '2nd_seat_count_of_the_workspace_today'" in result.output
    assert "name it '_2nd_seat_count_of_the_workspace'" in result.output
    assert emulator.track_calls() == 0


def test_properties_map_column_to_property_as_fields_do_and_a_reversed_one_is_named(duck_events, emulator):
    """`properties: {column: property}`, the direction of `fields`; written the other way
    round, the key is no column but its value is: the error says so, and nothing is sent."""
    block = (EVENTS / "models" / "_models.yml").read_text()
    yml = duck_events.path / "models" / "_models.yml"
    yml.write_text(block + "          properties: {plan: plan_name, seats: seats}\n")
    _build(duck_events, rows=3)
    listed = duck_events.command("ls", "--output", "json")
    assert listed.code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["fields"]["plan"] == "properties.plan_name" and entry["fields"]["user_id"] == "visitorId"
    result = _sync(duck_events, emulator)
    assert result.code == 0, result.output
    assert {tuple(e["properties"]) for e in emulator.tracked_events()} == {("plan_name", "seats")}

    yml.write_text(block + "          properties: {plan_name: plan, seats: seats}\n")
    _build(duck_events, rows=4)
    reversed_ = _sync(duck_events, emulator)
    assert reversed_.code == 1, reversed_.output
    assert "`properties` key 'plan_name' is not a column of the built relation" in reversed_.output
    assert "reversed? write {plan: plan_name}: `properties` maps column -> event property" in reversed_.output
    assert emulator.track_calls() == 3


def test_oversized_properties_make_the_row_invalid_with_the_reason(duck_events, emulator):
    _build(duck_events, rows=20, big_props=2)
    result = _sync(duck_events, emulator)
    assert result.code == 1, result.output
    counts = _counts(duck_events)
    assert (counts["invalid"], counts["sent"]) == (2, 18)
    rejected = [
        json.loads(line) for line in (duck_events.path / "target" / "pendo_sync_rejected.jsonl").open()
    ]
    assert {r["id"] for r in rejected} == {"e-0000001", "e-0000002"}
    assert all(
        "bytes of JSON; Pendo shows events over 512 bytes as too large" in r["reason"] for r in rejected
    )
    # Invalid rows are retried on the next run (and stay invalid); the good ones are not resent.
    assert _sync(duck_events, emulator).code == 1
    assert _counts(duck_events)["sent"] == 0


def test_without_the_secret_the_event_model_errors_and_the_key_is_not_used(duck_events, emulator):
    _build(duck_events, rows=5)
    result = duck_events.sync("--debug", emulator=emulator, PENDO_TRACK_SECRET="")
    assert result.code == 1
    assert "PENDO_TRACK_SECRET is not set" in result.output
    assert "model product_events (models/_models.yml)" in result.output
    assert emulator.track_calls() == 0


def test_the_secret_appears_nowhere_even_when_pendo_refuses_it(duck_events, emulator):
    _build(duck_events, rows=5)
    wrong = "track-" + secrets.token_hex(12)
    refused = _sync(duck_events, emulator, "--debug", PENDO_TRACK_SECRET=wrong)
    assert refused.code != 0
    assert "Pendo refused the Track Event shared secret (403)" in refused.output
    accepted = _sync(duck_events, emulator, "--debug", "--log-format", "json")
    assert accepted.code == 0, accepted.output
    files = [p.read_text() for p in (duck_events.path / "target").glob("pendo_sync_*")]
    for text in (refused.output, accepted.output, *files):
        assert wrong not in text and SECRET not in text and emulator_key(emulator) not in text


def test_validate_ls_and_a_dry_run_know_event_models(duck_events):
    _build(duck_events, rows=3)
    listed = duck_events.command("ls", "--output", "json")
    assert listed.code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["object"] == "event"
    assert entry["fields"]["occurred_at"] == "timestamp" and entry["fields"]["user_id"] == "visitorId"

    checked = duck_events.command("validate", "--offline")
    assert checked.code == 0, checked.output

    preview = duck_events.sync("--dry-run", "--show", "1")
    assert preview.code == 0, preview.output
    assert '"type": "track"' in preview.output and '"visitorId": "u-0001"' in preview.output


def test_ls_shows_a_constant_event_name_where_it_shows_the_event_column(duck_events):
    models = duck_events.path / "models" / "_models.yml"
    models.write_text(models.read_text().replace("event_column: event_name", "event: Plan Upgraded"))
    listed = duck_events.command("ls", "--output", "json")
    assert listed.code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["fields"]["'Plan Upgraded' (constant)"] == "event"
    table = duck_events.command("ls")
    assert table.code == 0 and "'Plan Upgraded' (constant) -> event" in table.stdout, table.output


def test_without_an_event_id_column_the_sent_columns_identify_each_event(events, emulator):
    """No event_id_column: an event is identified by a hash of what is sent, computed in the
    warehouse. A rerun sends nothing; a row whose sent values change is a new event."""
    (events.path / "models" / "_models.yml").write_text(
        (EVENTS / "models" / "_models.yml")
        .read_text()
        .replace("          event_id_column: event_id\n", "          context: {title: note}\n")
    )
    _build(events, rows=30)
    assert _sync(events, emulator).code == 0
    assert _counts(events)["sent"] == 30
    sent = emulator.tracked_events()
    assert all(e["context"] == {} and set(e["properties"]) == {"event_id", "plan", "seats"} for e in sent)
    assert _sync(events, emulator).code == 0
    assert _counts(events)["sent"] == 0

    _build(events, rows=30, changed=2)  # two events' plan differs: two new events
    assert _sync(events, emulator).code == 0
    assert (_counts(events)["new"], _counts(events)["sent"]) == (2, 2)
    assert [e["properties"]["plan"] for e in emulator.tracked_events()[30:]] == ["enterprise", "enterprise"]
