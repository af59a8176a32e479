"""Start a throwaway, real PostgreSQL server for tests.

Uses the server binaries from Debian's ``postgresql`` package
(``/usr/lib/postgresql/<version>/bin``; the highest version wins). The cluster
is created with trust authentication, listens on a free TCP port on
127.0.0.1, keeps its data directory, log and unix socket under ``base_dir``
and is stopped with ``pg_ctl stop -m immediate``.

initdb and postgres refuse to run as root, so when the effective uid is 0
they run as the ``postgres`` OS user (via ``runuser``); the cluster directory
is chowned to that user and every ancestor of ``base_dir`` is made traversable
(``o+x``) so that user can reach it (pytest's ``/tmp/pytest-of-root`` is 0700).

Typical use::

    server = start_postgres(tmp_path)
    try:
        env = {**os.environ, **server.env("TYPED_PG_")}
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .processes import ServerProcess, free_port

__all__ = ["PostgresServer", "start_postgres", "find_postgres_bin_dir"]

NOT_FOUND_MESSAGE = (
    "PostgreSQL server binaries not found: install Debian's 'postgresql' package "
    "(apt-get install -y postgresql); .ci/run and the README's test command do this."
)

DEFAULT_DBNAME = "pendo_test"
SUPERUSER = "postgres"
OS_USER_WHEN_ROOT = "postgres"
READY_TIMEOUT_S = 60.0
# sockaddr_un.sun_path is 108 bytes on Linux; postgres appends "/.s.PGSQL.NNNNN"
# and a ".lock" file, so keep the socket directory comfortably shorter.
_MAX_SOCKET_DIR_LEN = 80
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "pg_isready", "createdb")


@dataclass
class PostgresServer(ServerProcess):
    host: str
    port: int
    user: str
    password: str
    dbname: str
    # Internals (not part of the connection details).
    bin_dir: Path = field(repr=False, default=Path())
    data_dir: Path = field(repr=False, default=Path())
    log_file: Path = field(repr=False, default=Path())
    _run_as: str | None = field(repr=False, default=None)
    _process: subprocess.Popen | None = field(repr=False, default=None)
    _extra_cleanup: list[Path] = field(repr=False, default_factory=list)
    _stopped: bool = field(repr=False, default=False)

    def dsn(self) -> str:
        """libpq keyword/value connection string (works with psycopg2.connect)."""
        parts = [
            f"host={self.host}",
            f"port={self.port}",
            f"user={self.user}",
            f"dbname={self.dbname}",
        ]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)

    def execute(self, sql: str) -> None:
        """Run SQL (statements, no result) on a connection of its own, in autocommit."""
        import psycopg2

        con = psycopg2.connect(self.dsn())
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    def env(self, prefix: str) -> dict[str, str]:
        """Connection details as env vars, e.g. env("TYPED_PG_") -> TYPED_PG_HOST, ..."""
        return {
            f"{prefix}HOST": self.host,
            f"{prefix}PORT": str(self.port),
            f"{prefix}USER": self.user,
            f"{prefix}PASSWORD": self.password,
            f"{prefix}DBNAME": self.dbname,
        }

    def stop(self) -> None:
        """Stop the server immediately. Idempotent; safe to call from finalizers."""
        if not self._first_stop():
            return
        if self.data_dir and (self.data_dir / "postmaster.pid").exists():
            try:
                _run(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "stop",
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "30",
                    ],
                    run_as=self._run_as,
                    timeout=45,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pass
        proc = self._process
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # pg_ctl did not manage: kill the postmaster we started, by pid.
                pid = _postmaster_pid(self.data_dir)
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for path in self._extra_cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_postgres_bin_dir() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres, highest Debian version first."""
    candidates: list[tuple[tuple[int, ...], Path]] = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for child in root.iterdir():
            version = tuple(int(p) for p in re.findall(r"\d+", child.name))
            if version and _has_binaries(child / "bin"):
                candidates.append((version, child / "bin"))
    if candidates:
        return max(candidates)[1]
    # Non-Debian layouts: server binaries on PATH or reported by pg_config.
    initdb = shutil.which("initdb")
    if initdb and _has_binaries(Path(initdb).parent):
        return Path(initdb).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_binaries(Path(out)):
            return Path(out)
    return None


def start_postgres(base_dir: Path) -> PostgresServer:
    """initdb + start a server on a free 127.0.0.1 port, create database pendo_test."""
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError(NOT_FOUND_MESSAGE)
    run_as = _os_user_for_server()
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    cluster_dir = Path(tempfile.mkdtemp(prefix="pg-", dir=base_dir))
    data_dir = cluster_dir / "data"
    extra_cleanup: list[Path] = []
    socket_dir = _socket_dir(cluster_dir, run_as, extra_cleanup)
    initdb = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"]
    initdb += ["--no-locale", "--no-sync", "--no-instructions"]
    _run(initdb, run_as=run_as, timeout=120, check=True, what="initdb")
    last_error = ""
    for _attempt in range(3):
        server = PostgresServer(
            host="127.0.0.1",
            port=free_port(),
            user=SUPERUSER,
            password="",
            dbname=DEFAULT_DBNAME,
            bin_dir=bin_dir,
            data_dir=data_dir,
            log_file=cluster_dir / "postgres.log",
            _run_as=run_as,
            _extra_cleanup=extra_cleanup,
        )
        try:
            _start(server, socket_dir)
        except _PortInUse as exc:  # lost the race for the port: try another one
            last_error = str(exc)
            continue
        return server
    raise RuntimeError(f"could not start PostgreSQL on a free port: {last_error}")


