"""Spark (dbt-spark's session method) as the user sees it: a sync's output holds our lines
only, none of the JVM's (log4j lines, stack traces, the stage progress bar). The incremental
scenarios run on Spark in test_incremental.py."""

from __future__ import annotations

import json

import pytest

from ..conftest import ON_SPARK, emulator_key, incremental_emulator_data, make_emulator


@pytest.mark.parametrize("incremental", [ON_SPARK], indirect=True)
def test_a_spark_sync_process_prints_only_its_own_lines(incremental):
    with make_emulator(incremental_emulator_data()) as emulator:
        result = incremental.sync_process(
            "--log-format",
            "json",
            PENDO_BASE_URL=emulator.url,
            PENDO_INTEGRATION_KEY=emulator_key(emulator),
        )
    assert result.code == 0, result.output
    assert result.stderr == ""
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # each line one of ours
    assert all(line["invocation_id"] == lines[0]["invocation_id"] for line in lines)
    assert lines[-1]["event"] == "run_finished"
    assert incremental.results()["models"][0]["counts"]["updated"] == 2000


@pytest.mark.parametrize("incremental", [ON_SPARK], indirect=True)
def test_a_state_swap_cut_short_by_a_crash_loses_nothing(incremental):
    """Spark rewrites the state by a swap: a new table, the old one dropped, the new one renamed.
    What a crash leaves at each step is finished (or undone) by the next run."""
    state = f"{incremental.schema}.pendo_sync_state"
    with make_emulator(incremental_emulator_data()) as emulator:
        assert incremental.sync(emulator=emulator).code == 0
        # Killed after the drop, before the rename: only the new table is left.
        incremental.query(f"alter table {state} rename to {state}__next")
        emulator.reset_log()
        result = incremental.sync(emulator=emulator)
        assert result.code == 0, result.output
        assert incremental.results()["models"][0]["counts"]["sent"] == 0
        # Killed before the drop: the old table holds, the new one is dropped.
        incremental.query(f"create table {state}__next using parquet as select * from {state} where false")
        result = incremental.sync(emulator=emulator)
        assert result.code == 0, result.output
        assert incremental.results()["models"][0]["counts"]["sent"] == 0
        assert emulator.write_calls() == 0
    assert len(incremental.state_ids()) == 2000
