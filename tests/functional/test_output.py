"""What a sync prints: progress bars and the table on a terminal (a real pty), timestamped
plain lines elsewhere, one JSON object per report event with --log-format json, --quiet; the
results file against its published JSON Schema; the Python API in-process."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator
from rich.console import Console

from dbt_pendo_sync.emulator import Fault
from dbt_pendo_sync.logs import LOG_FORMATS
from dbt_pendo_sync.outputs import results_schema
from dbt_pendo_sync.pendo.answers import BatchOutcome
from dbt_pendo_sync.pendo.client import RetryNotice
from dbt_pendo_sync.report import Report, make_report
from dbt_pendo_sync.report_events import (
    BatchSent,
    ModelFinished,
    ModelProgress,
    ModelStarted,
    ReportBus,
    Retry,
    Summary,
)
from dbt_pendo_sync.results import ModelResult, SyncResults

from ..conftest import BIN, DbtProject, emulator_key, emulator_track_secret

ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
CLOCK = re.compile(r"^\d\d:\d\d:\d\d ")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
VISITOR_WRITES = "/api/v1/metadata/visitor/custom/value"


def _env(project, emulator, **extra: str) -> dict[str, str]:
    return {
        **project.env,
        "PENDO_BASE_URL": emulator.url,
        "PENDO_INTEGRATION_KEY": emulator_key(emulator),
        "PENDO_TRACK_SECRET": emulator_track_secret(emulator),
        **extra,
    }


def _sync_in_pty(project: DbtProject, env: dict[str, str], timeout: float = 120) -> tuple[int, str, str]:
    """`dbt-pendo sync` of `project`, run from its folder with stdout on a pseudo-terminal
    (stderr on a pipe); exit code, terminal bytes as text, stderr."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [str(BIN / "dbt-pendo"), "sync", *project.args()],
        env=env,
        cwd=project.path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
        err = proc.stderr.read().decode()
        proc.wait(timeout=30)
    finally:
        os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace"), err


def _validate(document: dict) -> None:
    schema = results_schema()
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(document)


# -- real syncs of sample_project against the emulator -------------------------------------


def test_terminal_shows_a_progress_bar_per_model_then_the_table(sample, emulator):
    env = _env(sample, emulator, TERM="xterm-256color", COLUMNS="200")
    code, out, err = _sync_in_pty(sample, env)
    assert code == 0, out + err
    assert "\x1b[" in out  # a terminal gets control codes (colours, cursor moves of the bars)
    text = ESCAPE.sub("", out)
    assert "━━━━" in text  # the bar
    assert "pendo_visitors ✓ success" in text and "53/53 rows · 53 sent" in text
    assert "pendo_accounts ✓ success" in text and "13/13 rows · 13 sent" in text
    assert text.index("53/53 rows") < text.index("┃ model")  # bars first, the table at the end
    assert re.search(r"│ pendo_visitors\s+│ visitor │ success │\s+53 │", text)
    assert "finished in" in text.splitlines()[-1]
    assert not any(CLOCK.match(line) for line in text.splitlines())  # no plain log lines


@pytest.mark.parametrize("columns", [80, 100])
def test_the_summary_fits_a_narrow_terminal_with_every_model_name_whole(sample, emulator, columns):
    env = _env(sample, emulator, TERM="xterm-256color", COLUMNS=str(columns))
    code, out, err = _sync_in_pty(sample, env)
    assert code == 0, out + err
    text = ESCAPE.sub("", out)
    summary = text[text.rindex("dbt-pendo sync") :].splitlines()  # after the bars
    assert max(len(line.rstrip()) for line in summary) <= columns
    assert "…" not in "".join(summary)
    if columns == 100:  # a table still fits without the columns that are 0 everywhere
        assert re.search(
            r"┃ model\s+┃ object\s+┃ status\s+┃ rows ┃ new ┃ sent ┃ updated ┃ missing ┃ seconds ┃", summary[2]
        )
        assert re.search(r"│ pendo_product_events │ event\s+│ success │\s+\d+ │", "\n".join(summary))
    else:  # a block per model
        assert re.search(r"^pendo_product_events \(event\): success in [\d.]+s$", "\n".join(summary), re.M)
        assert "  53 rows, 53 to send; 53 sent, 50 updated, 3 missing" in summary
    for model in ("pendo_visitors", "pendo_accounts", "pendo_product_events"):
        assert re.search(rf"\b{model}\b", "\n".join(summary))


