"""What a first-time user hit (issue 10): runs that stop say so in their files, a failing run
leaves another run's files alone, typos in the selection and unreachable Pendo fail clearly
and quickly, dry-run previews are what would be sent, and the small things in between."""

from __future__ import annotations

import json
import signal
import socket

import pytest
from jsonschema import Draft202012Validator

from dbt_pendo_sync.emulator import EmulatorData, Fault
from dbt_pendo_sync.outputs import results_schema

from ..conftest import BIN, incremental_emulator_data, make_emulator, run, wait_until

EARLY_BAD = "u-000005"  # in the first batch: Pendo rejects it before any interruption


@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
def test_a_stopped_run_writes_results_that_say_so_and_keeps_its_rejected_rows(duck, sig, code):
    with make_emulator(incremental_emulator_data()) as emulator:
        emulator.faults.add(Fault(kind="partial", ids=frozenset({EARLY_BAD})))
        emulator.faults.add(Fault(kind="delay", delay=0.3))
        proc = duck.start_sync("--threads", "1", emulator=emulator)
        wait_until(lambda: emulator.write_calls() >= 4, "the sync to start writing", 90)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err
    results = duck.results()
    assert results["ok"] is False and results["status"] == "interrupted"
    assert results["exit_code"] == code and results["error"] == "interrupted"
    [model] = results["models"]
    assert model["status"] == "interrupted" and "interrupted" in model["message"]
    assert 300 <= model["counts"]["sent"] < 2000  # the counts so far, not zeros
    assert model["counts"]["updated"] >= 299 and model["counts"]["rejected"] == 1
    assert results["totals"]["sent"] == model["counts"]["sent"]
    assert [(r["id"], r["category"]) for r in duck.rejected()] == [(EARLY_BAD, "rejected")]
    assert EARLY_BAD not in duck.state_ids() and len(duck.state_ids()) >= 299
    Draft202012Validator(results_schema()).validate(results)


def test_a_fatal_error_mid_run_writes_results_that_say_error(duck):
    with make_emulator(incremental_emulator_data()) as emulator:
        emulator.faults.add(Fault(kind="status", status=403, requests=frozenset({4})))
        result = duck.sync("--threads", "1", emulator=emulator)
        confirmed = set(emulator.all_values("visitor"))
    assert result.code == 1, result.output
    assert "refused the integration key" in result.stderr
    results = duck.results()
    assert results["ok"] is False and results["status"] == "error" and results["exit_code"] == 1
    assert "refused the integration key" in results["error"]
    [model] = results["models"]
    # What Pendo confirmed before the 403 is kept: the three calls before the refused one,
    # and a call queued behind it that went out before the run saw the 403 (at most two more;
    # recorded if the run saw its answer first, else sent again by the next run).
    updated = model["counts"]["updated"]
    assert model["status"] == "error" and updated in (300, 400, 500)
    state = duck.state_ids()
    assert len(state) == updated and state <= confirmed and len(confirmed) <= 500
    assert {f"u-{n:06d}" for n in range(1, 301)} <= state


def test_a_run_that_cannot_start_leaves_the_running_runs_files_alone(duck):
    with make_emulator(incremental_emulator_data()) as emulator:
        emulator.faults.add(Fault(kind="partial", ids=frozenset({EARLY_BAD})))
        first = duck.sync("--log-format", "json", emulator=emulator)
        assert first.code == 1, first.output  # the rejected row
        before_results = (duck.path / "target" / "pendo_sync_results.json").read_text()
        before_rejected = (duck.path / "target" / "pendo_sync_rejected.jsonl").read_text()
        assert EARLY_BAD in before_rejected

        emulator.faults.clear()
        emulator.faults.add(Fault(kind="delay", delay=1.0))
        duck.build(rows=1200, bump_rows=1200, gen=1)  # every row changed: 12 calls of a second each
        running = duck.start_sync("--threads", "1", "--log-format", "json", emulator=emulator)
        # 20 calls of the first sync, and the second is writing
        wait_until(lambda: emulator.write_calls() >= 21, "the second sync to start writing", 90)
        second = duck.sync(emulator=emulator)  # DuckDB allows one process per file
        assert second.code == 1 and "lock" in second.output.lower(), second.output
        assert running.poll() is None  # still syncing: what is in place is the first run's
        assert (duck.path / "target" / "pendo_sync_results.json").read_text() == before_results, second.output
        assert (duck.path / "target" / "pendo_sync_rejected.jsonl").read_text() == before_rejected
        emulator.faults.clear()  # then the running sync finishes at once
        out, err = running.communicate(timeout=120)
    assert running.returncode == 0, out + err
    invocation = json.loads(out.splitlines()[0])["invocation_id"]
    assert duck.results()["metadata"]["invocation_id"] == invocation
    assert duck.rejected() == []
    assert sorted(p.name for p in (duck.path / "target").glob(".*partial")) == []


