"""Incremental syncs: the warehouse diffs each model against the state of what Pendo
confirmed, and only new and changed rows are sent. Every test runs on DuckDB, PostgreSQL and
Snowflake (fakesnow, tests/support/fakesnow.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter

import pytest

from dbt_pendo_sync.emulator import Fault

from ..conftest import (
    INCREMENTAL,
    INCREMENTAL_WAREHOUSES,
    ON_SPARK,
    IncrementalProject,
    _copy,
    base_env,
    dbt_pendo,
    incremental_emulator_data,
    kill_when,
    make_emulator,
    snowflake_incremental,
    wait_until,
)

N = 2000
# The scenarios that also run on Spark (plain tables: no DELETE, no transactions).
also_on_spark = pytest.mark.parametrize("incremental", [*INCREMENTAL_WAREHOUSES, ON_SPARK], indirect=True)
# dbt-redshift on the PostgreSQL server (support/redshift.py): the scenarios only.
also_on_spark_and_redshift = pytest.mark.parametrize(
    "incremental", [*INCREMENTAL_WAREHOUSES, ON_SPARK, "redshift"], indirect=True
)


def _ids(n: int) -> set[str]:
    return {f"u-{i:06d}" for i in range(1, n + 1)}


def _counts(project) -> dict:
    return project.results()["models"][0]["counts"]


def _sent_ids(emulator) -> list[str]:
    return [rec["visitorId"] for r in emulator.request_log() if r.method == "POST" for rec in r.body]


@pytest.fixture
def emulator():
    with make_emulator(incremental_emulator_data()) as em:
        yield em


def _sync_ok(project, emulator, *args):
    result = project.sync(*args, emulator=emulator)
    assert result.code == 0, result.output
    return _counts(project)


@also_on_spark_and_redshift
def test_unchanged_model_sends_nothing_and_changed_rows_are_sent_exactly(incremental, emulator):
    first = _sync_ok(incremental, emulator)
    assert first["new"] == N and first["updated"] == N
    assert incremental.state_ids() == _ids(N)

    emulator.reset_log()
    second = _sync_ok(incremental, emulator)
    assert second["sent"] == 0 and second["unchanged"] == N
    assert emulator.write_calls() == 0

    for gen, k in enumerate((1, 7, 1000), start=1):
        incremental.build(bump_rows=k, gen=gen)
        emulator.reset_log()
        counts = _sync_ok(incremental, emulator)
        assert counts["changed"] == k and counts["sent"] == k and counts["updated"] == k
        assert sorted(_sent_ids(emulator)) == sorted(_ids(k))
    assert {vid: v["score"] for vid, v in emulator.all_values("visitor").items()} == {
        vid: row["score"] for vid, row in incremental.model_values().items()
    }


@also_on_spark
def test_missing_ids_are_resent_until_pendo_knows_them(incremental):
    unknown = {"u-000010", "u-000500", "u-001999"}
    with make_emulator(incremental_emulator_data(known=_ids(N) - unknown)) as emulator:
        first = _sync_ok(incremental, emulator)
        assert first["missing"] == 3 and first["updated"] == N - 3
        assert incremental.state_ids() == _ids(N) - unknown

        emulator.reset_log()
        again = _sync_ok(incremental, emulator)
        assert again["sent"] == 3 and again["missing"] == 3
        assert set(_sent_ids(emulator)) == unknown

        emulator.add_records("visitor", unknown)
        known_now = _sync_ok(incremental, emulator)
        assert known_now["updated"] == 3 and known_now["missing"] == 0
        assert incremental.state_ids() == _ids(N)
        assert _sync_ok(incremental, emulator)["sent"] == 0


def test_rejected_rows_stay_out_of_the_state_and_are_retried(incremental, emulator):
    emulator.faults.add(Fault(kind="partial", ids=frozenset({"u-000042"})))
    result = incremental.sync(emulator=emulator)
    assert result.code == 1
    assert "u-000042" not in incremental.state_ids()
    emulator.faults.clear()
    emulator.reset_log()
    counts = _sync_ok(incremental, emulator)
    assert counts["sent"] == 1 and _sent_ids(emulator) == ["u-000042"]


def test_mapping_change_resends_exactly_the_rows_whose_payload_changed(incremental, emulator):
    _sync_ok(incremental, emulator)
    incremental.build(with_vip=True)  # a new column, non-null on every 100th row
    emulator.reset_log()
    counts = _sync_ok(incremental, emulator)
    assert counts["changed"] == N // 100 and counts["sent"] == N // 100
    assert emulator.values("visitor", "u-000100")["vip"] == "gold"


def test_dropped_rows_leave_pendo_alone_and_come_back_when_they_return(incremental, emulator):
    _sync_ok(incremental, emulator)
    incremental.build(drop=10)
    emulator.reset_log()
    assert _sync_ok(incremental, emulator)["sent"] == 0
    assert incremental.state_ids() == _ids(N - 10)
    assert "u-002000" in emulator.all_values("visitor")  # update-only: nothing deleted in Pendo
    incremental.build()
    counts = _sync_ok(incremental, emulator)
    assert counts["new"] == 10 and counts["sent"] == 10


def test_full_resync_sends_everything_and_rebuilds_the_state(incremental, emulator):
    _sync_ok(incremental, emulator)
    emulator.reset_log()
    counts = _sync_ok(incremental, emulator, "--full-resync")
    assert counts["sent"] == N and counts["unchanged"] == N
    assert incremental.state_ids() == _ids(N)
    assert _sync_ok(incremental, emulator)["sent"] == 0


def test_dry_run_is_a_plan_from_the_same_diff(incremental, emulator):
    _sync_ok(incremental, emulator)
    incremental.build(bump_rows=7, gen=1)
    emulator.reset_log()
    result = incremental.sync("--dry-run", "--show", "2", emulator=emulator)
    assert result.code == 0, result.output
    plan = incremental.results("pendo_sync_plan.json")["models"][0]["counts"]
    assert (plan["new"], plan["changed"], plan["unchanged"], plan["sent"]) == (0, 7, N - 7, 7)
    assert result.stdout.count("visitor_scores would send: ") == 2
    assert emulator.write_calls() == 0
    assert _sync_ok(incremental, emulator)["sent"] == 7  # the plan wrote no state


@also_on_spark
def test_sigkill_mid_sync_loses_nothing(incremental, emulator):
    # 200 calls of 100 rows, 0.05 s each on 2 threads: about 5 s, and progress is journaled
    # as it is answered, so the kill after 120 calls comes well after several journal writes.
    # On Spark, where rows cost most (its builds, its rerun's merges), 60 calls of 0.2 s: the
    # kill after 40 comes 4 s into the sending, as long as the 120 calls elsewhere.
    rows, delay, kill_at = (6000, 0.2, 40) if incremental.spark else (20000, 0.05, 120)
    incremental.build(rows=rows)
    emulator.faults.add(Fault(kind="delay", delay=delay))
    proc = incremental.start_sync("--threads", "2", emulator=emulator, stdout=subprocess.DEVNULL)
    kill_when(proc, lambda: emulator.write_calls() >= kill_at)
    confirmed_before = set(emulator.all_values("visitor"))
    assert incremental.state_ids() <= confirmed_before  # never claims more than Pendo confirmed

    emulator.faults.clear()
    incremental.build(rows=rows, bump_rows=5, gen=1)  # rows change while the sync was down
    emulator.reset_log()
    # At once: the killed run's process is gone from this machine, so its lock is taken over.
    counts = _sync_ok(incremental, emulator)
    assert counts["sent"] < rows  # what the killed run had confirmed was kept
    assert {vid: v["score"] for vid, v in emulator.all_values("visitor").items()} == {
        vid: row["score"] for vid, row in incremental.model_values().items()
    }
    assert incremental.state_ids() == _ids(rows)
    assert _sync_ok(incremental, emulator)["sent"] == 0


def _answered(emulator) -> set[str]:
    """Ids of the writes Pendo answered 200."""
    return {
        rec["visitorId"]
        for r in emulator.request_log()
        if r.method == "POST" and r.status == 200
        for rec in r.body
    }


def _journaled(project, ids: set[str]) -> set[str]:
    """Those of `ids` inside a range the running sync's journal holds (PostgreSQL, which
    another process can read while the sync writes)."""
    ranges = project.query(f"select lo, hi from {project.schema}.pendo_sync_journal where kind = 'range'")
    return {i for i in ids if any(lo <= i <= hi for lo, hi in ranges)}


@pytest.mark.parametrize("incremental", ["postgres"], indirect=True)
def test_a_rerun_after_a_kill_resends_only_the_calls_in_flight(incremental, emulator):
    """Pendo holds the first call while it answers the 19 after it (batches of 100): each
    answered call is journaled as it is answered, so the run killed then, and rerun, sends
    again only the held call's 100 rows."""
    emulator.faults.add(Fault(kind="delay", delay=10.0, requests=frozenset({1})))
    proc = incremental.start_sync("--threads", "4", emulator=emulator, stdout=subprocess.DEVNULL)
    kill_when(
        proc,
        lambda: len(done := _answered(emulator)) == N - 100 and _journaled(incremental, done) == done,
        timeout=60,
    )
    assert emulator.in_flight() == 1  # the held call, the only one not answered
    wait_until(lambda: emulator.in_flight() == 0, "Pendo to answer the held call")
    held = _ids(N) - _journaled(incremental, _ids(N))
    assert len(held) == 100

    assert _sync_ok(incremental, emulator)["sent"] == 100
    received = Counter(_sent_ids(emulator))
    assert {vid for vid, n in received.items() if n == 2} == held  # sent twice: only the held call
    assert set(received.values()) == {1, 2} and set(received) == _ids(N)
    assert incremental.state_ids() == _ids(N)


