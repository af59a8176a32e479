"""Child processes: run one to completion, timed from the outside, with its peak RSS and CPU
from wait4; adopt and reap what it leaves behind (a child subreaper); kill what we started."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNING: dict[int, subprocess.Popen] = {}  # pid -> child we started and have not reaped
_subreaper = False  # whether orphaned descendants become our children (become_subreaper)


@dataclass
class Reaped:
    exit_code: int
    rss_mb: float  # peak RSS of the process (ru_maxrss is in KB on Linux)
    cpu_s: float  # user + system CPU seconds
    name: str = ""  # of a process left behind: its command name (java)
    left_behind: list[Reaped] = field(default_factory=list)


def _wait4(pid: int, flags: int = 0) -> Reaped | None:
    """wait4 on a child: its exit code, peak RSS and CPU; None if still running."""
    got, status, usage = os.wait4(pid, flags)
    if got == 0:
        return None
    return Reaped(
        os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime
    )


def reap(proc: subprocess.Popen, flags: int = 0) -> Reaped | None:
    """wait4 on our own child; None if still running."""
    reaped = _wait4(proc.pid, flags)
    if reaped is not None:
        RUNNING.pop(proc.pid, None)
        proc.returncode = reaped.exit_code  # so Popen never waits on it again
    return reaped


def become_subreaper() -> str | None:
    """Make the processes our children leave behind ours when those children exit (Linux's
    PR_SET_CHILD_SUBREAPER), instead of init's: pyspark's JVM outlives the Python process
    that started it, and only its parent can wait4 it (its peak RSS and CPU, and the moment
    it is gone: Derby lets one process at a time open the metastore). None when done, else
    why not."""
    global _subreaper
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except AttributeError:
        return "needs Linux (prctl PR_SET_CHILD_SUBREAPER)"
    if prctl(36, 1, 0, 0, 0) != 0:  # 36: PR_SET_CHILD_SUBREAPER
        return f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}"
    _subreaper = True
    return None


def _reap_left_behind(timeout: float = 120.0) -> list[Reaped]:
    """Wait for the adopted processes (our children we did not start) to exit, and reap them;
    one still running after `timeout` seconds is killed."""
    if not _subreaper:
        return []
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        if rest.split()[1] == me and pid not in RUNNING:
            found.append((pid, comm.split("(", 1)[1]))
    reaped = []
    for pid, name in found:
        deadline = time.monotonic() + timeout
        while (done := _wait4(pid, os.WNOHANG)) is None:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)  # reaped at the next turn
            time.sleep(0.05)
        done.name = name
        reaped.append(done)
    return reaped


def kill(proc: subprocess.Popen) -> Reaped | None:
    """Kill a child we started (by its pid) and reap it."""
    if proc.pid not in RUNNING:
        return None
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    return reap(proc)


def kill_all() -> None:
    for proc in list(RUNNING.values()):
        kill(proc)


def _shown(argv: list[str]) -> list[str]:
    """The command line as the log shows it: the value of a --key option hidden."""
    return ["***" if before == "--key" else arg for before, arg in zip(["", *argv[:-1]], argv, strict=True)]


def run_child(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> tuple[Reaped, float]:
    """Run a command to completion: its exit code, peak RSS and CPU, and wall seconds (until
    it exits); then reap what it left behind (Reaped.left_behind), not timed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(_shown(argv))}\n".encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        RUNNING[proc.pid] = proc
        try:
            reaped = reap(proc)
        except BaseException:
            kill(proc)
            raise
        wall = time.perf_counter() - started
    assert reaped is not None  # a blocking wait4
    reaped.left_behind = _reap_left_behind()
    return reaped, wall


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    """The `--log-format json` events of that name the log's last command wrote."""
    text = log.read_text(encoding="utf-8", errors="replace")
    found = []
    for line in text[text.rfind("\n$ ") + 1 :].splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a stderr line that happens to start with {
            if doc.get("event") == event:
                found.append(doc)
    return found


def tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This process's environment without the caller's Pendo or dbt settings (none may leak
    into the runs), dbt's usage stats off, Python unbuffered."""
    dbt_settings = {"DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET", "DBT_TARGET_PATH"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PENDO_", "DBT_PENDO_")) and k not in dbt_settings
    }
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", PYTHONUNBUFFERED="1")
    return env
