"""A DB-API 2.0 connection over rows held in memory, for the readers of adapters whose server
does not run here (SQL Server, Synapse and Fabric through pyodbc; Databricks through
databricks-sql-connector).

It behaves as pyodbc's connection does where the readers care: `cursor()` takes no argument
(no server-side cursor by name), `execute` runs the query (here: takes the rows), and
`fetchmany(n)` hands out at most `n` rows, then an empty list when none are left. It keeps
what a test checks: each fetch's size, the rows handed out so far, and which cursors were
closed. It also has the two names dbt-databricks's DatabricksHandle writes into its log lines
(databricks-sql-connector's `get_session_id_hex()` and a cursor's `query_id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class StandinCursor:
    """One cursor of a StandinConnection."""

    connection: StandinConnection
    closed: bool = False
    query_id: str | None = None
    _pending: list[tuple] = field(default_factory=list)

    def execute(self, sql: str, parameters: Sequence[object] | None = None) -> StandinCursor:
        if self.closed:
            raise RuntimeError("execute on a closed cursor")
        self.connection.queries.append(sql)
        self._pending = list(self.connection.rows)
        return self

    def fetchmany(self, size: int = 1) -> list[tuple]:
        if self.closed:
            raise RuntimeError("fetch from a closed cursor")
        chunk, self._pending = self._pending[:size], self._pending[size:]
        self.connection.fetches.append(size)
        self.connection.rows_out += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True


@dataclass
class StandinConnection:
    """A connection whose every query answers `rows`."""

    rows: Sequence[tuple]
    queries: list[str] = field(default_factory=list)
    fetches: list[int] = field(default_factory=list)  # the size each fetchmany asked for
    rows_out: int = 0  # rows handed out so far
    cursors: list[StandinCursor] = field(default_factory=list)

    def cursor(self) -> StandinCursor:  # pyodbc's takes no name: no server-side cursor
        made = StandinCursor(self)
        self.cursors.append(made)
        return made

    def get_session_id_hex(self) -> str:
        return "standin"

    def close(self) -> None:
        for made in self.cursors:
            made.close()