@pytest.mark.parametrize("incremental", ["postgres"], indirect=True)
def test_the_journal_of_batches_answered_out_of_order_stays_a_few_ranges(incremental, emulator):
    """Every other call is slow, so batches are answered out of order all along: the journal
    (whose every range the final merge looks each row up in) never holds many more ranges
    than the runs of answered batches, and the state is exact."""
    incremental.build(rows=20000)
    emulator.faults.add(Fault(kind="delay", delay=0.2, requests=frozenset(range(2, 201, 2))))
    proc = incremental.start_sync("--threads", "8", emulator=emulator, stdout=subprocess.DEVNULL)
    wait_until(lambda: emulator.write_calls() > 0, "the first call")  # the journal table exists
    counts: list[int] = []
    table = f"{incremental.schema}.pendo_sync_journal"

    def ended() -> bool:
        counts.extend(incremental.query(f"select count(*) from {table} where kind = 'range'")[0])
        return proc.poll() is not None

    wait_until(ended, "the sync to end", timeout=120)
    assert proc.returncode == 0
    assert max(counts) <= 60, max(counts)
    assert incremental.state_ids() == _ids(20000)
    assert _sync_ok(incremental, emulator)["sent"] == 0


def test_a_second_sync_of_the_same_model_waits_then_stops_clearly(incremental, emulator):
    emulator.faults.add(Fault(kind="delay", delay=1.0))  # the first run holds its lock for a while
    first = incremental.start_sync("--threads", "1", emulator=emulator, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: emulator.write_calls() >= 2, "the first run to start writing")
        second = incremental.sync("--lock-wait", "1", emulator=emulator)
    finally:
        emulator.faults.clear()  # then the first run finishes at once
        first.wait(timeout=120)
    assert second.code == 1
    assert "Traceback" not in second.output
    assert "lock" in second.output.lower()
    if incremental.target != "duckdb":  # DuckDB's own file lock stops it even earlier
        assert "being synced by another run" in second.output
    assert first.returncode == 0
    assert incremental.state_ids() == _ids(N)