def test_without_a_terminal_lines_are_timestamped_plain_text(sample, emulator):
    result = sample.sync(emulator=emulator)
    assert result.code == 0, result.output
    assert "\x1b" not in result.output
    lines = result.stdout.splitlines()
    logged = [line for line in lines if CLOCK.match(line)]
    starts = [i for i, line in enumerate(lines) if re.match(r"^\d\d:\d\d:\d\d syncing pendo_visitors ", line)]
    assert len(starts) == 1
    assert any(
        re.match(r"^\d\d:\d\d:\d\d pendo_visitors: 53/53 rows done \(53 sent", line) for line in logged
    )
    # 14 events, each its own call: one progress line at the end, not one per event
    events = [line for line in logged if re.search(r" pendo_product_events: \d+/\d+ rows done", line)]
    assert len(events) == 1 and "14/14 rows done" in events[0], events
    assert any(
        re.match(
            r"^\d\d:\d\d:\d\d pendo_visitors: success in [\d.]+s: 53 rows, 53 to send; "
            r"53 sent, 50 updated, 3 missing",
            line,
        )
        for line in logged
    )
    assert any(line.startswith("┃ model") for line in lines)  # the table, after the model lines
    assert CLOCK.match(lines[-1]) and "finished in" in lines[-1] and "3 success" in lines[-1]

    # The results file, against the JSON Schema the package ships.
    document = sample.results()
    _validate(document)
    meta = document["metadata"]
    manifest = json.loads((sample.path / "target" / "manifest.json").read_text())["metadata"]
    assert meta["schema_version"] == 1 and UUID4.match(meta["invocation_id"])
    assert meta["dbt"] == {
        "manifest_generated_at": manifest["generated_at"],
        "manifest_invocation_id": manifest["invocation_id"],
        "run_results_invocation_id": meta["dbt"]["run_results_invocation_id"],
        "adapter_type": "duckdb",
    }
    visitors = {m["model"]: m for m in document["models"]}["pendo_visitors"]
    assert visitors["status"] == "success" and visitors["seconds"] > 0 and visitors["started_at"]
    # 53 visitors, 13 accounts and the sample's 14 events of the last week
    assert document["totals"]["sent"] == 80 and document["totals"]["missing"] == 4


def test_dbt_deprecations_met_on_a_reparse_stay_out_of_the_output(sample, emulator):
    """dbt-core 1.10+ ends every command with a summary of the deprecations the process met:
    the re-parse's (a duplicate YAML key) must not come back as our warning after `dbt ls`.
    A process of its own: dbt keeps the deprecations it met for the life of the process, and
    would print them after the dbt commands of later tests in this one."""
    staging = sample.path / "models" / "staging" / "_staging.yml"
    first = "    description: One row per application user"
    staging.write_text(staging.read_text().replace(first, "    description: twice\n" + first, 1))
    result = sample.sync_process("--select", "tag:pendo", **_env(sample, emulator))
    assert result.code == 0, result.output
    assert "Deprecat" not in result.output and "Warning" not in result.output
    assert sample.results()["totals"]["sent"] == 80


