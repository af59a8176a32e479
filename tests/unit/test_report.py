"""The summary a person reads after a run (rendered in text mode into a buffer)."""

from __future__ import annotations

import io
import json
import re
import threading

from rich.console import Console

from dbt_pendo_sync.pendo.client import RetryNotice
from dbt_pendo_sync.report import Report, make_report
from dbt_pendo_sync.report_events import ModelFinished, ModelStarted, ReportBus, Retry, Summary
from dbt_pendo_sync.results import Counts, ModelResult, SyncResults
from dbt_pendo_sync.targets.segments import SegmentSpec
from dbt_pendo_sync.vocab import ModelStatus, Undelivered

from ..conftest import wait_until


def _report() -> tuple[Report, io.StringIO]:
    out = io.StringIO()
    return make_report(Console(file=out, width=200), "text"), out


def test_a_row_without_an_id_is_shown_as_such_not_as_none():
    report, out = _report()
    result = ModelResult(model="people", unique_id="model.p.people", object="visitor")
    result.counts.invalid = 1
    result.add_sample(Undelivered.INVALID, None, "id is blank")
    ReportBus(report).fire(Summary(SyncResults(models=[result])))
    assert "(no id): id is blank" in out.getvalue()
    assert "None" not in out.getvalue()


def test_a_model_error_is_printed_once():
    report, out = _report()
    result = ModelResult(
        model="people",
        unique_id="model.p.people",
        object="visitor",
        status=ModelStatus.ERROR,
        message="Pendo has no custom visitor field 'plan'",
    )
    fire = ReportBus(report).fire
    with report.running():
        fire(ModelFinished(result))
        fire(Summary(SyncResults(models=[result])))
    assert out.getvalue().count("Pendo has no custom visitor field 'plan'") == 1


def _results() -> SyncResults:
    """Three models, one of them a segment with members added and removed."""
    visitors = ModelResult(model="pendo_visitor_metadata_daily", unique_id="model.p.v", object="visitor")
    visitors.counts = Counts(rows=53, new=53, sent=53, updated=50, missing=3)
    events = ModelResult(model="pendo_product_events_last_week", unique_id="model.p.e", object="event")
    events.counts = Counts(rows=14, new=14, sent=14, updated=14)
    vips = ModelResult(model="pendo_vips", unique_id="model.p.vips", object="segment")
    vips.counts = Counts(rows=12, new=3, unchanged=9, removed=1, sent=4, updated=4)
    return SyncResults(models=[visitors, events, vips])


def _summary(width: int) -> list[str]:
    out = io.StringIO()
    report = make_report(Console(file=out, width=width), "text")
    fire = ReportBus(report).fire
    with report.running():
        fire(ModelStarted(SegmentSpec("pendo_vips", "model.p.vips", "m.yml", "VIPs", "id"), "vips"))
        fire(Summary(_results()))
    return [line.rstrip() for line in out.getvalue().splitlines() if not line[:2].isdigit()]


def test_the_summary_keeps_every_column_where_there_is_room_and_fits_80_columns():
    wide = _summary(200)
    assert re.search(r"┃ unchanged ┃ removed ┃ sent ┃ updated ┃ missing ┃ invalid ┃", wide[2])
    assert re.search(
        r"│ pendo_vips\s+│ segment │ success │\s+12 │\s+3 │\s+0 │\s+9 │\s+1 │\s+4 │", "\n".join(wide)
    )
    assert "pendo_vips: segment 'VIPs' (12 members): 3 added, 1 removed" in wide

    # Narrower: the count columns that are 0 for every model go, the others stay.
    mid = _summary(130)
    assert re.search(r"┃ rows ┃ new ┃ unchanged ┃ removed ┃ sent ┃ updated ┃ missing ┃ seconds ┃", mid[2])
    assert max(map(len, mid)) <= 130

    # 80 columns: a block per model, every name whole, the counts in each target's words.
    narrow = _summary(80)
    assert max(map(len, narrow)) <= 80 and "…" not in "".join(narrow)
    assert narrow[:7] == [
        "dbt-pendo sync",
        "pendo_visitor_metadata_daily (visitor): success in 0.0s",
        "  53 rows, 53 to send; 53 sent, 50 updated, 3 missing",
        "pendo_product_events_last_week (event): success in 0.0s",
        "  14 rows, 14 to send; 14 sent, 14 delivered",
        "pendo_vips (segment): success in 0.0s",
        "  segment 'VIPs' (12 members): 3 added, 1 removed",
    ]


def test_retries_from_several_threads_make_one_line_per_wave():
    out = io.StringIO()
    report = make_report(Console(file=out, width=200), "json")
    notice = RetryNotice(
        "POST",
        "/api/v1/metadata/visitor/custom/value",
        None,
        "NewConnectionError",
        2,
        8.0,
        "connection refused",
    )
    fire = ReportBus(report).fire
    with report.running():
        together = threading.Barrier(3)  # three send threads alive at once, as in a pool

        def call() -> None:
            fire(Retry(notice))
            together.wait()

        calls = [threading.Thread(target=call) for _ in range(3)]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
        wait_until(lambda: '"retrying"' in out.getvalue(), "the line of the wave")
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in logged].count("retry") == 3
    (wave,) = [e for e in logged if e["event"] == "retrying"]
    assert wave["msg"].startswith(
        "Pendo unreachable (connection refused): retrying 3 calls, next attempt in "
    )
    assert wave["calls"] == 3 and wave["why"] == "unreachable (connection refused)" and wave["status"] is None
    assert 0 < wave["next_attempt_seconds"] <= 8