def test_a_snowflake_project_that_quotes_identifiers_is_read_where_dbt_built_it(fakesnow, tmp_path):
    """Snowflake folds unquoted names to upper case. A project with `quoting: identifier:
    true` builds a lower-case "visitor_scores", which the sync and validate find; its columns
    (PLAN, SCORE... as the SQL did not quote them) go to the fields the SQL named: plan, score.
    Before the build, validate says the model is not built."""
    path = _copy(INCREMENTAL, tmp_path / "incremental_project")
    with (path / "dbt_project.yml").open("a") as config:
        config.write("quoting:\n  identifier: true\n")
    project = snowflake_incremental(path, fakesnow)
    unbuilt = dbt_pendo(["validate", *project.args(), "--offline"], project.env)
    assert unbuilt.code == 1 and "does not exist in the warehouse" in unbuilt.output, unbuilt.output
    project.build(rows=30)
    assert project.query('select count(*) from incr."visitor_scores"') == [(30,)]

    checked = dbt_pendo(["validate", *project.args(), "--offline"], project.env)
    assert checked.code == 0, checked.output
    with make_emulator(incremental_emulator_data()) as emulator:
        assert _sync_ok(project, emulator)["updated"] == 30
        assert emulator.values("visitor", "u-000003") == {"plan": "pro", "score": 30, "is_active": False}
    assert project.state_ids() == _ids(30)


