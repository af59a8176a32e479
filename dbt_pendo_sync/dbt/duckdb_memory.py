"""DuckDB's memory in the sync's process.

DuckDB runs inside the process that opens it, so its buffer pool counts in the sync's own
memory, and DuckDB's default `memory_limit` is 80% of the machine's RAM: a sync of 10M rows
held 2 GB. Where the profile's `settings:` sets no memory limit, the sync bounds its DuckDB
session (MEMORY_PER_THREAD per DuckDB thread) and DuckDB spills what does not fit to its
`temp_directory`, which is left as the profile or DuckDB's default has it: `<database
file>.tmp` beside a database file, `.tmp` in the working directory for `:memory:`. A limit the
profile sets is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# DuckDB's memory_limit, in MB, per thread of DuckDB's (its `threads` setting: the machine's
# cores unless the profile sets it). Each thread's operators need some memory of their own: a
# snapshot of 1M rows failed at 4 MB a thread and ran at 16 MB; 64 MB leaves room for
# wider rows and more of them.
MEMORY_PER_THREAD = 64
# The setting's name and its alias, as a profile's `settings:` may spell them.
_LIMIT_SETTINGS = frozenset({"memory_limit", "max_memory"})


@dataclass(frozen=True)
class DuckDbMemory:
    """The session's memory settings, as DuckDB reports them once the connection is ready."""

    memory_limit: str  # e.g. "122.0 MiB"
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
        return f"DuckDB memory_limit {self.memory_limit}, {whose}; {spills}"


def bound_memory(handle: Any, settings: Mapping[str, Any] | None) -> DuckDbMemory:
    """Give a just-opened DuckDB connection (dbt-duckdb's handle) the sync's memory bound,
    unless the profile's `settings` set a limit; what the session then has. The limit is the
    database's (DuckDB's global setting): every cursor of the process shares it."""
    cursor = handle.cursor()
    bounded = not any(str(name).lower() in _LIMIT_SETTINGS for name in settings or {})
    if bounded:
        threads = int(_setting(cursor, "threads"))
        cursor.execute(f"SET memory_limit = '{MEMORY_PER_THREAD * max(threads, 1)}MB'")
    return DuckDbMemory(
        memory_limit=_setting(cursor, "memory_limit"),
        temp_directory=_setting(cursor, "temp_directory"),
        bounded=bounded,
    )


def _setting(cursor: Any, name: str) -> str:
    cursor.execute(f"select current_setting('{name}')")
    return str(cursor.fetchone()[0])
