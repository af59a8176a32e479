"""The summary a person reads after a run (rendered in text mode into a buffer)."""

from __future__ import annotations

import io

from rich.console import Console

from dbt_pendo_sync.report import Report, make_report
from dbt_pendo_sync.results import ModelResult, SyncResults
from dbt_pendo_sync.vocab import ModelStatus, Undelivered


def _report() -> tuple[Report, io.StringIO]:
    out = io.StringIO()
    return make_report(Console(file=out, width=200), "text"), out


def test_a_row_without_an_id_is_shown_as_such_not_as_none():
    report, out = _report()
    result = ModelResult(model="people", unique_id="model.p.people", object="visitor")
    result.counts.invalid = 1
    result.add_sample(Undelivered.INVALID, None, "id is blank")
    report.summary(SyncResults(models=[result]))
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
    with report.running():
        report.model_finished(result)
        report.summary(SyncResults(models=[result]))
    assert out.getvalue().count("Pendo has no custom visitor field 'plan'") == 1
