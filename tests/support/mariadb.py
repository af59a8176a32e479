"""Start a throwaway, real MariaDB server for tests.

Uses Debian's ``mariadb-server`` package (``mariadb-install-db``, ``mariadbd``; the README's
test command installs it). The data directory, init file and log are under ``base_dir``, the
socket in a short folder of its own in the temp dir (a socket's path has at most 107 bytes);
the server listens on a free TCP port of 127.0.0.1 and has a database ``crm`` and a user
``pendo`` with a random password, made by the init file at start-up. When the tests run as
root, mariadbd runs as root too (``--user=root``). Ready means the user's login succeeds;
``stop`` sends SIGTERM (SIGKILL if it lingers).

tests/functional/test_attached_sources.py starts one per test session (its `mariadb` fixture).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .processes import ServerProcess, start_on_a_free_port

__all__ = ["MariaDbServer", "start_mariadb"]

NOT_FOUND_MESSAGE = (
    "MariaDB's server not found: install Debian's 'mariadb-server' package "
    "(apt-get install -y mariadb-server); the README's test command does this."
)
READY_TIMEOUT_S = 60.0
DATABASE, USER = "crm", "pendo"
# Small InnoDB files: the data directory takes 20 MB instead of 110.
_SMALL = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"]


@dataclass
class MariaDbServer(ServerProcess):
    host: str
    port: int
    password: str = field(repr=False)
    user: str = USER
    database: str = DATABASE
    log_file: Path = field(repr=False, default=Path())
    socket_dir: Path = field(repr=False, default=Path())
    _process: subprocess.Popen | None = field(repr=False, default=None)
    _stopped: bool = field(repr=False, default=False)

    def execute(self, sql: str) -> str:
        """Run SQL with the `mariadb` client as the tests' user (the password reaches it in
        its environment, never on a command line); its tab-separated output."""
        login = [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]
        done = subprocess.run(
            [_program("mariadb"), "--no-defaults", "--protocol=tcp", *login, "--batch", self.database],
            input=sql,
            env={**_clean_env(), "MYSQL_PWD": self.password},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb failed (exit {done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL if it lingers). Idempotent."""
        if self._first_stop():
            self._end()
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def start_mariadb(base_dir: Path) -> MariaDbServer:
    """Make a data directory under `base_dir`, start mariadbd on a free port of 127.0.0.1
    and wait until the tests' user can log in."""
    mariadbd = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    if mariadbd is None:
        raise RuntimeError(NOT_FOUND_MESSAGE)
    base_dir = Path(base_dir).resolve()
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    data_dir, init_file, log_file = base_dir / "data", base_dir / "init.sql", base_dir / "mariadb.log"
    _initialise(data_dir, as_root)
    password = secrets.token_urlsafe(18)
    init_file.write_text(
        f"CREATE DATABASE IF NOT EXISTS {DATABASE};\n"
        f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
        f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1';\n"
    )

    def start(port: int) -> MariaDbServer:
        socket_dir = Path(tempfile.mkdtemp(prefix="mariadb-"))
        options = [f"--datadir={data_dir}", f"--init-file={init_file}", f"--socket={socket_dir}/s", *as_root]
        options += [f"--port={port}", f"--log-error={log_file}", f"--pid-file={socket_dir}/pid"]
        server = MariaDbServer("127.0.0.1", port, password, log_file=log_file, socket_dir=socket_dir)
        server._process = subprocess.Popen(
            [mariadbd, "--no-defaults", *options, *_QUICK, *_SMALL],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its log is log_file
            env=_clean_env(),
            cwd="/",
            start_new_session=True,  # Ctrl-C in the test runner must not hit it first
        )
        return server

    return start_on_a_free_port(start, _logs_in, "MariaDB", READY_TIMEOUT_S)


# A server for tests: on 127.0.0.1 only, no binary log, no DNS, no flush at each commit.
_QUICK = [
    "--bind-address=127.0.0.1",
    "--skip-log-bin",
    "--skip-name-resolve",
    "--innodb-flush-log-at-trx-commit=0",
]


def _logs_in(server: MariaDbServer) -> bool:
    try:
        server.execute("select 1")
        return True
    except RuntimeError:
        return False


def _clean_env() -> dict[str, str]:
    """This environment without the MySQL client's own variables (MYSQL_HOST, ...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MYSQL")}


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(NOT_FOUND_MESSAGE)
    return path


def _initialise(data_dir: Path, as_root: list[str]) -> None:
    """mariadb-install-db: the system tables in a new data directory."""
    cmd = [_program("mariadb-install-db"), "--no-defaults", f"--datadir={data_dir}", "--skip-test-db"]
    done = subprocess.run(
        [*cmd, *as_root, *_SMALL],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed (exit {done.returncode}): {done.stderr[-2000:]}")
