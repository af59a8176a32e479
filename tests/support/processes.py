"""What the test servers (PostgreSQL, fakesnow, MariaDB) share: a free port, their log's
tail, and (fakesnow, MariaDB) a start on a free port that waits until the server is ready."""

from __future__ import annotations

import atexit
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log_file: Path, max_chars: int = 4000) -> str:
    """The end of a server's log ("" when there is none), for a failure message."""
    try:
        return log_file.read_text(errors="replace")[-max_chars:]
    except OSError:
        return ""


class ServerExited(RuntimeError):
    """The server's process ended while it started (most likely it lost the race for its port)."""


class ServerProcess:
    """What a test server's record shares (its dataclass gives `log_file`, `_process` and
    `_stopped`)."""

    log_file: Path
    _process: subprocess.Popen | None
    _stopped: bool

    def log_tail(self, max_chars: int = 4000) -> str:
        return log_tail(self.log_file, max_chars)

    def stop(self) -> None:
        raise NotImplementedError

    def _first_stop(self) -> bool:
        """Whether this is the first call to stop (later ones do nothing); the exit hook goes."""
        if self._stopped:
            return False
        self._stopped = True
        atexit.unregister(self.stop)
        return True

    def _end(self, sig: int = signal.SIGTERM) -> None:
        """Send the server's process `sig` and wait for it to end (SIGKILL if it lingers)."""
        proc = self._process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _wait_ready(self, ready: Callable[[], bool], name: str, timeout: float) -> None:
        """Poll `ready` until it holds; ServerExited when the process ends first, RuntimeError
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not ready():
            proc = self._process
            if proc is not None and proc.poll() is not None:
                raise ServerExited(
                    f"{name} exited during start-up (exit {proc.returncode}); log:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready within {timeout:.0f}s; log:\n{self.log_tail()}")
            time.sleep(0.05)


S = TypeVar("S", bound=ServerProcess)


def start_on_a_free_port(
    start: Callable[[int], S], ready: Callable[[S], bool], name: str, timeout: float
) -> S:
    """The server `start(port)` starts on a free port of 127.0.0.1, once `ready(server)`
    holds; three tries, as another process may take the port first. It is stopped at exit
    if the tests do not stop it."""
    last_error = ""
    for _attempt in range(3):
        server = start(free_port())
        atexit.register(server.stop)
        try:
            server._wait_ready(lambda: ready(server), name, timeout)  # noqa: B023 (called here)
        except ServerExited as exc:
            last_error = str(exc)
            server.stop()
            continue
        except BaseException:
            server.stop()
            raise
        return server
    raise RuntimeError(f"could not start {name} on a free port: {last_error}")
