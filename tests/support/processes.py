"""What the test servers (PostgreSQL, fakesnow) share: a free port and their log's tail."""

from __future__ import annotations

import atexit
import socket
from pathlib import Path


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


class ServerProcess:
    """What a test server's record shares (its dataclass gives `log_file` and `_stopped`)."""

    log_file: Path
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
