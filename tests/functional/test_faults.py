"""Fault injection: whatever Pendo does, a sync ends in a known state, loses no row, explains
every row it did not deliver, and a rerun after the fault delivers the rest."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from dbt_pendo_sync.emulator import Fault

from ..conftest import emulator_key, incremental_emulator_data, make_emulator, wait_until

N = 2000
FAST_RETRY = ("--retry-time", "60")


def _ids(n: int) -> set[str]:
    return {f"u-{i:06d}" for i in range(1, n + 1)}


@pytest.fixture
def emulator():
    with make_emulator(incremental_emulator_data()) as em:
        yield em


def _assert_pendo_matches_model(project, emulator, ids):
    model = project.model_values()
    held = emulator.all_values("visitor")
    for vid in ids:
        assert held[vid]["score"] == model[vid]["score"], vid


def _check_known_state(project, emulator, result, undelivered: dict[str, str]):
    """Pendo holds every deliverable row; the rest is in the rejected file, by category;
    the state names exactly the rows Pendo confirmed (each once)."""
    delivered = _ids(N) - set(undelivered)
    _assert_pendo_matches_model(project, emulator, delivered)
    rejected = {r["id"]: r["category"] for r in project.rejected()}
    assert rejected == undelivered
    state = project.query("select record_id from main.pendo_sync_state")
    assert sorted(r[0] for r in state) == sorted(delivered)  # no row twice, none unconfirmed
    assert emulator_key(emulator) not in result.output


def _rerun_delivers_the_rest(project, emulator):
    emulator.faults.clear()
    result = project.sync(*FAST_RETRY, emulator=emulator)
    assert result.code == 0, result.output
    _assert_pendo_matches_model(project, emulator, _ids(N))
    assert project.state_ids() == _ids(N)
    assert project.rejected() == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=429, retry_after="1", first=3),
        Fault(kind="status", status=429, first=3),
        Fault(kind="status", status=500, first=2),
        Fault(kind="status", status=502, requests=frozenset({1, 5})),
        Fault(kind="status", status=503, retry_after="1", first=2),
        Fault(kind="status", status=504, first=2),
        Fault(kind="status", status=408, first=2),
        Fault(kind="drop", first=3),
    ],
    ids=lambda f: f"{f.kind}-{f.status}-{f.retry_after}",
)
def test_transient_faults_are_retried_and_everything_arrives(duck, emulator, fault):
    emulator.faults.add(fault)
    result = duck.sync(*FAST_RETRY, emulator=emulator)
    assert result.code == 0, result.output
    _check_known_state(duck, emulator, result, {})
    calls = emulator.write_calls()
    assert N // 100 < calls <= N // 100 + 3  # retried, not re-sent wholesale


def test_answers_slower_than_the_read_timeout_are_retried(duck, emulator):
    emulator.faults.add(Fault(kind="delay", delay=3.0, first=2))
    result = duck.sync(
        "--read-timeout", "1", "--log-format", "json", "--debug", *FAST_RETRY, emulator=emulator
    )
    assert result.code == 0, result.output
    _check_known_state(duck, emulator, result, {})
    # The JSON log's retries: the two slow calls timed out and were sent again (a busy machine
    # may time out one more); each retry reached Pendo as a write call of its own.
    events = [json.loads(line) for line in result.stdout.splitlines()]
    retries = [e for e in events if e["event"] == "retry"]
    assert len(retries) >= 2, result.stdout
    assert all(e["error"] == "ReadTimeoutError" and e["cause"] == "timed out" for e in retries), retries
    assert emulator.write_calls() == N // 100 + len(retries)


def test_retries_stop_within_their_budget(duck, emulator):
    emulator.faults.add(Fault(kind="status", status=503, path_prefix="/api/v1/metadata/visitor/custom/value"))
    started = time.monotonic()
    result = duck.sync("--retries", "2", "--retry-time", "5", emulator=emulator)
    assert time.monotonic() - started < 120
    assert result.code == 1
    assert duck.state_ids() == set()
    assert {r["category"] for r in duck.rejected()} == {"failed"}
    assert "503" in duck.rejected()[0]["reason"]
    _rerun_delivers_the_rest(duck, emulator)


def test_pendo_unreachable_mid_run_shows_retry_waves_then_the_summary(duck, emulator):
    # From the 5th write on, every connection is dropped: the calls in flight are retried
    # together, then the run stops on the first call out of attempts.
    emulator.faults.add(Fault(kind="drop", requests=frozenset(range(5, 10_000))))
    result = duck.sync("--retries", "4", "--threads", "4", emulator=emulator)
    assert result.code == 1, result.output
    lines = result.stdout.splitlines()
    waves = [
        i
        for i, line in enumerate(lines)
        if re.match(
            r"^\d\d:\d\d:\d\d Pendo unreachable \(connection dropped\): retrying \d+ calls?"
            r"(, next attempt in [\d.]+ s)?$",
            line,
        )
    ]
    dropped = [r for r in emulator.request_log() if r.status == 0]
    assert 1 <= len(waves) <= 3 and len(dropped) >= 16  # a line per wave, not one per retry
    # After the error that stopped the run: the table, then the files written.
    table = next(
        i for i, line in enumerate(lines) if re.match(r"│ visitor_scores │ visitor │ error\s+│", line)
    )
    wrote = next(i for i, line in enumerate(lines) if re.match(r"^\d\d:\d\d:\d\d wrote ", line))
    assert waves[-1] < table < wrote
    assert "pendo_sync_results.json" in lines[wrote] and "pendo_sync_rejected.jsonl" in lines[wrote]
    assert result.stderr.startswith("Error: Pendo at ") and "(connection dropped)" in result.stderr
    assert duck.results()["status"] == "error"


def test_malformed_answers_leave_rows_unconfirmed(duck, emulator):
    emulator.faults.add(Fault(kind="malformed", requests=frozenset({2})))
    result = duck.sync(*FAST_RETRY, "--threads", "1", emulator=emulator)
    assert result.code == 1
    failed = {r["id"] for r in duck.rejected()}
    assert len(failed) == 100 and all("not JSON" in r["reason"] for r in duck.rejected())
    assert failed.isdisjoint(duck.state_ids())
    assert duck.state_ids() == _ids(N) - failed
    _rerun_delivers_the_rest(duck, emulator)


def test_partial_answers_map_errors_to_their_rows(duck, emulator):
    bad = {"u-000007", "u-001234"}
    emulator.faults.add(Fault(kind="partial", ids=frozenset(bad)))
    result = duck.sync(*FAST_RETRY, emulator=emulator)
    assert result.code == 1
    _check_known_state(duck, emulator, result, {i: "rejected" for i in bad})
    _rerun_delivers_the_rest(duck, emulator)


@pytest.mark.parametrize("shape", ["object", "text"])
def test_per_record_errors_in_either_answer_shape_are_rejected_rows(duck, shape):
    bad = {"u-000003", "u-000030", "u-000300"}  # "u-000003" is a prefix of neither of the others
    with make_emulator(incremental_emulator_data(), errors_shape=shape) as emulator:
        emulator.faults.add(Fault(kind="partial", ids=frozenset(bad)))
        result = duck.sync(*FAST_RETRY, emulator=emulator)
        assert result.code == 1
        _check_known_state(duck, emulator, result, {i: "rejected" for i in bad})
        _rerun_delivers_the_rest(duck, emulator)


def test_values_the_field_type_cannot_take_are_invalid_and_never_sent(duck):
    data = incremental_emulator_data()
    data.schema["visitor"]["custom"]["plan"]["Type"] = "integer"  # 'pro' / 'free' cannot be
    with make_emulator(data) as emulator:
        result = duck.sync(*FAST_RETRY, emulator=emulator)
        assert result.code == 1
        rejected = duck.rejected()
        assert len(rejected) == N and {r["category"] for r in rejected} == {"invalid"}
        assert "field plan: 'free' is not a number" in {r["reason"] for r in rejected}
        assert emulator.write_calls() == 0 and duck.state_ids() == set()


def test_poisoned_batches_are_bisected_so_good_rows_go_through(duck, emulator):
    bad = {"u-000050", "u-000051", "u-001500"}
    emulator.faults.add(Fault(kind="bad_rows", ids=frozenset(bad)))
    result = duck.sync(*FAST_RETRY, emulator=emulator)
    assert result.code == 1
    _check_known_state(duck, emulator, result, {i: "rejected" for i in bad})
    reasons = [r["reason"] for r in duck.rejected()]
    assert all("400" in r for r in reasons)
    _rerun_delivers_the_rest(duck, emulator)


def test_fail_on_rejected_sets_the_threshold(duck, emulator):
    emulator.faults.add(Fault(kind="partial", ids=frozenset({"u-000001"})))
    assert duck.sync("--fail-on-rejected", "1", emulator=emulator).code == 0  # 0.05% <= 1%
    emulator.faults.clear()
    emulator.faults.add(Fault(kind="partial", ids=frozenset({"u-000001"})))
    duck.build(bump_rows=1, gen=1)
    assert duck.sync("--fail-on-rejected", "1", emulator=emulator).code == 1  # 1 of 1 tried


def test_random_5xx_and_429_over_50k_rows(duck, emulator):
    duck.build(rows=50000)
    emulator.faults.add(Fault(kind="status", status=503, rate=0.1, seed=7))
    emulator.faults.add(Fault(kind="status", status=429, rate=0.1, seed=11))
    yml = duck.path / "models" / "_models.yml"
    yml.write_text(yml.read_text().replace("batch_size: 100", "batch_size: 500"))
    result = duck.sync(*FAST_RETRY, emulator=emulator)
    assert result.code == 0, result.output
    counts = duck.results()["models"][0]["counts"]
    assert counts["updated"] == 50000 and counts["sent"] == 50000
    assert len(duck.state_ids()) == 50000
    minimal = 50000 // 500
    assert emulator.write_calls() <= 1.5 * minimal


def test_ctrl_c_stops_cleanly_with_exit_130(duck, emulator):
    emulator.faults.add(Fault(kind="delay", delay=0.5))
    proc = duck.start_sync("--threads", "1", emulator=emulator)
    wait_until(lambda: emulator.write_calls() >= 4, "the sync to start writing")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    # The summary and the files written, as after a run that ends.
    assert re.search(r"^│ visitor_scores │ visitor │ interrupted │", out, re.M), out
    assert re.search(r"^\d\d:\d\d:\d\d wrote .*pendo_sync_results\.json", out, re.M), out
    confirmed = set(emulator.all_values("visitor"))
    state = duck.state_ids()
    assert state and state <= confirmed  # kept what Pendo confirmed, claims nothing more
    _rerun_delivers_the_rest(duck, emulator)
