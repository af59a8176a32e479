"""Benchmark of `dbt-pendo sync` against the local Pendo emulator, on DuckDB (and Spark).

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--batch-size 500] [--threads N]
                                              [--big [10000000]] [--workdir DIR]
                                              [--rows-list 1000000,10000000] [--spark]

Steps (each one a child process, timed from the outside, with its own peak RSS and CPU from
wait4; syncs run with the sync's DEFAULT options: no --threads, no --max-rps, so the sync's
window of calls in flight adapts by itself, from 4 up to its --threads ceiling, 32):
  build      `dbt build` of a visitor model with N rows (benchmarks/project, copied to the workdir)
  startup    a sync whose selection holds no model (`--exclude` the only one): imports,
             manifest, `dbt ls`, no warehouse work (best of two)
  limit      the bare client: the same N payloads, built beforehand, POSTed with bare requests
             Sessions, batch size 500, once with 32 threads (the sync's default ceiling) and
             once with 4 (its starting window), each to its own fresh emulator; only the
             sending is timed (wall and CPU); the floor of each figure is the better of the two
  full       first sync: every row is new (no latency, no rate limit)
  scan       the warehouse's floor: `select count(fp) from (select <fingerprint> as fp from
             the model)`, the sync's own fingerprint expression (macros/ledger.sql
             default__pendo_sync_fingerprint as DuckDB renders it), in a child running duckdb
             against the bench database; best of 3, each on a fresh connection. (count(*)
             would not do: DuckDB drops the unused projection and reads nothing.) The
             expression is checked against the fingerprints the full sync stored.
  no-change  second sync: nothing changed, 0 rows sent
  1%         rebuild with 1% of the rows changed, then sync: N/100 rows sent
  rate       a full sync against `emulator --latency-ms 250,get=5 --rate-limit 100` (Pendo's
             rate under latency: 250 ms per write, 5 ms per read), DEFAULT options; its state
             in its own schema (--state-schema bench_rate), so every row is new without
             --full-resync. Its send phase (the emulator's send_seconds: first write to last
             answer) is printed as calls per second beside the wall
  start-up   `dbt-pendo --help` and `dbt-pendo --version` (best of 5 each); on a 10-row copy
             of the project: `dbt ls` (best of 3) and a sync (best of 3; each a first sync,
             its own --state-schema)
  --big [N]  then, at N rows (default 10,000,000): build, full and no-change sync (memory)
Every sync gets a freshly started emulator (`dbt-pendo emulator`, its own process, keeping
no request bodies), so earlier steps cannot slow later ones; its CPU is its wait4 rusage.
Syncs run with `--log-format json`: their `model_finished` event's `to_send` is the count of
rows the sync reads from the warehouse into Python ("rows read"); the results file's
`counts.frozen` is the rows it writes to its snapshot table ("written": the rows that differ
from the state, 0 for the no-change sync).

The report ends with one table, "Limits (issue 15)", of every target's figure, the floor it
is compared with, the ratio and PASS/FAIL (ratios within one run; the machine is noisy):
  1 rate: the rate step's wall <= 1.25x ceil(N / batch) / 100 s
  2 CPU: the full sync's CPU s (whole process) <= 3x the bare client's (sending only), and
    its wall (whole process) <= 1.3x the bare client's; the emulator's CPU per 1M rows beside
  3 scan: a no-change sync's own work <= 1.5x the scan; a 1% sync's own work <= the
    no-change sync's + 2x 1% of the full sync's. "Own work" is the model's `seconds` in
    target/pendo_sync_results.json (snapshot, diff, send, state merge; no process start,
    no dbt parsing, no adapter set-up)
  4 memory: the peak RSS of every sync <= 300 MB; with --big, the peak at N within 15% of
    the peak at --rows (full and no-change syncs at each size)
  5 start-up: --help and --version < 0.3 s each; the 10-row sync <= 1 s beyond `dbt ls`

--spark (Linux; needs Java and dbt-spark[session]) then runs the same model on Spark
(benchmarks/spark_project over a copy of benchmarks/project: dbt-spark's `session` method,
parquet tables, a Derby metastore in the workdir): build, startup, full, no-change, printed
next to DuckDB's. pyspark starts a JVM as a child of the Python process; it outlives that
process by a moment (it exits when its stdin closes), and this process, a child subreaper
(prctl), adopts it and reaps it with wait4: "JVM" figures are that process's, "peak RSS" and
"CPU s" the Python process's alone. Checks (PASS/FAIL rows): the no-change sync on Spark
reads no row into Python (to_send 0, sent 0, unchanged = N) and its Python peak RSS stays
within 64 MB of Spark's startup step. Without Java or dbt-spark it is reported skipped.

With --rows-list, only build, startup, full and no-change run, once per size (peak RSS per
size, the memory targets). It is a measurement, not a test: the exit code is 0 whatever the
targets say (1 only when the benchmark itself cannot run, e.g. `dbt build` fails). Results
also go to <workdir>/bench_results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_TEMPLATE = HERE / "project"
SPARK_OVERLAY = HERE / "spark_project"  # copied over PROJECT_TEMPLATE for the Spark run
BIN = Path(sys.executable).parent
MODEL = "bench_visitors"
RELATION = f"main.{MODEL}"
MODEL_ID = f"model.pendo_bench.{MODEL}"
KEY = "bench-integration-key"
MARKER = ".dbt_pendo_bench"
WRITE_PATH = "/api/v1/metadata/visitor/custom/value"

# The emulator's field schema for the model's columns (Types: string, boolean, integer,
# float, time). The sync sends every column but the id, under its own name.
FIELD_TYPES = {
    "plan": "string",
    "score": "integer",
    "is_active": "boolean",
    "mrr": "float",
    "signup_date": "time",
    "last_seen_at": "time",
    "seats": "integer",
}

# The sync's defaults the benchmark leans on (dbt_pendo_sync/settings.py SyncOptions.threads,
# pendo/concurrency.py START): the bare client sends at both.
SYNC_THREADS_CEILING = 32
SYNC_START_WINDOW = 4

# The fingerprint as the sync computes it (ledger/snapshot.py _fingerprint_sql, macros/ledger.sql
# default__pendo_sync_fingerprint, rendered for DuckDB): md5 of a prefix (FINGERPRINT_VERSION,
# the object kind and the pendo block's conversion salt: truncate_text|date_format|timezone at
# their defaults) and, per field in field-name order, "\x1f<field>=" and the value as text
# ('' for a null, since a null is not sent). Checked against the state after the full sync.
FINGERPRINT_SEPARATOR = "\x1f"
FINGERPRINT_PREFIX = f"1{FINGERPRINT_SEPARATOR}visitor{FINGERPRINT_SEPARATOR}False|rfc3339|UTC"

# Pendo's rate under latency (target 1)
RATE_LATENCY_MS = 250  # per call, reads apart
RATE_READ_MS = 5  # per read (GET): Pendo answers the field schema in milliseconds
RATE_LIMIT = 100  # calls per second
RATE_STATE_SCHEMA = "bench_rate"
TINY_ROWS = 10
BIG_ROWS = 10_000_000

# The targets (issue 15). Ratios are of figures measured in the same run.
RATE_MAX = 1.25  # rate step's wall / rate floor
CPU_MAX = 3.0  # full sync CPU / bare client CPU
WALL_MAX = 1.3  # full sync wall / bare client wall
SCAN_MAX = 1.5  # no-change own work / fingerprint scan
ONE_PCT_FULL_SHARE = 2 * 0.01  # 1% own <= no-change own + 2x 1% of full own
RSS_MAX_MB = 300.0
BIG_RSS_GROWTH = 0.15  # the peak at --big rows within 15% of the peak at --rows
CLI_MAX_S = 0.3  # dbt-pendo --help / --version
TINY_BEYOND_LS_S = 1.0  # a 10-row sync beyond `dbt ls`

# The Spark no-change sync's Python peak RSS may exceed that of Spark's startup step (a sync
# of no model: no SparkSession, no query) by this much: pyspark, py4j and the session's
# objects, not rows (N rows held at once would take hundreds of MB).
NOCHANGE_RSS_MARGIN_MB = 64
SPARK_TARGETS = {  # name: (description, goal text)
    "nochange_reads_nothing": ("no-change sync: rows read into Python", "0"),
    "nochange_rss_beyond_startup": (
        "no-change sync: Python peak RSS - startup",
        f"< {NOCHANGE_RSS_MARGIN_MB} MB",
    ),
}


class BenchError(Exception):
    """The benchmark itself cannot go on (not a measured failure)."""


# ---------------------------------------------------------------- child processes


@dataclass
class Step:
    """One measured (or informational) step."""

    name: str
    wall: float | None = None
    rows_sent: int | None = None
    rows_read: int | None = None  # model_finished's to_send: rows read into Python
    rows_written: int | None = None  # the results' counts.frozen: rows written to the snapshot
    rss_mb: float | None = None
    cpu_s: float | None = None  # user + system CPU seconds of the child process
    jvm_rss_mb: float | None = None  # the JVM it left behind (Spark: pyspark's)
    jvm_cpu_s: float | None = None
    emulator_cpu_s: float | None = None
    exit_code: int | None = None
    check: str = ""
    ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float | None:
        if not self.rows_sent or not self.wall:
            return None
        return self.rows_sent / self.wall

    def record(self, reaped: Reaped) -> None:
        """The figures of the step's process, and of the JVM it left behind. The other
        processes left behind (multiprocessing's resource tracker: a fork and exec of Python,
        its peak RSS the forked parent's) are only listed in extra."""
        self.rss_mb, self.cpu_s, self.exit_code = reaped.rss_mb, reaped.cpu_s, reaped.exit_code
        if reaped.left_behind:
            self.extra["left_behind"] = [asdict(r) for r in reaped.left_behind]
        jvms = [r for r in reaped.left_behind if r.name == "java"]
        if jvms:
            self.jvm_rss_mb = max(r.rss_mb for r in jvms)
            self.jvm_cpu_s = sum(r.cpu_s for r in jvms)


_running: dict[int, subprocess.Popen] = {}  # pid -> child we started and have not reaped


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


def _reap(proc: subprocess.Popen, flags: int = 0) -> Reaped | None:
    """wait4 on our own child; None if still running."""
    reaped = _wait4(proc.pid, flags)
    if reaped is not None:
        _running.pop(proc.pid, None)
        proc.returncode = reaped.exit_code  # so Popen never waits on it again
    return reaped


_subreaper = False  # whether orphaned descendants become our children (become_subreaper)


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
        if rest.split()[1] == me and pid not in _running:
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


def _kill(proc: subprocess.Popen) -> Reaped | None:
    """Kill a child we started (by its pid) and reap it."""
    if proc.pid not in _running:
        return None
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    return _reap(proc)


def _kill_all() -> None:
    for proc in list(_running.values()):
        _kill(proc)


def run_child(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> tuple[Reaped, float]:
    """Run a command to completion: its exit code, peak RSS and CPU, and wall seconds (until
    it exits); then reap what it left behind (Reaped.left_behind), not timed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(argv)}\n".encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _running[proc.pid] = proc
        try:
            reaped = _reap(proc)
        except BaseException:
            _kill(proc)
            raise
        wall = time.perf_counter() - started
    assert reaped is not None  # a blocking wait4
    reaped.left_behind = _reap_left_behind()
    return reaped, wall


def _events(log: Path, event: str) -> list[dict[str, Any]]:
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


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """`dbt-pendo emulator` in its own process, on a free port (`args`: more of its options)."""

    def __init__(
        self, data_file: Path | None, log: Path, env: dict[str, str], args: Sequence[str] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        data = ["--data", str(data_file)] if data_file is not None else []
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "dbt-pendo"), "emulator", "--port", str(self.port), *data, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, "PENDO_INTEGRATION_KEY": KEY},
            )
        _running[self.proc.pid] = self.proc
        self.rss_mb: float | None = None
        self.cpu_s: float | None = None
        self.last_stats: dict[str, Any] = {}  # its stats just before stop()
        self._wait_ready(log)
        try:
            self.ready_stats = self.stats()  # its CPU once started (imports, data file)
        except (OSError, ValueError):
            self.ready_stats = {}

    def _wait_ready(self, log: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if _reap(self.proc, os.WNOHANG) is not None:
                raise BenchError(f"the emulator exited at start:\n{_tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BenchError(
                        f"the emulator did not listen on port {self.port} within {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        """Its `GET /_emulator/stats` (call counts, statuses, throttled, max_in_flight,
        cpu_seconds, peak_rss_mb)."""
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
        with opener.open(f"{self.url}/_emulator/stats", timeout=10) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        """Its stats (kept in last_stats), then kill it: its peak RSS and CPU from wait4."""
        if self.proc.pid in _running:
            try:
                self.last_stats = self.stats()
            except (OSError, ValueError):
                self.last_stats = {}
        reaped = _kill(self.proc)
        if reaped is not None:
            self.rss_mb, self.cpu_s = reaped.rss_mb, reaped.cpu_s


# ---------------------------------------------------------------- the benchmark


@dataclass
class Settings:
    rows: int
    threads: int | None  # None: the sync's default (no --threads)
    batch_size: int
    workdir: Path
    rows_list: list[int] | None
    spark: bool = False
    big: int | None = None  # rows of the --big step (None: not run)

    @property
    def limit_threads(self) -> list[int]:
        """The bare client's thread counts: the sync's ceiling and starting window, else
        the --threads given."""
        return [self.threads] if self.threads else [SYNC_THREADS_CEILING, SYNC_START_WINDOW]


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


def _best(runs: list[Step], name: str) -> Step:
    """The fastest of runs of one step (a failed run never), named `name`, every wall noted."""
    best = min(runs, key=lambda st: st.wall if st.ok and st.wall is not None else float("inf"))
    best.name = name
    best.extra["walls"] = [None if r.wall is None else round(r.wall, 3) for r in runs]
    walls = ", ".join(_num(r.wall, ".2f") for r in runs)
    best.check = (best.check + "; " if best.check else "") + f"best of {walls} s"
    return best


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.base_env = clean_env()
        self.logs = settings.workdir / "bench_logs"
        self.data_file = settings.workdir / "emulator_data.json"
        self.emulator_rss: list[float] = []

    # -- setup

    def write_emulator_data(self) -> None:
        schema = {"visitor": {"custom": {name: {"Type": t} for name, t in FIELD_TYPES.items()}}}
        data = {"visitors": "all", "accounts": [], "schema": schema, "values": {}}
        self.data_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def make_project(self, name: str, overlay: Path | None = None) -> Path:
        """A copy of the bench project (with `overlay`'s files over it), batch size set."""
        project = self.s.workdir / name
        ignore = shutil.ignore_patterns("target", "logs", "*.duckdb*")
        shutil.copytree(PROJECT_TEMPLATE, project, ignore=ignore)
        if overlay is not None:
            shutil.copytree(overlay, project, ignore=ignore, dirs_exist_ok=True)
        props = project / "models" / "_bench.yml"
        text, count = re.subn(
            r"(?m)^(\s*batch_size:) \d+", rf"\g<1> {self.s.batch_size}", props.read_text(encoding="utf-8")
        )
        if count != 1:
            raise BenchError(f"cannot set batch_size in {props}")
        props.write_text(text, encoding="utf-8")
        limit = bench_memory_limit()
        if overlay is None and limit:  # the DuckDB profile's output is the file's last lines
            with (project / "profiles.yml").open("a", encoding="utf-8") as profile:
                profile.write(f"      settings:\n        memory_limit: {json.dumps(limit)}\n")
        return project

    def env(self, project: Path, url: str | None = None) -> dict[str, str]:
        env = dict(
            self.base_env,
            BENCH_DUCKDB_PATH=str(project / "bench.duckdb"),
            BENCH_SPARK_DIR=str(project / "spark"),  # tables and metastore (spark_project)
            PENDO_INTEGRATION_KEY=KEY,
        )
        if url:
            env["PENDO_BASE_URL"] = url
        return env

    def emulator(self, label: str, args: Sequence[str] = ()) -> Emulator:
        return Emulator(self.data_file, self.logs / f"emulator_{label}.log", self.base_env, args)

    def stop_emulator(self, emulator: Emulator, step: Step) -> None:
        emulator.stop()
        if emulator.rss_mb is not None:
            self.emulator_rss.append(emulator.rss_mb)
        step.emulator_cpu_s = emulator.cpu_s
        stats, ready = emulator.last_stats, emulator.ready_stats
        during = (
            stats["cpu_seconds"] - ready["cpu_seconds"]
            if "cpu_seconds" in stats and "cpu_seconds" in ready
            else None
        )
        step.extra["emulator"] = {
            "rss_mb": emulator.rss_mb,
            "cpu_s": emulator.cpu_s,  # wait4: its whole life, start included
            "cpu_during_s": during,  # /_emulator/stats cpu_seconds, from ready to stop
            **{
                k: stats.get(k)
                for k in ("write_calls", "statuses", "throttled", "max_in_flight", "send_seconds")
            },
        }

    # -- steps

    def build(self, project: Path, rows: int, bump: int, label: str) -> Step:
        step = Step(f"dbt build ({rows:,} rows, bump {bump:,})")
        log = self.logs / f"{label}.log"
        argv = [
            str(BIN / "dbt"),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--vars",
            f"{{rows: {rows}, bump: {bump}}}",
        ]
        reaped, step.wall = run_child(argv, self.env(project), log, project)
        step.record(reaped)
        code = reaped.exit_code
        if code != 0:
            raise BenchError(f"`dbt build` failed (exit {code}); log {log}:\n{_tail(log)}")
        step.check = "ok"
        return step

    def command(self, name: str, label: str, argv: list[str], project: Path | None = None) -> Step:
        """A command run to completion as a child process (no emulator); ok when it exits 0."""
        step = Step(name)
        log = self.logs / f"{label}.log"
        cwd = project or self.s.workdir
        env = self.env(project) if project else self.base_env
        reaped, step.wall = run_child(argv, env, log, cwd)
        step.record(reaped)
        step.ok = reaped.exit_code == 0
        step.check = "ok" if step.ok else f"FAILED: exit {reaped.exit_code}; log {log}"
        return step

    def sync(
        self,
        project: Path,
        name: str,
        label: str,
        expect_sent: int | None,
        extra_args: tuple[str, ...] = (),
        emulator: bool = True,
        emulator_args: tuple[str, ...] = (),
    ) -> Step:
        """A `dbt-pendo sync` with the sync's default options (plus `extra_args`; --threads
        only when the benchmark was given one) against a fresh emulator."""
        step = Step(name)
        log = self.logs / f"{label}.log"
        results_file = project / "target" / "pendo_sync_results.json"
        results_file.unlink(missing_ok=True)
        emu = self.emulator(label, emulator_args) if emulator else None
        try:
            argv = [
                str(BIN / "dbt-pendo"),
                "sync",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                *(["--threads", str(self.s.threads)] if self.s.threads else []),
                "--log-format",
                "json",
                *extra_args,
            ]
            url = emu.url if emu else "http://127.0.0.1:9"
            reaped, step.wall = run_child(argv, self.env(project, url), log, project)
        finally:
            if emu:
                self.stop_emulator(emu, step)
        step.record(reaped)
        code = reaped.exit_code
        problems = []
        if code != 0:
            problems.append(f"exit {code}")
        try:
            results = json.loads(results_file.read_text(encoding="utf-8"))
            models = results.get("models", [])
        except (OSError, ValueError) as exc:
            models = []
            problems.append(f"no results file ({type(exc).__name__})")
        counts = models[0]["counts"] if models else {}
        step.rows_sent = sum(m["counts"]["sent"] for m in models)
        step.rows_written = sum(m["counts"].get("frozen", 0) for m in models) if models else None
        finished = _events(log, "model_finished")
        step.rows_read = sum(e["to_send"] for e in finished) if finished else None
        step.extra |= {
            "counts": counts,
            "model_seconds": models[0].get("seconds") if models else None,
            "status": models[0].get("status") if models else None,
            "log": str(log),
        }
        if expect_sent is not None:
            if len(models) != 1:
                problems.append(f"{len(models)} models in results, expected 1")
            elif step.rows_sent != expect_sent:
                problems.append(f"sent {step.rows_sent:,}, expected {expect_sent:,}")
            elif counts.get("updated") != expect_sent:
                problems.append(f"updated {counts.get('updated')}, expected {expect_sent:,}")
            elif step.rows_read != expect_sent:
                problems.append(f"read {_num(step.rows_read, ',d')} rows, expected {expect_sent:,}")
        elif models:
            problems.append(f"expected no model, got {len(models)}")
        step.ok = not problems
        if problems:
            step.check = "FAILED: " + "; ".join(problems)
            print(f"  {name}: {step.check}; log {log}:\n{_tail(log)}", flush=True)
        elif expect_sent is None:
            step.check = "ok (nothing to sync)"
        else:
            step.check = (
                f"ok (read, sent and updated {expect_sent:,})" if expect_sent else "ok (read 0, sent 0)"
            )
        throttled = step.extra.get("emulator", {}).get("throttled")
        if throttled:
            step.check += f"; {throttled:,} calls throttled (429)"
        return step

    def startup(self, project: Path, label: str) -> Step:
        """Two runs of a sync selecting no model; the faster one."""
        runs = [
            self.sync(
                project,
                "startup (empty selection)",
                f"{label}_{i}",
                None,
                ("--exclude", MODEL),  # selects no model (a typo would be an error)
                emulator=False,
            )
            for i in (1, 2)
        ]
        return _best(runs, "startup (empty selection)")

    def limit(self, project: Path, rows: int) -> list[Step]:
        """The bare client: payloads built beforehand, then sent once per thread count, each
        time to its own fresh emulator; one step per thread count (sending only)."""
        threads = self.s.limit_threads
        log = self.logs / "limit.log"
        out = self.s.workdir / "limit_result.json"
        out.unlink(missing_ok=True)
        emulators: list[Emulator] = []
        steps = [Step(f"limit: bare client, {t} threads") for t in threads]
        try:
            for t in threads:
                emulators.append(self.emulator(f"limit_{t}"))
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "_limit-child",
                "--db",
                str(project / "bench.duckdb"),
                "--relation",
                RELATION,
                "--batch-size",
                str(self.s.batch_size),
                "--out",
                str(out),
            ]
            for t, emu in zip(threads, emulators, strict=True):
                argv += ["--send", str(t), emu.url]
            reaped, process_wall = run_child(argv, self.env(project), log, project)
        finally:
            for emu, step in zip(emulators, steps, strict=False):  # fewer if one failed to start
                self.stop_emulator(emu, step)
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        for i, step in enumerate(steps):
            step.record(reaped)
            if reaped.exit_code != 0 or result is None:
                step.ok = False
                step.check = f"FAILED: exit {reaped.exit_code}"
                print(f"  limit: {step.check}; log {log}:\n{_tail(log)}", flush=True)
                continue
            run = result["runs"][i]
            step.wall = run["send_seconds"]
            step.cpu_s = run["send_cpu_seconds"]  # of the sending only, like the wall time
            step.rows_sent = result["records"]
            step.extra |= {**result, **run, "process_wall": round(process_wall, 2)}
            del step.extra["runs"]
            if run["updated"] != rows or result["records"] != rows or run["bad_answers"]:
                step.ok = False
                step.check = (
                    f"FAILED: updated {run['updated']:,} of {result['records']:,} "
                    f"(expected {rows:,}), {run['bad_answers']} bad answers"
                )
            else:
                step.check = (
                    f"ok (updated = {rows:,}; sending only; prebuilding took "
                    f"{result['build_seconds']:.1f} s, process {process_wall:.1f} s)"
                )
        return steps

    def scan(self, project: Path) -> Step:
        """The warehouse's floor: the sync's fingerprint over every row, counted (best of 3)."""
        step = Step("scan: count(fingerprint), best of 3")
        log = self.logs / "scan.log"
        out = self.s.workdir / "scan_result.json"
        out.unlink(missing_ok=True)
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "_scan-child",
            "--db",
            str(project / "bench.duckdb"),
            "--relation",
            RELATION,
            "--runs",
            "3",
            "--out",
            str(out),
        ]
        reaped, process_wall = run_child(argv, self.env(project), log, project)
        step.record(reaped)
        if reaped.exit_code != 0 or not out.exists():
            step.ok = False
            step.check = f"FAILED: exit {reaped.exit_code}"
            print(f"  scan: {step.check}; log {log}:\n{_tail(log)}", flush=True)
            return step
        result = json.loads(out.read_text(encoding="utf-8"))
        step.wall = min(result["seconds"])
        step.extra |= {**result, "process_wall": round(process_wall, 2)}
        matched, stored = result["fingerprints_matched"], result["fingerprints_stored"]
        step.check = (
            f"best of {', '.join(f'{x:.2f}' for x in result['seconds'])} s (query only); "
            f"expression = the stored fingerprint on {_num(matched, ',d')} of {_num(stored, ',d')} rows"
        )
        if stored and matched != stored:
            step.check += " (NOT the sync's expression)"
        return step

    def startup_costs(self, steps: dict[str, Step]) -> None:
        """--help and --version (best of 5); on a 10-row copy of the project, `dbt ls` and a
        first sync (best of 3 each)."""
        cli = str(BIN / "dbt-pendo")
        for option in ("--help", "--version"):
            key = option.strip("-")
            runs = [self.command(f"dbt-pendo {option}", f"cli_{key}_{i}", [cli, option]) for i in range(1, 6)]
            steps[key] = _best(runs, f"dbt-pendo {option} (best of 5)")
        tiny = self.make_project("tiny")
        steps["tiny_build"] = self.build(tiny, TINY_ROWS, 0, "tiny_build")
        ls = [str(BIN / "dbt"), "ls", "--project-dir", str(tiny), "--profiles-dir", str(tiny)]
        runs = [self.command("dbt ls", f"tiny_ls_{i}", ls, tiny) for i in range(1, 4)]
        steps["dbt_ls"] = _best(runs, f"dbt ls, {TINY_ROWS} rows (best of 3)")
        runs = [
            # each its own state schema: every run a first sync that sends the 10 rows
            self.sync(tiny, "sync", f"tiny_sync_{i}", TINY_ROWS, ("--state-schema", f"bench_tiny_{i}"))
            for i in range(1, 4)
        ]
        steps["tiny_sync"] = _best(runs, f"sync, {TINY_ROWS} rows (best of 3)")

    # -- protocols

    def run_single(self) -> dict[str, Any]:
        n = self.s.rows
        bump = n // 100
        project = self.make_project("project")
        steps: dict[str, Step] = {}
        total = 11 + (1 if self.s.big else 0)

        def stage(i: int, text: str) -> None:
            print(f"[{i}/{total}] {text}", flush=True)

        stage(1, f"dbt build, {n:,} rows")
        steps["build"] = self.build(project, n, 0, "build")
        stage(2, "startup: sync of an empty selection (x2)")
        steps["startup"] = self.startup(project, "startup")
        stage(
            3,
            "limit: prebuilt payloads over bare requests, "
            + " and ".join(f"{t} threads" for t in self.s.limit_threads),
        )
        for t, step in zip(self.s.limit_threads, self.limit(project, n), strict=True):
            steps[f"limit_{t}"] = step
        stage(4, "first (full) sync")
        steps["full"] = self.sync(project, "full sync", "sync_full", n)
        stage(5, "scan: count of the fingerprint over every row (x3)")
        steps["scan"] = self.scan(project)
        stage(6, "second sync, nothing changed")
        steps["nochange"] = self.sync(project, "no-change sync", "sync_nochange", 0)
        stage(7, f"dbt build, {bump:,} rows changed (1%)")
        steps["rebuild"] = self.build(project, n, bump, "build_1pct")
        stage(8, "sync of the 1% change")
        steps["one_pct"] = self.sync(project, "1% sync", "sync_1pct", bump)
        stage(9, f"full sync at {RATE_LATENCY_MS} ms per call and {RATE_LIMIT} calls/s (own state schema)")
        steps["rate"] = self.sync(
            project,
            f"rate: full sync, {RATE_LATENCY_MS} ms, {RATE_LIMIT}/s",
            "sync_rate",
            n,
            ("--state-schema", RATE_STATE_SCHEMA),
            emulator_args=(
                "--latency-ms",
                f"{RATE_LATENCY_MS},get={RATE_READ_MS}",
                "--rate-limit",
                str(RATE_LIMIT),
            ),
        )
        stage(10, "dbt-pendo --help and --version (x5 each)")
        stage(11, f"{TINY_ROWS}-row project: dbt build, dbt ls (x3), sync (x3)")
        self.startup_costs(steps)
        if self.s.big:
            big = self.s.big
            stage(12, f"--big: dbt build, full and no-change sync at {big:,} rows")
            big_project = self.make_project(f"project_{big}")
            steps["big_build"] = self.build(big_project, big, 0, f"build_{big}")
            steps["big_full"] = self.sync(big_project, f"full sync, {big:,} rows", f"sync_full_{big}", big)
            steps["big_nochange"] = self.sync(
                big_project, f"no-change sync, {big:,} rows", f"sync_nochange_{big}", 0
            )
        outcome = {
            "mode": "single",
            "rows": n,
            "steps": steps,
            "limits": limits(steps, self.s),
        }
        if self.s.spark:
            outcome["spark"] = self.run_spark(n)
        return outcome

    def run_spark(self, n: int) -> dict[str, Any]:
        """The Spark run: build, startup, full and no-change sync (or why it cannot run)."""
        missing = spark_missing() or become_subreaper()
        if missing:
            print(f"[spark] skipped: {missing}", flush=True)
            return {"skipped": missing}
        project = self.make_project("spark_project", SPARK_OVERLAY)
        steps: dict[str, Step] = {}
        print(f"[spark 1/4] dbt build, {n:,} rows", flush=True)
        steps["build"] = self.build(project, n, 0, "spark_build")
        print("[spark 2/4] startup: sync of an empty selection (x2)", flush=True)
        steps["startup"] = self.startup(project, "spark_startup")
        print("[spark 3/4] first (full) sync", flush=True)
        steps["full"] = self.sync(project, "full sync", "spark_sync_full", n)
        print("[spark 4/4] second sync, nothing changed", flush=True)
        steps["nochange"] = self.sync(project, "no-change sync", "spark_sync_nochange", 0)
        return {"java": java_version(), "steps": steps, "targets": self.spark_targets(steps, n)}

    def run_sizes(self, sizes: list[int]) -> dict[str, Any]:
        per_size: dict[int, dict[str, Step]] = {}
        for i, n in enumerate(sizes, 1):
            project = self.make_project(f"project_{n}")
            steps: dict[str, Step] = {}
            print(f"[size {i}/{len(sizes)}: {n:,} rows] dbt build", flush=True)
            steps["build"] = self.build(project, n, 0, f"build_{n}")
            print(f"[size {i}/{len(sizes)}: {n:,} rows] startup (x2)", flush=True)
            steps["startup"] = self.startup(project, f"startup_{n}")
            print(f"[size {i}/{len(sizes)}: {n:,} rows] full sync", flush=True)
            steps["full"] = self.sync(project, "full sync", f"sync_full_{n}", n)
            print(f"[size {i}/{len(sizes)}: {n:,} rows] no-change sync", flush=True)
            steps["nochange"] = self.sync(project, "no-change sync", f"sync_nochange_{n}", 0)
            per_size[n] = steps
        return {"mode": "rows-list", "sizes": per_size, "limits": size_limits(per_size)}

    @staticmethod
    def spark_targets(steps: dict[str, Step], rows: int) -> dict[str, dict[str, Any]]:
        """The no-change sync on Spark reads no row into Python: `to_send` (the rows read
        through Warehouse.stream) and sent are 0 while every row is unchanged, and its Python
        peak RSS stays near that of a sync that starts no SparkSession."""
        nochange, startup = steps["nochange"], steps["startup"]
        counts = nochange.extra.get("counts", {})
        read, unchanged = nochange.rows_read, counts.get("unchanged")
        reads_nothing = read == 0 and nochange.rows_sent == 0 and unchanged == rows
        beyond = (
            nochange.rss_mb - startup.rss_mb
            if nochange.rss_mb is not None and startup.rss_mb is not None
            else None
        )
        return {
            "nochange_reads_nothing": {
                "value": read,
                "pass": reads_nothing,
                "shown": f"{_num(read, ',d')} (sent {_num(nochange.rows_sent, ',d')}, "
                f"unchanged {_num(unchanged, ',d')} of {rows:,})",
            },
            "nochange_rss_beyond_startup": {
                "value": beyond,
                "pass": beyond is not None and beyond < NOCHANGE_RSS_MARGIN_MB,
                "shown": f"{_num(beyond, '+.0f')} MB ({_num(nochange.rss_mb, '.0f')} - "
                f"{_num(startup.rss_mb, '.0f')})",
            },
        }


# ---------------------------------------------------------------- the targets (issue 15)


def _limit(
    number: str,
    target: str,
    measured: str,
    compared: str,
    goal: str,
    ratio: float | None = None,
    passed: bool | None = None,
    value: float | None = None,
) -> dict[str, Any]:
    """One row of the Limits table; passed None: not measured (or only informational)."""
    return {
        "number": number,
        "target": target,
        "measured": measured,
        "compared_with": compared,
        "ratio": ratio,
        "goal": goal,
        "pass": passed,
        "value": value,
    }


def _usable(*steps: Step | None) -> bool:
    return all(st is not None and st.ok and st.wall is not None for st in steps)


def _own(step: Step | None) -> float | None:
    """A sync's own work: its model's `seconds` in the results file."""
    return None if step is None else step.extra.get("model_seconds")


def _failed(number: str, target: str, goal: str, why: str) -> dict[str, Any]:
    return _limit(number, target, why, "-", goal, passed=False)


def limits(steps: dict[str, Step], s: Settings) -> list[dict[str, Any]]:
    """The Limits table: every target's figure, what it is compared with, and the verdict."""
    rows, out = s.rows, []
    per_m = 1_000_000 / rows

    # 1. Pendo's rate under latency
    rate = steps.get("rate")
    calls = math.ceil(rows / s.batch_size)
    floor = calls / RATE_LIMIT
    label = f"rate: full sync wall, {RATE_LATENCY_MS} ms + {RATE_LIMIT}/s"
    goal = f"<= {RATE_MAX}x"
    if _usable(rate):
        assert rate is not None and rate.wall is not None
        emu = rate.extra.get("emulator", {})
        ratio = rate.wall / floor
        send = emu.get("send_seconds")
        out.append(
            _limit(
                "1",
                label,
                f"{rate.wall:.1f} s (own {_num(_own(rate), '.1f')} s; send phase "
                f"{_num(calls / send if send else None, '.1f')} calls/s; throttled "
                f"{_num(emu.get('throttled'), ',d')}, max in flight {_num(emu.get('max_in_flight'), 'd')})",
                f"{floor:.1f} s = {calls:,} calls / {RATE_LIMIT}/s",
                goal,
                ratio,
                ratio <= RATE_MAX,
                rate.wall,
            )
        )
    else:
        out.append(_failed("1", label, goal, "step failed"))

    # 2. one core's worth of Python
    full = steps.get("full")
    bare = [st for key, st in steps.items() if key.startswith("limit_") and _usable(st)]
    if _usable(full) and bare:
        assert full is not None and full.wall is not None and full.cpu_s is not None
        cpu_best = min(bare, key=lambda st: st.cpu_s or float("inf"))
        wall_best = min(bare, key=lambda st: st.wall or float("inf"))
        assert cpu_best.cpu_s is not None and wall_best.wall is not None

        def threads(st: Step) -> str:
            return st.name.rsplit(", ", 1)[-1]

        ratio = full.cpu_s / cpu_best.cpu_s
        out.append(
            _limit(
                "2",
                "CPU: full sync (process) vs bare client",
                f"{full.cpu_s:.1f} s CPU",
                f"{cpu_best.cpu_s:.1f} s CPU (sending, {threads(cpu_best)})",
                f"<= {CPU_MAX:g}x",
                ratio,
                ratio <= CPU_MAX,
                full.cpu_s,
            )
        )
        ratio = full.wall / wall_best.wall
        out.append(
            _limit(
                "2",
                "wall: full sync (process) vs bare client",
                f"{full.wall:.1f} s (own {_num(_own(full), '.1f')} s)",
                f"{wall_best.wall:.1f} s (sending, {threads(wall_best)})",
                f"<= {WALL_MAX:g}x",
                ratio,
                ratio <= WALL_MAX,
                full.wall,
            )
        )

        def emulator_cpu(st: Step) -> float | None:  # during the step, per 1M rows
            during = st.extra.get("emulator", {}).get("cpu_during_s")
            return None if during is None else during * per_m

        emu_full, emu_bare = emulator_cpu(full), emulator_cpu(cpu_best)
        out.append(
            _limit(
                "2",
                "CPU per 1M rows: ours | the emulator's",
                f"sync {full.cpu_s * per_m:.1f} s | emulator {_num(emu_full, '.1f')} s",
                f"bare {cpu_best.cpu_s * per_m:.1f} s | emulator {_num(emu_bare, '.1f')} s",
                "info",
            )
        )
    else:
        out.append(_failed("2", "CPU and wall: full sync vs bare client", f"<= {CPU_MAX:g}x", "step failed"))

    # 3. the warehouse's scan
    scan, nochange, one_pct = steps.get("scan"), steps.get("nochange"), steps.get("one_pct")
    label = "no-change sync's own work vs fingerprint scan"
    goal = f"<= {SCAN_MAX}x"
    if _usable(scan, nochange) and _own(nochange) is not None:
        assert scan is not None and scan.wall is not None
        own = _own(nochange)
        assert own is not None
        ratio = own / scan.wall
        out.append(
            _limit(
                "3", label, f"{own:.2f} s", f"{scan.wall:.2f} s (scan)", goal, ratio, ratio <= SCAN_MAX, own
            )
        )
    else:
        out.append(_failed("3", label, goal, "step failed"))
    label = "1% sync's own work vs no-change + 2x 1% of full"
    if _usable(one_pct, nochange, full) and None not in (_own(one_pct), _own(nochange), _own(full)):
        own1, own0, ownf = _own(one_pct), _own(nochange), _own(full)
        assert own1 is not None and own0 is not None and ownf is not None
        bound = own0 + ONE_PCT_FULL_SHARE * ownf
        ratio = own1 / bound
        out.append(
            _limit(
                "3",
                label,
                f"{own1:.2f} s",
                f"{own0:.2f} + 2% x {ownf:.1f} = {bound:.2f} s",
                "<= 1x",
                ratio,
                ratio <= 1,
                own1,
            )
        )
    else:
        out.append(_failed("3", label, "<= 1x", "step failed"))

    # 4. memory
    syncs = {key: steps.get(key) for key in ("full", "nochange", "one_pct", "rate")}
    measured = {key: st.rss_mb for key, st in syncs.items() if st is not None and st.rss_mb is not None}
    label = f"peak RSS of every sync at {rows:,} rows"
    goal = f"<= {RSS_MAX_MB:.0f} MB"
    if measured:
        worst = max(measured, key=lambda k: measured[k])
        peak = measured[worst]
        shown = " ".join(f"{k} {v:.0f}" for k, v in measured.items())
        out.append(
            _limit(
                "4",
                label,
                f"{peak:.0f} MB ({shown})",
                f"{RSS_MAX_MB:.0f} MB",
                goal,
                peak / RSS_MAX_MB,
                peak <= RSS_MAX_MB and len(measured) == len(syncs),
                peak,
            )
        )
    else:
        out.append(_failed("4", label, goal, "no sync measured"))
    label = "peak RSS at --big rows vs at --rows"
    goal = f"<= {1 + BIG_RSS_GROWTH:g}x"
    small = [st.rss_mb for k in ("full", "nochange") if (st := steps.get(k)) and st.rss_mb]
    big = [st.rss_mb for k in ("big_full", "big_nochange") if (st := steps.get(k)) and st.rss_mb]
    if not s.big:
        out.append(_limit("4", label, "not run (--big)", "-", goal))
    elif len(small) == 2 and len(big) == 2:
        ratio = max(big) / max(small)
        out.append(
            _limit(
                "4",
                label.replace("--big", f"{s.big:,}").replace("--rows", f"{rows:,}"),
                f"{max(big):.0f} MB (full {big[0]:.0f}, no-change {big[1]:.0f})",
                f"{max(small):.0f} MB (full {small[0]:.0f}, no-change {small[1]:.0f})",
                goal,
                ratio,
                ratio <= 1 + BIG_RSS_GROWTH and _usable(steps.get("big_full"), steps.get("big_nochange")),
                max(big),
            )
        )
    else:
        out.append(_failed("4", label, goal, "step failed"))

    # 5. start-up
    for key in ("help", "version"):
        st = steps.get(key)
        label, goal = f"dbt-pendo --{key}, best of 5", f"< {CLI_MAX_S} s"
        if _usable(st):
            assert st is not None and st.wall is not None
            out.append(
                _limit(
                    "5",
                    label,
                    f"{st.wall:.3f} s",
                    f"{CLI_MAX_S} s",
                    goal,
                    st.wall / CLI_MAX_S,
                    st.wall < CLI_MAX_S,
                    st.wall,
                )
            )
        else:
            out.append(_failed("5", label, goal, "step failed"))
    tiny, ls = steps.get("tiny_sync"), steps.get("dbt_ls")
    label, goal = f"{TINY_ROWS}-row sync beyond `dbt ls`, best of 3", f"<= {TINY_BEYOND_LS_S:g} s"
    if _usable(tiny, ls):
        assert tiny is not None and ls is not None and tiny.wall is not None and ls.wall is not None
        beyond = tiny.wall - ls.wall
        out.append(
            _limit(
                "5",
                label,
                f"{tiny.wall:.2f} - {ls.wall:.2f} = {beyond:.2f} s",
                f"{TINY_BEYOND_LS_S:g} s",
                goal,
                beyond / TINY_BEYOND_LS_S,
                beyond <= TINY_BEYOND_LS_S,
                beyond,
            )
        )
    else:
        out.append(_failed("5", label, goal, "step failed"))
    return out


def size_limits(per_size: dict[int, dict[str, Step]]) -> list[dict[str, Any]]:
    """--rows-list: the memory targets, per size and the largest size against the smallest."""
    out = []
    peaks: dict[int, float] = {}
    for n, steps in per_size.items():
        measured = [st.rss_mb for k in ("full", "nochange") if (st := steps[k]).rss_mb is not None]
        label, goal = f"peak RSS of every sync at {n:,} rows", f"<= {RSS_MAX_MB:.0f} MB"
        if len(measured) == 2:
            peaks[n] = peak = max(measured)
            out.append(
                _limit(
                    "4",
                    label,
                    f"{peak:.0f} MB (full {measured[0]:.0f}, no-change {measured[1]:.0f})",
                    f"{RSS_MAX_MB:.0f} MB",
                    goal,
                    peak / RSS_MAX_MB,
                    peak <= RSS_MAX_MB,
                    peak,
                )
            )
        else:
            out.append(_failed("4", label, goal, "not measured"))
    if len(per_size) > 1:
        small, big = min(per_size), max(per_size)
        label, goal = f"peak RSS at {big:,} rows vs at {small:,}", f"<= {1 + BIG_RSS_GROWTH:g}x"
        if small in peaks and big in peaks:
            ratio = peaks[big] / peaks[small]
            out.append(
                _limit(
                    "4",
                    label,
                    f"{peaks[big]:.0f} MB",
                    f"{peaks[small]:.0f} MB",
                    goal,
                    ratio,
                    ratio <= 1 + BIG_RSS_GROWTH,
                    peaks[big],
                )
            )
        else:
            out.append(_failed("4", label, goal, "not measured"))
    return out


# ---------------------------------------------------------------- printing


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_steps(steps: dict[str, Step]) -> None:
    """The steps' figures; JVM columns when a step left a JVM behind (Spark)."""
    jvm = any(step.jvm_rss_mb is not None for step in steps.values())
    width = max(42, *(len(step.name) for step in steps.values()))
    header = (
        f"{'step':<{width}} {'wall s':>7} {'own s':>6} {'rows read':>10} {'written':>10} {'rows sent':>10} "
        f"{'rows/s':>8} {'peak RSS MB':>11} {'CPU s':>6} "
        + (f"{'JVM RSS MB':>10} {'JVM CPU s':>9} " if jvm else "")
        + f"{'emu CPU s':>9}  check"
    )
    print(header)
    print("-" * len(header))
    for step in steps.values():
        print(
            f"{step.name:<{width}} {_num(step.wall, '.2f'):>7} {_num(_own(step), '.2f'):>6} "
            f"{_num(step.rows_read, ',d'):>10} {_num(step.rows_written, ',d'):>10} "
            f"{_num(step.rows_sent, ',d'):>10} "
            f"{_num(step.rows_per_second, ',.0f'):>8} {_num(step.rss_mb, '.0f'):>11} "
            f"{_num(step.cpu_s, '.1f'):>6} "
            + (f"{_num(step.jvm_rss_mb, '.0f'):>10} {_num(step.jvm_cpu_s, '.1f'):>9} " if jvm else "")
            + f"{_num(step.emulator_cpu_s, '.1f'):>9}  {step.check}"
        )


def _verdict(passed: bool | None, goal: str) -> str:
    if passed is None:
        return "info" if goal == "info" else "n/a"
    return "PASS" if passed else "FAIL"


def print_limits(rows: list[dict[str, Any]]) -> None:
    """The Limits table: one row per figure, with what it is compared with and the verdict."""
    cells = [
        (
            r["number"],
            r["target"],
            r["measured"],
            r["compared_with"],
            _num(r["ratio"], ".2f") + ("x" if r["ratio"] is not None else ""),
            r["goal"],
            _verdict(r["pass"], r["goal"]),
        )
        for r in rows
    ]
    titles = ("#", "target", "measured", "compared with (floor)", "ratio", "goal", "result")
    widths = [max(len(t), *(len(c[i]) for c in cells)) for i, t in enumerate(titles)]
    right = {4}  # the ratio column

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    print(line(titles).rstrip())
    print("-" * len(line(titles)))
    for c in cells:
        print(line(c).rstrip())
    verdicts = [r["pass"] for r in rows if r["goal"] != "info"]
    print(
        f"{sum(v is True for v in verdicts)} PASS, {sum(v is False for v in verdicts)} FAIL"
        + (f", {sum(v is None for v in verdicts)} not run" if any(v is None for v in verdicts) else "")
    )


def print_targets(targets: dict[str, dict[str, Any]], table: dict[str, tuple[str, str]]) -> None:
    width = max(10, *(len(t["shown"]) for t in targets.values()))
    label_width = max(36, *(len(label) for label, _ in table.values()))
    header = f"{'target':<{label_width}} {'value':>{width}} {'goal':>10}  result"
    print(header)
    print("-" * len(header))
    for key, (label, goal) in table.items():
        t = targets[key]
        result = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        print(f"{label:<{label_width}} {t['shown']:>{width}} {goal:>10}  {result}")


def print_side_by_side(duckdb: dict[str, Step], spark: dict[str, Step]) -> None:
    """DuckDB's and Spark's startup, full and no-change syncs, one row each."""
    header = (
        f"{'warehouse':<9} {'step':<16} {'wall s':>7} {'rows/s':>8} {'rows read':>10} "
        f"{'Python RSS MB':>13} {'Python CPU s':>12} {'JVM RSS MB':>10} {'JVM CPU s':>9}"
    )
    print(header)
    print("-" * len(header))
    for warehouse, steps in (("DuckDB", duckdb), ("Spark", spark)):
        for key in ("startup", "full", "nochange"):
            step = steps[key]
            print(
                f"{warehouse:<9} {step.name.split(' (')[0]:<16} {_num(step.wall, '.2f'):>7} "
                f"{_num(step.rows_per_second, ',.0f'):>8} {_num(step.rows_read, ',d'):>10} "
                f"{_num(step.rss_mb, '.0f'):>13} {_num(step.cpu_s, '.1f'):>12} "
                f"{_num(step.jvm_rss_mb, '.0f'):>10} {_num(step.jvm_cpu_s, '.1f'):>9}"
            )


def print_spark(spark: dict[str, Any], duckdb: dict[str, Step], rows: int) -> None:
    print()
    if "skipped" in spark:
        print(f"Spark: skipped: {spark['skipped']}")
        return
    print(f"Spark (dbt-spark session, local[2]), {rows:,} rows; {spark['java']}")
    print()
    print_steps(spark["steps"])
    print()
    print("Peak RSS and CPU s: the Python process (wait4); JVM: pyspark's JVM, its child (adopted, wait4)")
    print_side_by_side(duckdb, spark["steps"])
    print()
    print_targets(spark["targets"], SPARK_TARGETS)


def bench_memory_limit() -> str | None:
    """BENCH_DUCKDB_MEMORY_LIMIT: the memory_limit the benchmark profile sets; None (unset
    or 0) when it sets none."""
    value = os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "")
    return None if value in ("", "0") else value