def test_a_selection_that_matches_nothing_is_a_usage_error(sample):
    typo = sample.sync("--dry-run", "--select", "userz")
    assert typo.code == 2, typo.output
    assert "The selection criterion 'userz' does not match any enabled nodes" in typo.stderr
    method = sample.sync("--dry-run", "--select", "foo:bar")
    assert method.code == 2 and "'foo' is not a valid method name" in method.stderr
    assert "Traceback" not in typo.output + method.output
    no_blocks = sample.sync("--dry-run", "--select", "stg_users")
    assert no_blocks.code == 0 and "no selected model has a pendo block" in no_blocks.stdout


def test_unreachable_pendo_fails_fast_with_one_clear_message_and_no_library_lines(sample):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = sample.sync_process(  # library log lines would show in a fresh process's output
        "--log-format",
        "json",
        PENDO_BASE_URL=f"http://127.0.0.1:{port}",
        PENDO_INTEGRATION_KEY="pk-nobody-listens",
    )
    assert result.code == 1
    assert "could not be reached (connection refused) after 3 attempts" in result.stderr
    assert "urllib3" not in result.output and "WARNING" not in result.output
    logged = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in logged].count("retry") == 2  # not the run's 8-attempt budget
    assert "pk-nobody-listens" not in result.output


def _string_field_emulator():
    """The sample's Pendo, where the account field `seats` is text: 250 goes as "250"."""
    data = EmulatorData.default()
    data.schema["account"]["custom"]["seats"]["Type"] = "string"
    return make_emulator(data)


def test_a_dry_run_preview_is_what_the_sync_sends(sample):
    with _string_field_emulator() as emulator:
        preview = sample.sync("--dry-run", "--show", "100", "--select", "pendo_accounts", emulator=emulator)
        assert preview.code == 0, preview.output
        shown = sample.results("pendo_sync_plan.json")
        assert shown["field_types_known"] is True
        assert [r.method for r in emulator.request_log()] == ["GET"]  # the field list only
        synced = sample.sync("--select", "pendo_accounts", emulator=emulator)
        assert synced.code == 0, synced.output
        sent = [record for r in emulator.request_log() if r.method == "POST" for record in r.body]
    [model] = shown["models"]
    assert model["payload_sample"] == sent  # the same records, value for value
    assert len(sent) == 13 and all(isinstance(r["values"]["seats"], str) for r in sent)


def test_a_dry_run_without_a_key_says_field_types_are_unknown(sample):
    result = sample.sync("--dry-run", "--select", "pendo_accounts")
    assert result.code == 0, result.output
    assert "field types are unknown" in result.stdout
    [model] = sample.results("pendo_sync_plan.json")["models"]
    assert sample.results("pendo_sync_plan.json")["field_types_known"] is False
    first = model["payload_sample"][0]["values"]
    assert isinstance(first["seats"], int) and first["is_paying"] is True  # their JSON types


def test_small_cli_things(sample):
    show = sample.sync("--show", "3")
    assert show.code == 2 and "--show applies only with --dry-run" in show.stderr
    threads = sample.sync("--dry-run", DBT_PENDO_THREADS="abc")
    assert threads.code == 2 and "environment variable DBT_PENDO_THREADS" in threads.stderr
    assert "Traceback" not in show.output + threads.output
    helps = run([str(BIN / "dbt-pendo"), "sync", "--help"], sample.env).stdout
    assert "DBT_PENDO_THREADS" in helps and "DBT_PROFILES_DIR" in helps
    validate_help = run([str(BIN / "dbt-pendo"), "validate", "--help"], sample.env).stdout
    assert "writes nothing" in " ".join(validate_help.split())


def test_a_dry_run_lists_only_the_files_it_wrote(sample):
    (sample.path / "target" / "pendo_sync_rejected.jsonl").write_text("")  # an earlier sync's
    result = sample.sync("--dry-run")
    assert result.code == 0, result.output
    assert "pendo_sync_plan.json" in result.stdout
    assert "pendo_sync_rejected.jsonl" not in result.stdout


def test_a_model_whose_every_row_is_missing_in_pendo_gets_a_hint(sample):
    """Ids of another Pendo (or the wrong id column): the run succeeds, as missing rows are
    not a failure, but says what is likely wrong."""
    data = EmulatorData.default()
    data.visitors = set()  # this Pendo knows none of the sample's visitors
    with make_emulator(data) as stranger:
        result = sample.sync("--select", "pendo_visitors", emulator=stranger)
    assert result.code == 0, result.output
    hint = (
        "pendo_visitors: every row sent is missing in Pendo: a wrong id_column, or visitor ids "
        "this Pendo does not know (another subscription, region or environment?)"
    )
    assert hint in result.stdout
    (model,) = sample.results()["models"]
    assert model["counts"]["missing"] == model["counts"]["sent"] == 53
    assert model["message"] == hint.removeprefix("pendo_visitors: ")

    with make_emulator() as usual:  # 50 of the 53 known: no hint
        result = sample.sync("--select", "pendo_visitors", emulator=usual)
    assert result.code == 0 and "every row sent is missing" not in result.output, result.output