def test_json_log_has_one_event_per_line_matching_the_results_file(sample, emulator):
    emulator.faults.add(Fault(kind="status", status=503, first=1, path_prefix=VISITOR_WRITES))
    # dbt's own DBT_LOG_FORMAT is honoured when DBT_PENDO_LOG_FORMAT is not set.
    result = sample.sync(emulator=emulator, DBT_LOG_FORMAT="json")
    assert result.code == 0, result.output
    key = emulator_key(emulator)
    assert key not in result.output
    logged = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    results = sample.results()
    run_id = results["metadata"]["invocation_id"]
    for event in logged:
        assert TS.match(event["ts"]) and event["invocation_id"] == run_id
        assert event["level"] in ("debug", "info", "warn", "error") and event["msg"]
    names = [e["event"] for e in logged]
    assert names[0] == "run_started" and names[-1] == "run_finished"
    assert [e["ts"] for e in logged] == sorted(e["ts"] for e in logged)

    by_model = {m["model"]: m for m in results["models"]}
    for model, expected in by_model.items():
        mine = [e for e in logged if e.get("model") == model]
        # retry notices come and go with timing: a wave's line only when its retries last
        kinds = [e["event"] for e in mine if e["event"] not in ("retry", "retrying")]
        assert kinds[0] == "model_started" and kinds[-1] == "model_finished"
        assert set(kinds[1:-1]) == {"batch_sent"}
        batches = [e for e in mine if e["event"] == "batch_sent"]
        assert sum(b["rows"] for b in batches) == expected["counts"]["sent"]
        assert batches[-1]["sent"] == expected["counts"]["sent"]
        assert sum(b["missing"] for b in batches) == expected["counts"]["missing"]
        finished = mine[-1]
        assert finished["counts"] == expected["counts"]
        assert finished["status"] == expected["status"] == "success"
        assert finished["seconds"] == expected["seconds"]

    retry = [e for e in logged if e["event"] == "retry"]
    assert len(retry) == 1
    waves = [e for e in logged if e["event"] == "retrying"]  # shown only if the wave lasted 0.5 s
    assert len(waves) <= 1 and all(w["status"] == 503 and w["calls"] == 1 for w in waves)
    assert retry[0]["model"] == "pendo_visitors" and retry[0]["status"] == 503
    assert retry[0]["attempt"] == 1 and retry[0]["wait_seconds"] >= 0
    assert retry[0]["method"] == "POST" and retry[0]["path"] == VISITOR_WRITES
    assert by_model["pendo_visitors"]["counts"]["updated"] == 50  # the retried batch arrived
    assert [e for e in logged if e["event"] == "model_finished" and e["model"] == "pendo_visitors"][0][
        "retries"
    ] == 1

    done = logged[-1]
    assert done["exit_code"] == 0 and done["status"] == "success" and done["ok"] is True
    assert done["totals"] == results["totals"] and done["models"] == 3


def test_json_log_reports_a_stopping_error_as_events_and_on_stderr(sample):
    # No key: the run stops before dbt starts. --quiet keeps only error-level report events and the last.
    result = sample.sync("--log-format", "json", "--quiet")
    assert result.code == 2
    logged = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["event"], e["level"]) for e in logged] == [("error", "error"), ("run_finished", "error")]
    error, finished = logged
    assert error["error_type"] == "UsageError" and "PENDO_INTEGRATION_KEY is not set" in error["msg"]
    assert finished["exit_code"] == 2 and finished["status"] == "error" and finished["ok"] is False
    assert error["invocation_id"] == finished["invocation_id"]
    assert result.stderr.startswith("Error: PENDO_INTEGRATION_KEY is not set")


def test_the_python_api_syncs_in_process_and_quiet_prints_no_model_lines(sample, emulator, monkeypatch):
    for name, value in sample.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(sample.path)  # the DuckDB file is named relative to the project
    from dbt_pendo_sync import sync

    out = io.StringIO()
    results = sync(
        sample.path,
        profiles_dir=sample.path,
        quiet=True,
        console=Console(file=out),
        env={
            "PENDO_BASE_URL": emulator.url,
            "PENDO_INTEGRATION_KEY": emulator_key(emulator),
            "PENDO_TRACK_SECRET": emulator_track_secret(emulator),
        },
    )
    assert results.ok and UUID4.match(results.invocation_id)
    assert sample.results()["metadata"]["invocation_id"] == results.invocation_id
    counts = {m.model: m.counts for m in results.models}
    assert counts["pendo_visitors"].updated == 50 and counts["pendo_accounts"].updated == 12
    assert len(emulator.all_values("visitor")) == 50

    printed = out.getvalue()
    assert "syncing" not in printed and "rows done" not in printed and "success in" not in printed
    assert "wrote " not in printed
    assert "┃ model" in printed  # the summary stays
    logged = [line for line in printed.splitlines() if CLOCK.match(line)]
    assert len(logged) == 1 and "finished in" in logged[0]


