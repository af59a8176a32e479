"""DuckDB runs inside the sync's process: where the profile sets no memory_limit, the sync's
DuckDB session has a bounded one, runs one DuckDB thread unless the profile sets threads, and
spills to disk beside the database; a limit the profile sets is kept, and so are its threads.
The session's limit is a debug line (`--debug`, JSON logs). DuckDB fetches come in chunks
smaller than the warehouse's."""

from __future__ import annotations

import duckdb

from dbt_pendo_sync.dbt.duckdb_memory import MEMORY_PER_THREAD, SESSION_THREADS, bound_memory
from dbt_pendo_sync.dbt.readers import DUCKDB_FETCH_ROWS, DuckDbReader


def _as_duckdb_shows(**settings: str) -> dict[str, str]:
    """Settings as DuckDB reports them (`current_setting`) on a fresh in-memory database."""
    con = duckdb.connect(config=settings)
    try:
        return {
            name: str(con.execute(f"select current_setting('{name}')").fetchone()[0]) for name in settings
        }
    finally:
        con.close()


def _memory_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if "DuckDB memory_limit" in line]
    return line


def test_a_profile_without_memory_limit_syncs_with_the_bounded_limit_and_spills_beside_the_database(sample):
    bound = _as_duckdb_shows(memory_limit=f"{MEMORY_PER_THREAD * SESSION_THREADS}MB")["memory_limit"]

    result = sample.sync("--dry-run", "--debug")

    assert result.code == 0, result.output
    line = _memory_line(result.stdout)
    assert f"DuckDB memory_limit {bound}, the sync's bound" in line
    assert "raise it with `settings: {memory_limit: ...}` in the profile" in line
    assert f"; {SESSION_THREADS} thread(s);" in line
    assert f"spills to {sample.path / 'sample.duckdb.tmp'}" in line


def test_the_bound_runs_the_session_threads_unless_the_profile_sets_threads():
    con = duckdb.connect()
    try:
        default = bound_memory(con, None)
        assert default.bounded
        assert default.threads == str(SESSION_THREADS)
        expected = _as_duckdb_shows(memory_limit=f"{MEMORY_PER_THREAD * SESSION_THREADS}MB")
        assert default.memory_limit == expected["memory_limit"]

        con.execute("SET threads = 3")  # as dbt-duckdb sets the profile's `settings: {threads: 3}`
        kept = bound_memory(con, {"threads": 3})
        assert kept.threads == "3"
        assert (
            kept.memory_limit == _as_duckdb_shows(memory_limit=f"{MEMORY_PER_THREAD * 3}MB")["memory_limit"]
        )
    finally:
        con.close()


def test_duckdb_rows_come_in_chunks_no_larger_than_its_fetch_size():
    con = duckdb.connect()
    try:
        sql = f"select i from range({2 * DUCKDB_FETCH_ROWS + 1}) t(i) order by i"
        chunks = list(DuckDbReader().stream(con, sql, 10 * DUCKDB_FETCH_ROWS))
        assert [len(chunk) for chunk in chunks] == [DUCKDB_FETCH_ROWS, DUCKDB_FETCH_ROWS, 1]
        assert [len(chunk) for chunk in DuckDbReader().stream(con, sql, 3)][:2] == [3, 3]
    finally:
        con.close()


def test_a_memory_limit_the_profile_sets_is_kept(sample):
    profile = sample.path / "profiles.yml"
    profile.write_text(profile.read_text() + "      settings:\n        memory_limit: 1GB\n")
    kept = _as_duckdb_shows(memory_limit="1GB")["memory_limit"]

    result = sample.sync("--dry-run", "--debug")

    assert result.code == 0, result.output
    line = _memory_line(result.stdout)
    assert f"DuckDB memory_limit {kept}, the profile's;" in line
    assert "the sync's bound" not in line
    assert f"; {_cores()} thread(s);" in line  # DuckDB's own default: the sync left threads alone


def _cores() -> int:
    con = duckdb.connect()
    try:
        return int(con.execute("select current_setting('threads')").fetchone()[0])
    finally:
        con.close()
