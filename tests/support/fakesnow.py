"""Start a real ``fakesnow`` server (an in-process stand-in for Snowflake, backed by DuckDB)
for tests.

``fakesnow -s`` serves Snowflake's HTTP protocol, so the real snowflake-connector-python
and dbt-snowflake talk to it as to Snowflake (``protocol: http``, user ``fake``, password
``snow``, account ``fakesnow``). Every session shares one in-memory DuckDB, so tests keep
apart by database or schema. The server runs in a process of its own, on a free port of
127.0.0.1, with its output in a log file under ``base_dir`` (never in the test output).

tests/conftest.py starts one per test session (the `fakesnow` fixture).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import ServerProcess, start_on_a_free_port

__all__ = ["FakesnowServer", "start_fakesnow"]

READY_TIMEOUT_S = 60.0
USER, PASSWORD, ACCOUNT = "fake", "snow", "fakesnow"


@dataclass
class FakesnowServer(ServerProcess):
    host: str
    port: int
    user: str = USER
    password: str = PASSWORD
    account: str = ACCOUNT
    log_file: Path = field(repr=False, default=Path())
    _process: subprocess.Popen | None = field(repr=False, default=None)
    _stopped: bool = field(repr=False, default=False)

    def env(self, prefix: str) -> dict[str, str]:
        """Connection details as env vars, e.g. env("INCR_SF_") -> INCR_SF_HOST, INCR_SF_PORT."""
        return {f"{prefix}HOST": self.host, f"{prefix}PORT": str(self.port)}

    def connect(self, **kwargs: Any) -> Any:
        """A snowflake-connector-python connection to this server."""
        import snowflake.connector

        return snowflake.connector.connect(
            host=self.host,
            port=self.port,
            protocol="http",
            user=self.user,
            password=self.password,
            account=self.account,
            **kwargs,
        )

    def stop(self) -> None:
        """Stop the server (SIGINT, as fakesnow expects; SIGKILL if it lingers). Idempotent."""
        if self._first_stop():
            self._end(signal.SIGINT)


def start_fakesnow(base_dir: Path) -> FakesnowServer:
    """Start `fakesnow -s` on a free 127.0.0.1 port and wait until it accepts connections."""
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    log_file = base_dir / "fakesnow.log"
    exe = Path(sys.executable).parent / "fakesnow"
    if not exe.exists():
        raise RuntimeError(f"{exe} not found: install fakesnow[server] in this environment")

    def start(port: int) -> FakesnowServer:
        with open(log_file, "ab") as log:  # appended: a retry keeps the earlier attempt's output
            proc = subprocess.Popen(
                [str(exe), "-s", "--host", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base_dir,
                start_new_session=True,  # Ctrl-C in the test runner must not hit it first
            )
        return FakesnowServer("127.0.0.1", port, log_file=log_file, _process=proc)

    return start_on_a_free_port(start, _accepts_connections, "fakesnow", READY_TIMEOUT_S)


def _accepts_connections(server: FakesnowServer) -> bool:
    try:
        with socket.create_connection((server.host, server.port), timeout=1):
            return True
    except OSError:
        return False