def test_importing_the_package_loads_neither_dbt_nor_rich():
    code = (
        "import sys, dbt_pendo_sync; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dbt', 'rich', 'requests')]; "
        "assert not loaded, loaded; "
        "from dbt_pendo_sync import sync, RetryPolicy, SyncResults; assert callable(sync)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- the report alone (no dbt): modes, levels, throttling ----------------------------------


SPEC = SimpleNamespace(model="big", object="visitor", unique_id="model.p.big", label=None)


def _report(log_format: str = "default", terminal: bool = False, **kwargs) -> tuple[Report, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, force_interactive=terminal, width=120)
    return make_report(console, log_format, **kwargs), out


def _sync_big(report: Report, rows: int = 10_000, step: int = 100) -> ModelResult:
    """Drive the report as the engine does, for a model of `rows` new rows in batches of `step`."""
    result = ModelResult(model="big", unique_id="model.p.big", object="visitor")
    result.counts.rows = result.counts.new = rows
    fire = ReportBus(report).fire
    with report.running():
        fire(ModelStarted(SPEC, '"db"."main"."big"'))
        for _ in range(rows // step):
            result.counts.sent += step
            result.counts.updated += step
            fire(BatchSent(SPEC, step, BatchOutcome(confirmed=["x"] * step), result))
            fire(ModelProgress(SPEC, result))
        fire(
            Retry(
                RetryNotice(method="POST", path=VISITOR_WRITES, status=429, error=None, attempt=1, wait=2.0)
            )
        )
        fire(ModelFinished(result))
        fire(Summary(SyncResults(models=[result])))
    return result


def test_the_mode_follows_the_console_and_log_format():
    assert _report(terminal=True)[0].mode == "rich"
    assert _report(terminal=False)[0].mode == "text"
    assert _report("text", terminal=True)[0].mode == "text"
    assert _report("json", terminal=True)[0].mode == "json"
    assert set(LOG_FORMATS) == {"default", "text", "json", "debug"}


def test_text_progress_lines_come_every_tenth_of_the_rows():
    report, out = _report("text")
    _sync_big(report)
    progress = [line for line in out.getvalue().splitlines() if "rows done" in line]
    assert len(progress) == 10 and "big: 10,000/10,000 rows done (10,000 sent" in progress[-1]
    assert all(CLOCK.match(line) for line in progress)
    assert "batch of" not in out.getvalue() and "attempt 1 failed" not in out.getvalue()


def test_debug_adds_every_batch_and_retry():
    for report, out in (_report("debug"), _report("text", debug=True)):
        _sync_big(report)
        text = out.getvalue()
        assert text.count("big: batch of 100 rows: 100 updated") == 100
        assert (
            "big: POST /api/v1/metadata/visitor/custom/value answered 429; attempt 1 failed, next in 2.0s"
            in text
        )
        assert "; 1 retry" in text


def test_quiet_json_keeps_errors_and_the_final_event():
    report, out = _report("json", quiet=True)
    result = _sync_big(report)
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["run_finished"]

    report, out = _report("json", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        with report.running():
            ReportBus(report).fire(ModelFinished(result))
            raise KeyboardInterrupt
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e["level"]) for e in logged] == [("error", "error"), ("run_finished", "error")]
    assert logged[-1]["exit_code"] == 130 and logged[-1]["models"] == 1