def _socket_dir(cluster_dir: Path, run_as: str | None, extra_cleanup: list[Path]) -> Path:
    """The server's unix socket folder (short enough for the socket path limit), its tree
    handed to the server's user when the tests run as root."""
    socket_dir = cluster_dir / "sock"
    if len(str(socket_dir)) > _MAX_SOCKET_DIR_LEN:
        # Deep pytest tmp dirs can exceed the unix socket path limit.
        socket_dir = Path(tempfile.mkdtemp(prefix="pgsock-", dir="/tmp"))
        extra_cleanup.append(socket_dir)
    socket_dir.mkdir(exist_ok=True)
    if run_as is not None:
        _make_traversable(cluster_dir)
        for path in (cluster_dir, socket_dir):
            _chown_tree(path, run_as)
            os.chmod(path, 0o755)
    return socket_dir


def _start(server: PostgresServer, socket_dir: Path) -> None:
    """Start the postmaster on the server's port, wait until it answers, create the database;
    stopped again on any failure (_PortInUse: the port was taken meanwhile)."""
    server._process = _spawn_postmaster(
        server.bin_dir, server.data_dir, socket_dir, server.port, server.log_file, server._run_as
    )
    atexit.register(server.stop)
    try:
        _wait_ready(server, deadline=time.monotonic() + READY_TIMEOUT_S)
        createdb = [str(server.bin_dir / "createdb"), "-h", server.host, "-p", str(server.port)]
        _run(
            [*createdb, "-U", SUPERUSER, DEFAULT_DBNAME], run_as=None, timeout=60, check=True, what="createdb"
        )
    except _PortInUse:
        server._extra_cleanup = []  # keep the socket dir for the retry
        server.stop()
        raise
    except BaseException:
        server.stop()
        raise


# --------------------------------------------------------------------------- helpers


class _PortInUse(RuntimeError):
    pass


def _has_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in _REQUIRED_BINARIES)


def _os_user_for_server() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(OS_USER_WHEN_ROOT)
    except KeyError:
        raise RuntimeError(
            "running as root, but there is no 'postgres' OS user to run the "
            "PostgreSQL server as (Debian's 'postgresql' package creates it)"
        ) from None
    if shutil.which("runuser") is None:
        raise RuntimeError("running as root, but 'runuser' (util-linux) is not available")
    return OS_USER_WHEN_ROOT


def _as_user(cmd: list[str], run_as: str | None) -> list[str]:
    if run_as is None:
        return cmd
    return ["runuser", "-u", run_as, "--", *cmd]


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never let the caller's libpq settings leak into the server tools.
    for key in list(env):
        if key.startswith("PG"):
            del env[key]
    env["LC_ALL"] = "C"
    return env


def _run(
    cmd: list[str], *, run_as: str | None, timeout: float, check: bool, what: str = ""
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        _as_user(cmd, run_as),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_server_env(),
        cwd="/",
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{what or cmd[0]} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return proc


def _spawn_postmaster(
    bin_dir: Path, data_dir: Path, socket_dir: Path, port: int, log_file: Path, run_as: str | None
) -> subprocess.Popen:
    cmd = [
        str(bin_dir / "postgres"),
        "-D",
        str(data_dir),
        "-p",
        str(port),
        "-k",
        str(socket_dir),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "TimeZone=UTC",
        "-c",
        "max_connections=50",
    ]
    # Append to the log so a retry keeps the earlier attempt's output.
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            _as_user(cmd, run_as),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            cwd="/",
            start_new_session=True,  # Ctrl-C in the test runner must not hit it first
        )
    return proc


def _wait_ready(server: PostgresServer, *, deadline: float) -> None:
    pg_isready = str(server.bin_dir / "pg_isready")
    while True:
        proc = server._process
        if proc is not None and proc.poll() is not None:
            log = server.log_tail()
            if "could not bind" in log or "Address already in use" in log:
                raise _PortInUse(log)
            raise RuntimeError(f"PostgreSQL exited during start-up (exit {proc.returncode}); log:\n{log}")
        result = subprocess.run(
            [
                pg_isready,
                "-q",
                "-h",
                server.host,
                "-p",
                str(server.port),
                "-U",
                server.user,
                "-d",
                "postgres",
                "-t",
                "2",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_server_env(),
            timeout=10,
        )
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"PostgreSQL did not become ready within {READY_TIMEOUT_S:.0f}s; log:\n{server.log_tail()}"
            )
        time.sleep(0.05)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _make_traversable(path: Path) -> None:
    """Give 'others' search (x) permission on every ancestor directory of path."""
    for directory in [path, *path.parents]:
        try:
            mode = os.stat(directory).st_mode
        except OSError:
            continue
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)


def _chown_tree(path: Path, user: str) -> None:
    shutil.chown(path, user=user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user=user)