@also_on_spark
def test_record_ids_with_quotes_and_backslashes_reach_the_warehouse_unchanged(incremental, monkeypatch):
    """Keys go into the journal as SQL literals. Where a quote is escaped with a backslash
    (Snowflake, Spark, BigQuery), a backslash in an id is an escape too: unless it is doubled,
    `c:\\new` would be journaled as `c:` and a newline, and that row never confirmed."""
    from dbt_pendo_sync.dbt.compat import DbtTarget, build_adapter
    from dbt_pendo_sync.dbt.warehouse import Warehouse

    for name, value in incremental.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(incremental.path)  # a DuckDB file is named relative to the project
    incremental.start_spark()  # on Spark: this process's session, as dbt-pendo finds it
    w = Warehouse(build_adapter(DbtTarget(incremental.path, incremental.path, incremental.target)))
    texts = ["o'brien", "a\\b", "c:\\new\\table", "\\'", "it''s", "ünï €"]
    with w.connection():
        assert [w.query(f"select {w.literal(t)}")[0][0] for t in texts] == texts


def test_a_project_overrides_the_ledgers_sql_by_dispatch(tmp_path):
    """The sync tables' SQL is the package's dispatched macros: a project's own
    `<adapter>__pendo_sync_...` macro, put first by a `dispatch:` config, is what runs."""
    path = _copy(INCREMENTAL, tmp_path / "incremental_project")
    (path / "macros").mkdir()
    (path / "macros" / "pendo_sync_overrides.sql").write_text(
        "{% macro duckdb__pendo_sync_create_table(relation, columns) -%}\n"
        "  create table if not exists {{ relation }}\n"
        "  ({{ columns }}, created_by varchar default 'our macro')\n"
        "{%- endmacro %}\n"
    )
    with (path / "dbt_project.yml").open("a") as config:
        config.write(
            "dispatch:\n  - macro_namespace: dbt_pendo_sync\n"
            "    search_order: [incremental_project, dbt_pendo_sync]\n"
        )
    project = IncrementalProject(path, base_env(INCR_DUCKDB_PATH=str(path / "incr.duckdb")), "duckdb")
    project.build(rows=10)
    with make_emulator(incremental_emulator_data()) as emulator:
        assert _sync_ok(project, emulator)["updated"] == 10
    assert project.query("select distinct created_by from main.pendo_sync_state") == [("our macro",)]
    assert project.state_ids() == _ids(10)


def test_a_claim_from_another_machine_is_waited_out_then_taken_over(duck, emulator):
    """A run on another machine that was killed leaves a claim nobody can check: the next run
    waits for it to go stale (when that is within --lock-wait), says so, then syncs."""
    import duckdb

    assert _sync_ok(duck, emulator)["sent"] == N  # the state tables exist
    con = duckdb.connect(str(duck.path / duck.env["INCR_DUCKDB_PATH"]))
    con.execute(
        "insert into main.pendo_sync_lock values "
        "('model.incremental_project.visitor_scores', 'another-host:4242:0badf00d', "
        f"{int(time.time()) - 50})"
    )
    con.close()
    result = duck.sync("--lock-stale-after", "60", emulator=emulator)
    assert result.code == 0, result.output
    assert "the lock is held by another-host:4242:0badf00d" in result.output
    assert re.search(r"waiting up to \d+ s for it to end or go stale", result.output)


def _manifest_invocation(project) -> str:
    return json.loads((project.path / "target" / "manifest.json").read_text())["metadata"]["invocation_id"]


def test_a_sync_parses_the_project_only_for_other_vars_than_the_builds(duck, emulator):
    duck.dbt("build", "--vars", "{gen: 1}")  # `dbt build --target duckdb --vars {gen: 1}`
    built = _manifest_invocation(duck)
    for same in ([], ["--vars", "{gen: 1}"]):
        assert duck.sync("--dry-run", *same, emulator=emulator).code == 0
        assert _manifest_invocation(duck) == built  # dbt's manifest of that build, no parse
    assert duck.sync("--dry-run", "--vars", "{gen: 2}", emulator=emulator).code == 0
    assert _manifest_invocation(duck) != built  # parsed for those vars