def duckdb_memory_limit() -> str:
    """The benchmark profile's DuckDB memory_limit, for the report's header."""
    value = bench_memory_limit()
    if value is None:
        return "none in the profile: the sync's own bound (the builds: DuckDB's default, 80% of RAM)"
    return f"{value} (BENCH_DUCKDB_MEMORY_LIMIT)"


def print_report(outcome: dict[str, Any], bench: Bench) -> None:
    print()
    print("=" * 100)
    threads = (
        f"--threads {bench.s.threads}" if bench.s.threads else "default options (no --threads, no --max-rps)"
    )
    if outcome["mode"] == "single":
        steps = outcome["steps"]
        print(
            f"dbt-pendo sync benchmark: {outcome['rows']:,} rows, batch size {bench.s.batch_size}, "
            f"syncs with {threads}; DuckDB memory_limit: {duckdb_memory_limit()}"
        )
        print()
        print_steps(steps)
        print()
        startup, nochange, full = (steps.get(k) for k in ("startup", "nochange", "full"))
        notes = []
        if full and full.cpu_s and full.wall:
            notes.append(
                f"full sync process used {full.cpu_s:.1f} s CPU in {full.wall:.1f} s wall "
                f"({full.cpu_s / full.wall:.2f} cores); the emulator used "
                f"{_num(full.emulator_cpu_s, '.1f')} s CPU ({os.cpu_count()} CPUs in all)"
            )
        if full and startup and full.cpu_s and startup.cpu_s:
            notes.append(f"full sync CPU minus the startup step's CPU: {full.cpu_s - startup.cpu_s:.1f} s")
        if startup and nochange and startup.wall and nochange.wall:
            notes.append(
                f"no-change sync: {nochange.wall:.2f} s wall - {startup.wall:.2f} s startup "
                f"= {nochange.wall - startup.wall:.2f} s beyond startup; own work (results "
                f"seconds) {_num(_own(nochange), '.2f')} s"
            )
        if bench.emulator_rss:
            notes.append(
                f"emulator processes peaked at {max(bench.emulator_rss):.0f} MB RSS (fresh emulator "
                "per step; values written are kept, request bodies are not)"
            )
        notes.append(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for note in notes:
            print("  " + note)
        print()
        print(f"Limits (issue 15), {outcome['rows']:,} rows; ratios = measured / compared with, same run")
        print_limits(outcome["limits"])
        if "spark" in outcome:
            print_spark(outcome["spark"], steps, outcome["rows"])
    else:
        print(
            f"dbt-pendo sync benchmark, sizes {', '.join(f'{n:,}' for n in outcome['sizes'])}, "
            f"batch size {bench.s.batch_size}, syncs with {threads}; "
            f"DuckDB memory_limit: {duckdb_memory_limit()}"
        )
        for n, steps in outcome["sizes"].items():
            print()
            print(f"{n:,} rows")
            print_steps(steps)
        print()
        print("Limits (issue 15), memory (--rows-list runs only build, startup, full and no-change)")
        print_limits(outcome["limits"])
    print()
    print(f"results: {bench.s.workdir / 'bench_results.json'}   logs: {bench.logs}")


def to_json(outcome: dict[str, Any], bench: Bench, command: str) -> dict[str, Any]:
    def steps_json(steps: dict[str, Step]) -> dict[str, Any]:
        return {k: {**asdict(st), "rows_per_second": st.rows_per_second} for k, st in steps.items()}

    doc: dict[str, Any] = {
        "command": command,
        "settings": {
            "rows": bench.s.rows,
            "threads": bench.s.threads,
            "batch_size": bench.s.batch_size,
            "rows_list": bench.s.rows_list,
            "big": bench.s.big,
            "spark": bench.s.spark,
            "workdir": str(bench.s.workdir),
            "duckdb_memory_limit": duckdb_memory_limit(),
        },
        "machine": machine_info(),
        "load_average": os.getloadavg(),
        "mode": outcome["mode"],
        "emulator_peak_rss_mb": max(bench.emulator_rss) if bench.emulator_rss else None,
        "limits": outcome["limits"],
    }
    if outcome["mode"] == "single":
        doc.update(rows=outcome["rows"], steps=steps_json(outcome["steps"]))
        spark = outcome.get("spark")
        if spark is not None:
            doc["spark"] = {**spark, "steps": steps_json(spark["steps"])} if "steps" in spark else spark
    else:
        doc["sizes"] = {str(n): steps_json(s) for n, s in outcome["sizes"].items()}
    return doc


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for dist in ("dbt-pendo-sync", "dbt-core", "dbt-duckdb", "duckdb", "requests", "dbt-spark", "pyspark"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    return info


def java_binary() -> str | None:
    """The java pyspark's launcher runs: $JAVA_HOME/bin/java, else PATH's (None: none)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home, "bin", "java")
        return str(java) if java.exists() else None
    return shutil.which("java")


def spark_missing() -> str | None:
    """Why the Spark run cannot run here (None: it can)."""
    from importlib.util import find_spec

    if java_binary() is None:
        return "no java (scripts/dev.sh test installs openjdk-17-jre-headless)"
    if find_spec("pyspark") is None or find_spec("dbt.adapters.spark") is None:
        return "no dbt-spark[session] (pip install -e '.[spark]')"
    return None


def java_version() -> str:
    """`java -version`'s first line."""
    java = java_binary() or "java"
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    lines = (out.stderr or out.stdout).splitlines()
    return lines[0] if lines else java


# ---------------------------------------------------------------- the limit child


def limit_child(argv: list[str]) -> None:
    """Read the table, build every payload as the sync would send it, then time only sending,
    once per --send THREADS URL (each URL its own fresh emulator)."""
    import datetime as dt
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    import duckdb
    import requests

    p = argparse.ArgumentParser(prog="bench_sync.py _limit-child")
    p.add_argument("--db", required=True)
    p.add_argument("--relation", required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--send", nargs=2, action="append", metavar=("THREADS", "URL"), required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    key = os.environ["PENDO_INTEGRATION_KEY"]

    def value(v: Any) -> Any:  # README "Values": what the sync sends for each warehouse type
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() and abs(v) < 2**53 else float(v)
        if isinstance(v, dt.datetime):
            return (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).isoformat()
        if isinstance(v, dt.date):
            return dt.datetime(v.year, v.month, v.day, tzinfo=dt.timezone.utc).isoformat()
        return v

    started = time.perf_counter()
    con = duckdb.connect(args.db, read_only=True)
    cursor = con.execute(f"select * from {args.relation} order by visitor_id")
    names = [d[0] for d in cursor.description]
    id_index = names.index("visitor_id")
    fields = [(i, n) for i, n in enumerate(names) if i != id_index]
    bodies: list[bytes] = []
    batch: list[dict] = []
    records = 0
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            batch.append(
                {
                    "visitorId": str(row[id_index]),
                    "values": {n: value(row[i]) for i, n in fields if row[i] is not None},
                }
            )
            if len(batch) == args.batch_size:
                bodies.append(json.dumps(batch, separators=(",", ":"), allow_nan=False).encode())
                records += len(batch)
                batch = []
    if batch:
        bodies.append(json.dumps(batch, separators=(",", ":"), allow_nan=False).encode())
        records += len(batch)
    con.close()
    build_seconds = time.perf_counter() - started
    sample = json.loads(bodies[0])[0] if bodies else None

    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def send_all(threads: int, base_url: str) -> dict[str, Any]:
        local = threading.local()
        url = f"{base_url}{WRITE_PATH}"

        def send(body: bytes) -> tuple[int, bool]:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.trust_env = False
                session.headers.update({"x-pendo-integration-key": key, "content-type": "application/json"})
            response = session.post(url, data=body, timeout=(10, 330))
            if response.status_code != 200:
                return 0, True
            answer = response.json()
            return int(answer.get("updated", 0)), bool(answer.get("failed"))

        t0, cpu0 = time.perf_counter(), cpu()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            answers = list(pool.map(send, bodies))
        return {
            "threads": threads,
            "send_seconds": time.perf_counter() - t0,
            "send_cpu_seconds": cpu() - cpu0,
            "updated": sum(u for u, _ in answers),
            "bad_answers": sum(1 for _, bad in answers if bad),
        }

    runs = [send_all(int(threads), url) for threads, url in args.send]
    Path(args.out).write_text(
        json.dumps(
            {
                "build_seconds": build_seconds,
                "records": records,
                "batches": len(bodies),
                "bytes": sum(map(len, bodies)),
                "sample_record": sample,
                "runs": runs,
            }
        ),
        encoding="utf-8",
    )


# ---------------------------------------------------------------- the scan child


def fingerprint_sql(columns: Sequence[str]) -> str:
    """The sync's fingerprint of a row of these columns (each sent under its own name, no
    column clearing Pendo's value on null), as macros/ledger.sql renders it for DuckDB."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    parts = [literal(FINGERPRINT_PREFIX)]
    for column in sorted(columns):  # field = column name; fields in name order
        tag = literal(f"{FINGERPRINT_SEPARATOR}{column}=")
        parts.append(
            f"case when {quote(column)} is null then '' else {tag} || cast({quote(column)} as VARCHAR) end"
        )
    return f"md5(cast({' || '.join(parts)} as VARCHAR))"


def scan_child(argv: list[str]) -> None:
    """Time `select count(fp) from (select <fingerprint> as fp from the model)`, each run on a
    fresh read-only connection (query only); then check the expression against the
    fingerprints the sync stored in its state table (not timed)."""
    import duckdb

    p = argparse.ArgumentParser(prog="bench_sync.py _scan-child")
    p.add_argument("--db", required=True)
    p.add_argument("--relation", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    con = duckdb.connect(args.db, read_only=True)
    names = [d[0] for d in con.execute(f"select * from {args.relation} limit 0").description]
    con.close()
    fp = fingerprint_sql([n for n in names if n != "visitor_id"])
    # count(fp), not count(*): DuckDB would drop the unused projection and hash nothing
    sql = f"select count(fp) from (select {fp} as fp from {args.relation})"
    seconds, counted = [], None
    for _ in range(args.runs):
        con = duckdb.connect(args.db, read_only=True)
        t0 = time.perf_counter()
        row = con.execute(sql).fetchone()
        seconds.append(time.perf_counter() - t0)
        counted = row[0] if row else None
        con.close()
    con = duckdb.connect(args.db, read_only=True)
    stored = matched = None
    state = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'pendo_sync_state'"
    ).fetchone()
    if state and state[0]:
        row = con.execute(
            f"select count(*), count(*) filter (where st.fingerprint = {fp}) "
            f"from {args.relation} m join main.pendo_sync_state st "
            f"on st.model_id = '{MODEL_ID}' and st.record_id = m.visitor_id"
        ).fetchone()
        if row:
            stored, matched = row
    con.close()
    Path(args.out).write_text(
        json.dumps(
            {
                "seconds": seconds,
                "rows": counted,
                "fingerprints_stored": stored,
                "fingerprints_matched": matched,
                "sql": sql,
            }
        ),
        encoding="utf-8",
    )


# ---------------------------------------------------------------- main


def prepare_workdir(path: str | None, script: str = "bench_sync.py") -> Path:
    """A new temp folder (path None), else `path` emptied: new, empty, or a benchmark's."""
    if path is None:
        workdir = Path(tempfile.mkdtemp(prefix="dbt-pendo-bench-"))
    else:
        workdir = Path(path).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            if not (workdir / MARKER).exists():
                raise BenchError(
                    f"--workdir {workdir} is not empty and not a benchmark workdir; "
                    "give an empty or new folder"
                )
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text(f"created by benchmarks/{script}; rewritten on each run\n")
    return workdir


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


CHILDREN: dict[str, Callable[[list[str]], None]] = {"_limit-child": limit_child, "_scan-child": scan_child}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        CHILDREN[sys.argv[1]](sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=_positive, default=1_000_000, help="rows in the model (default 1,000,000)"
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="give every sync --threads N and the bare client N threads (default: the sync's "
        f"default, no --threads; the bare client runs at {SYNC_THREADS_CEILING} and {SYNC_START_WINDOW})",
    )
    parser.add_argument("--batch-size", type=_positive, default=500, help="records per call (default 500)")
    parser.add_argument("--workdir", default=None, help="work folder (default: a new temp folder, kept)")
    parser.add_argument(
        "--big",
        type=_positive,
        nargs="?",
        const=BIG_ROWS,
        default=None,
        metavar="N",
        help=f"then build, full and no-change sync at N rows (default {BIG_ROWS:,}): the memory target",
    )
    parser.add_argument(
        "--rows-list",
        type=_sizes,
        default=None,
        help="comma-separated sizes: only build, startup, full and no-change sync at each size",
    )
    parser.add_argument(
        "--spark",
        action="store_true",
        help="then the same model on Spark: build, startup, full and no-change sync (not with --rows-list)",
    )
    args = parser.parse_args()
    if args.rows_list and (args.spark or args.big):
        parser.error("--spark and --big run at --rows, not with --rows-list")

    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    bench = None
    try:
        workdir = prepare_workdir(args.workdir)
        settings = Settings(
            args.rows, args.threads, args.batch_size, workdir, args.rows_list, args.spark, args.big
        )
        info = machine_info()
        print(f"workdir: {workdir}")
        print(
            f"machine: {info['cpus']} CPUs, Python {info['python']}, dbt-core {info['dbt-core']}, "
            f"dbt-duckdb {info['dbt-duckdb']}, duckdb {info['duckdb']}"
            + (f", dbt-spark {info['dbt-spark']}, pyspark {info['pyspark']}" if args.spark else "")
            + f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        bench = Bench(settings)
        bench.write_emulator_data()
        outcome = bench.run_sizes(args.rows_list) if args.rows_list else bench.run_single()
        doc = to_json(outcome, bench, command)
        (workdir / "bench_results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print_report(outcome, bench)
        return 0
    except BenchError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        _kill_all()


if __name__ == "__main__":
    sys.exit(main())
