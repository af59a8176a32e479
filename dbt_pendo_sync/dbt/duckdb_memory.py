"""DuckDB's memory in the sync's process.

DuckDB runs inside the process that opens it, so its buffer pool counts in the sync's own
memory, and DuckDB's default `memory_limit` is 80% of the machine's RAM: a sync of 10M rows
held 2 GB. Where the profile's `settings:` sets no memory limit, the sync bounds its DuckDB
session (MEMORY_PER_THREAD per DuckDB thread) and DuckDB spills what does not fit to its
`temp_directory`, which is left as the profile or DuckDB's default has it: `<database
file>.tmp` beside a database file, `.tmp` in the working directory for `:memory:`. The
bounded session also runs SESSION_THREADS DuckDB threads unless the profile's `settings:` set
`threads`: each thread's operators hold memory of their own. A limit the profile sets is kept
as it is, and so are its threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# DuckDB's memory_limit, in MB, per thread of DuckDB's session. What the sync asks of DuckDB
# at 1M rows (snapshot, counts, the sorted read) failed at 72 MB with one thread and ran at
# 80 MB; at 96 MB it ran at 1M and 10M rows alike. The margin is for wider rows.
MEMORY_PER_THREAD = 96
# DuckDB threads of a bounded session whose profile sets none (DuckDB's default: every core).
# The sync's DuckDB work is a few scans and one sort per model, small beside the calls to
# Pendo; one thread holds one thread's memory.
SESSION_THREADS = 1
# The settings' names and aliases, as a profile's `settings:` may spell them.
_LIMIT_SETTINGS = frozenset({"memory_limit", "max_memory"})
_THREAD_SETTINGS = frozenset({"threads", "worker_threads"})


@dataclass(frozen=True)
class DuckDbMemory:
    """The session's memory settings, as DuckDB reports them once the connection is ready."""

    memory_limit: str  # e.g. "91.5 MiB"
    threads: str  # DuckDB's threads in the session
    temp_directory: str  # where DuckDB spills ('' when spilling is off)
    bounded: bool  # True: the sync's bound (the profile sets none); False: the profile's

    def describe(self) -> str:
        """A line for the debug log."""
        whose = (
            f"the sync's bound ({MEMORY_PER_THREAD} MB per DuckDB thread: the profile sets none; "
            "raise it with `settings: {memory_limit: ...}` in the profile)"
            if self.bounded
            else "the profile's"
        )
        spills = f"spills to {self.temp_directory}" if self.temp_directory else "spilling is off"
        return f"DuckDB memory_limit {self.memory_limit}, {whose}; {self.threads} thread(s); {spills}"


def bound_memory(handle: Any, settings: Mapping[str, Any] | None) -> DuckDbMemory:
    """Give a just-opened DuckDB connection (dbt-duckdb's handle) the sync's memory bound
    (and SESSION_THREADS threads unless the profile sets threads), unless the profile's
    `settings` set a limit; what the session then has. Both are the database's (DuckDB's
    global settings): every cursor of the process shares them."""
    cursor = handle.cursor()
    names = {str(name).lower() for name in settings or {}}
    bounded = not names & _LIMIT_SETTINGS
    if bounded:
        if not names & _THREAD_SETTINGS:
            cursor.execute(f"SET threads = {SESSION_THREADS}")
        threads = max(int(_setting(cursor, "threads")), 1)
        cursor.execute(f"SET memory_limit = '{MEMORY_PER_THREAD * threads}MB'")
    return DuckDbMemory(
        memory_limit=_setting(cursor, "memory_limit"),
        threads=_setting(cursor, "threads"),
        temp_directory=_setting(cursor, "temp_directory"),
        bounded=bounded,
    )


def _setting(cursor: Any, name: str) -> str:
    cursor.execute(f"select current_setting('{name}')")
    return str(cursor.fetchone()[0])