def _snapshot_rows(project) -> dict[str, int]:
    """The rows of the model's snapshot table, per change kind, as the warehouse holds them."""
    (table,) = [
        name
        for (name,) in project.query("select table_name from information_schema.tables")
        if name.lower().startswith("pendo_sync_snap_")
    ]
    rows = project.query(f"select __change, count(*) from {project.schema}.{table} group by __change")
    return {str(kind): int(n) for kind, n in rows}


@also_on_spark
def test_a_sync_writes_only_the_rows_that_differ_from_the_state(incremental, emulator):
    """The snapshot freezes what is sent: no row for an unchanged model; for a 1% change,
    exactly the changed rows and the keys of the records that left the model."""
    assert _sync_ok(incremental, emulator)["frozen"] == N  # a first sync: every row is new
    second = _sync_ok(incremental, emulator)
    assert (second["frozen"], second["rows"], second["unchanged"], second["sent"]) == (0, N, N, 0)
    incremental.build(bump_rows=N // 100, gen=1, drop=5)
    counts = _sync_ok(incremental, emulator)
    assert (counts["frozen"], counts["changed"], counts["sent"]) == (N // 100 + 5, N // 100, N // 100)
    assert (counts["rows"], counts["unchanged"], counts["removed"]) == (N - 5, N - N // 100 - 5, 0)
    assert incremental.state_ids() == _ids(N - 5)  # the records that left are forgotten
    full = _sync_ok(incremental, emulator, "--full-resync")
    assert (full["frozen"], full["sent"], full["unchanged"]) == (N - 5, N - 5, N - 5)


def test_a_killed_syncs_snapshot_holds_only_the_changed_rows(incremental, emulator):
    """Seen in the warehouse while a 1% sync is stopped mid-send: its snapshot table holds the
    changed rows alone; the next run recovers it and sends what the killed one had not."""
    incremental.build(rows=20000)
    _sync_ok(incremental, emulator)
    incremental.build(rows=20000, bump_rows=200, gen=1)
    emulator.reset_log()
    emulator.faults.add(Fault(kind="delay", delay=1.0))
    proc = incremental.start_sync("--threads", "1", emulator=emulator, stdout=subprocess.DEVNULL)
    kill_when(proc, lambda: emulator.write_calls() >= 1)
    assert _snapshot_rows(incremental) == {"changed": 200}
    emulator.faults.clear()
    counts = _sync_ok(incremental, emulator)
    assert counts["sent"] <= 200 and counts["unchanged"] >= 19800
    assert {vid: v["score"] for vid, v in emulator.all_values("visitor").items()} == {
        vid: row["score"] for vid, row in incremental.model_values().items()
    }
    assert _sync_ok(incremental, emulator)["frozen"] == 0


def test_an_id_on_two_rows_is_never_sent_though_one_row_is_unchanged(incremental, emulator):
    """A record synced before gets a second row (another score): the changed row is frozen,
    the unchanged one is not, and the warehouse still finds the id twice: neither is sent."""
    _sync_ok(incremental, emulator)
    incremental.build(twins=3)
    emulator.reset_log()
    result = incremental.sync(emulator=emulator)
    assert result.code == 1
    counts = _counts(incremental)
    assert (counts["rows"], counts["changed"], counts["unchanged"]) == (N + 3, 3, N)
    assert (counts["frozen"], counts["invalid"], counts["sent"]) == (3, 3, 0)
    assert emulator.write_calls() == 0
    assert emulator.values("visitor", "u-000001")["score"] == 10  # as first synced


def test_a_first_sync_finds_an_id_on_two_rows_in_its_snapshot_alone(incremental, emulator):
    """A first sync has no state of the model to diff against: every row is frozen as new
    (no join with the state), and an id on two rows is still found, in the snapshot, and
    never sent; the next sync diffs against what this one confirmed."""
    incremental.build(twins=3)
    result = incremental.sync(emulator=emulator)
    assert result.code == 1
    counts = _counts(incremental)
    assert (counts["rows"], counts["new"], counts["frozen"]) == (N + 3, N + 3, N + 3)
    assert (counts["invalid"], counts["sent"], counts["updated"]) == (6, N - 3, N - 3)
    assert not {"u-000001", "u-000002", "u-000003"} & set(_sent_ids(emulator))
    incremental.build()
    again = _sync_ok(incremental, emulator)
    assert (again["new"], again["unchanged"], again["sent"]) == (3, N - 3, 3)
