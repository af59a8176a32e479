"""DuckDB runs inside the sync's process: where the profile sets no memory_limit, the sync's
DuckDB session has a bounded one and spills to disk beside the database; a limit the profile
sets is kept. The session's limit is a debug line (`--debug`, JSON logs)."""

from __future__ import annotations

import duckdb

from dbt_pendo_sync.dbt.duckdb_memory import MEMORY_PER_THREAD


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
    con = duckdb.connect()  # DuckDB's threads: the machine's cores, as in the sync's session
    threads = int(con.execute("select current_setting('threads')").fetchone()[0])
    con.close()
    bound = _as_duckdb_shows(memory_limit=f"{MEMORY_PER_THREAD * threads}MB")["memory_limit"]

    result = sample.sync("--dry-run", "--debug")

    assert result.code == 0, result.output
    line = _memory_line(result.stdout)
    assert f"DuckDB memory_limit {bound}, the sync's bound" in line
    assert "raise it with `settings: {memory_limit: ...}` in the profile" in line
    assert f"spills to {sample.path / 'sample.duckdb.tmp'}" in line


def test_a_memory_limit_the_profile_sets_is_kept(sample):
    profile = sample.path / "profiles.yml"
    profile.write_text(profile.read_text() + "      settings:\n        memory_limit: 1GB\n")
    kept = _as_duckdb_shows(memory_limit="1GB")["memory_limit"]

    result = sample.sync("--dry-run", "--debug")

    assert result.code == 0, result.output
    line = _memory_line(result.stdout)
    assert f"DuckDB memory_limit {kept}, the profile's;" in line
    assert "the sync's bound" not in line
