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

import atexit
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import ServerProcess, free_port

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
        if not self._first_stop():
            return
        proc = self._process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(2)  # SIGINT: fakesnow's server stops on it
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_fakesnow(base_dir: Path) -> FakesnowServer:
    """Start `fakesnow -s` on a free 127.0.0.1 port and wait until it accepts connections."""
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    log_file = base_dir / "fakesnow.log"
    exe = Path(sys.executable).parent / "fakesnow"
    if not exe.exists():
        raise RuntimeError(f"{exe} not found: install fakesnow[server] in this environment")
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        with open(log_file, "ab") as log:  # appended: a retry keeps the earlier attempt's output
            proc = subprocess.Popen(
                [str(exe), "-s", "--host", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base_dir,
                start_new_session=True,  # Ctrl-C in the test runner must not hit it first
            )
        server = FakesnowServer("127.0.0.1", port, log_file=log_file, _process=proc)
        atexit.register(server.stop)
        try:
            _wait_ready(server, deadline=time.monotonic() + READY_TIMEOUT_S)
        except _Exited as exc:  # most likely lost the race for the port: try another one
            last_error = str(exc)
            server.stop()
            continue
        except BaseException:
            server.stop()
            raise
        return server
    raise RuntimeError(f"could not start fakesnow on a free port: {last_error}")


class _Exited(RuntimeError):
    pass


def _wait_ready(server: FakesnowServer, *, deadline: float) -> None:
    """Poll the port until the server accepts a connection, or it exits, or time runs out."""
    while True:
        proc = server._process
        if proc is not None and proc.poll() is not None:
            raise _Exited(
                f"fakesnow exited during start-up (exit {proc.returncode}); log:\n{server.log_tail()}"
            )
        try:
            with socket.create_connection((server.host, server.port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"fakesnow did not accept connections within {READY_TIMEOUT_S:.0f}s; "
                f"log:\n{server.log_tail()}"
            )
        time.sleep(0.05)
