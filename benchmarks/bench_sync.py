"""Benchmark of `dbt-pendo sync` against the local Pendo emulator, on DuckDB (and Spark).

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--threads 4] [--batch-size 500]
                                              [--workdir DIR] [--rows-list 100000,1000000] [--spark]

Steps (each one a child process, timed from the outside, with its own peak RSS from wait4):
  build      `dbt build` of a visitor model with N rows (benchmarks/project, copied to the workdir)
  startup    a sync whose selection holds no model (`--exclude` the only one): imports,
             manifest, `dbt ls`, no warehouse work
  limit      the same N payloads, built beforehand, POSTed with bare requests Sessions
             (same threads and batch size); only the sending is timed
  full       first sync: every row is new
  no-change  second sync: nothing changed, 0 rows sent
  1%         rebuild with 1% of the rows changed, then sync: N/100 rows sent
Every measured step gets a freshly started emulator (`dbt-pendo emulator`, its own process),
so what earlier steps left in its memory (values, request log) cannot slow later steps.
Syncs run with `--log-format json`: their `model_finished` event's `to_send` is the count of
rows the sync reads from the warehouse into Python ("rows read"; the snapshot's new and
changed rows, read through `Warehouse.stream`).

--spark (Linux; needs Java and dbt-spark[session]) then runs the same model on Spark
(benchmarks/spark_project over a copy of benchmarks/project: dbt-spark's `session` method,
parquet tables, a Derby metastore in the workdir): build, startup, full, no-change, printed
next to DuckDB's. pyspark starts a JVM as a child of the Python process; it outlives that
process by a moment (it exits when its stdin closes), and this process, a child subreaper
(prctl), adopts it and reaps it with wait4: "JVM" figures are that process's, "peak RSS" and
"CPU s" the Python process's alone. Checks (PASS/FAIL rows): the no-change sync on Spark
reads no row into Python (to_send 0, sent 0, unchanged = N) and its Python peak RSS stays
within 64 MB of Spark's startup step. Without Java or dbt-spark it is reported skipped.

With --rows-list, only build, full and no-change run, once per size (peak RSS per size).
It is a measurement, not a test: the exit code is 0 whatever the targets say (1 only when
the benchmark itself cannot run, e.g. `dbt build` fails). Results also go to
<workdir>/bench_results.json.
"""

from __future__ import annotations

import argparse
import json
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_TEMPLATE = HERE / "project"
SPARK_OVERLAY = HERE / "spark_project"  # copied over PROJECT_TEMPLATE for the Spark run
BIN = Path(sys.executable).parent
MODEL = "bench_visitors"
RELATION = f"main.{MODEL}"
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

TARGETS = {  # name: (description, goal text)
    "full_vs_limit": ("full sync / limit (wall)", "<= 1.5x"),
    "nochange_beyond_startup": ("no-change sync beyond startup", "< 5 s"),
    "full_vs_1pct_speedup": ("speedup full sync vs 1% sync", ">= 20x"),
    "peak_rss": ("peak RSS of a sync process", "< 400 MB"),
}
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
        self._wait_ready(log)

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
        """Its `GET /_emulator/stats` (call counts, max_in_flight)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=10) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        reaped = _kill(self.proc)
        if reaped is not None:
            self.rss_mb, self.cpu_s = reaped.rss_mb, reaped.cpu_s


# ---------------------------------------------------------------- the benchmark


@dataclass
class Settings:
    rows: int
    threads: int
    batch_size: int
    workdir: Path
    rows_list: list[int] | None
    spark: bool = False


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

    def emulator(self, label: str) -> Emulator:
        return Emulator(self.data_file, self.logs / f"emulator_{label}.log", self.base_env)

    def stop_emulator(self, emulator: Emulator, step: Step) -> None:
        emulator.stop()
        if emulator.rss_mb is not None:
            self.emulator_rss.append(emulator.rss_mb)
        step.emulator_cpu_s = emulator.cpu_s

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

    def sync(
        self,
        project: Path,
        name: str,
        label: str,
        expect_sent: int | None,
        extra_args: tuple[str, ...] = (),
        emulator: bool = True,
    ) -> Step:
        step = Step(name)
        log = self.logs / f"{label}.log"
        results_file = project / "target" / "pendo_sync_results.json"
        results_file.unlink(missing_ok=True)
        emu = self.emulator(label) if emulator else None
        try:
            argv = [
                str(BIN / "dbt-pendo"),
                "sync",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--threads",
                str(self.s.threads),
                # the limit paces nothing either; the default 80/s is for real Pendo
                "--max-rps",
                "0",
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
        return step

    def startup(self, project: Path, label: str) -> Step:
        """Two runs of a sync selecting no model; the faster one."""
        runs = [
            self.sync(
                project,
                "startup (empty selection)",
                f"{label}_{i}",
                None,
                ("--exclude", "bench_visitors"),  # selects no model (a typo would be an error)
                emulator=False,
            )
            for i in (1, 2)
        ]
        best = min(runs, key=lambda st: st.wall if st.ok else float("inf"))
        best.extra["walls"] = [round(r.wall, 2) for r in runs]
        best.check += "; best of " + ", ".join(f"{r.wall:.2f}" for r in runs) + " s"
        return best

    def limit(self, project: Path, rows: int) -> Step:
        step = Step("limit: prebuilt payloads, bare requests")
        log = self.logs / "limit.log"
        out = self.s.workdir / "limit_result.json"
        out.unlink(missing_ok=True)
        emu = self.emulator("limit")
        try:
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "_limit-child",
                "--db",
                str(project / "bench.duckdb"),
                "--relation",
                RELATION,
                "--url",
                emu.url,
                "--threads",
                str(self.s.threads),
                "--batch-size",
                str(self.s.batch_size),
                "--out",
                str(out),
            ]
            reaped, process_wall = run_child(argv, self.env(project, emu.url), log, project)
        finally:
            self.stop_emulator(emu, step)
        step.record(reaped)
        code = reaped.exit_code
        if code != 0 or not out.exists():
            step.ok = False
            step.check = f"FAILED: exit {code}"
            print(f"  limit: {step.check}; log {log}:\n{_tail(log)}", flush=True)
            return step
        result = json.loads(out.read_text(encoding="utf-8"))
        step.wall = result["send_seconds"]
        step.cpu_s = result["send_cpu_seconds"]  # of the sending only, like the wall time
        step.rows_sent = result["records"]
        step.extra |= {**result, "process_wall": round(process_wall, 2)}
        if result["updated"] != rows or result["records"] != rows or result["bad_answers"]:
            step.ok = False
            step.check = (
                f"FAILED: updated {result['updated']:,} of {result['records']:,} "
                f"(expected {rows:,}), {result['bad_answers']} bad answers"
            )
        else:
            step.check = (
                f"ok (updated = {rows:,}; sending only; prebuilding took "
                f"{result['build_seconds']:.1f} s, process {process_wall:.1f} s)"
            )
        return step

    # -- protocols

    def run_single(self) -> dict[str, Any]:
        n = self.s.rows
        bump = n // 100
        project = self.make_project("project")
        steps: dict[str, Step] = {}
        print(f"[1/7] dbt build, {n:,} rows", flush=True)
        steps["build"] = self.build(project, n, 0, "build")
        print("[2/7] startup: sync of an empty selection (x2)", flush=True)
        steps["startup"] = self.startup(project, "startup")
        print("[3/7] limit: prebuilt payloads over bare requests", flush=True)
        steps["limit"] = self.limit(project, n)
        print("[4/7] first (full) sync", flush=True)
        steps["full"] = self.sync(project, "full sync", "sync_full", n)
        print("[5/7] second sync, nothing changed", flush=True)
        steps["nochange"] = self.sync(project, "no-change sync", "sync_nochange", 0)
        print(f"[6/7] dbt build, {bump:,} rows changed (1%)", flush=True)
        steps["rebuild"] = self.build(project, n, bump, "build_1pct")
        print("[7/7] sync of the 1% change", flush=True)
        steps["one_pct"] = self.sync(project, "1% sync", "sync_1pct", bump)
        outcome = {"mode": "single", "rows": n, "steps": steps, "targets": self.targets(steps)}
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
        return {
            "mode": "rows-list",
            "sizes": per_size,
            "targets": {n: self.targets(steps) for n, steps in per_size.items()},
        }

    # -- targets

    @staticmethod
    def targets(steps: dict[str, Step]) -> dict[str, dict[str, Any]]:
        def entry(value: float | None, passed: bool | None, shown: str) -> dict[str, Any]:
            return {"value": value, "pass": passed, "shown": shown}

        out: dict[str, dict[str, Any]] = {}
        full, limit = steps.get("full"), steps.get("limit")
        nochange, startup, one_pct = steps.get("nochange"), steps.get("startup"), steps.get("one_pct")
        if full and limit and full.ok and limit.ok:
            ratio = full.wall / limit.wall
            out["full_vs_limit"] = entry(ratio, ratio <= 1.5, f"{ratio:.2f}x")
        else:
            out["full_vs_limit"] = entry(None, None if not limit else False, "n/a")
        if nochange and startup and nochange.ok and startup.ok:
            beyond = nochange.wall - startup.wall
            out["nochange_beyond_startup"] = entry(beyond, beyond < 5, f"{beyond:.2f} s")
        else:
            out["nochange_beyond_startup"] = entry(None, False, "n/a")
        if full and one_pct and full.ok and one_pct.ok:
            speedup = full.wall / one_pct.wall
            out["full_vs_1pct_speedup"] = entry(speedup, speedup >= 20, f"{speedup:.1f}x")
        else:
            out["full_vs_1pct_speedup"] = entry(None, None if not one_pct else False, "n/a")
        syncs = [st for key, st in steps.items() if key in ("full", "nochange", "one_pct") and st.rss_mb]
        if syncs:
            peak = max(st.rss_mb for st in syncs)
            out["peak_rss"] = entry(peak, peak < 400, f"{peak:.0f} MB")
        else:
            out["peak_rss"] = entry(None, False, "n/a")
        return out

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


# ---------------------------------------------------------------- printing


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_steps(steps: dict[str, Step]) -> None:
    """The steps' figures; JVM columns when a step left a JVM behind (Spark)."""
    jvm = any(step.jvm_rss_mb is not None for step in steps.values())
    header = (
        f"{'step':<42} {'wall s':>7} {'rows read':>10} {'rows sent':>10} {'rows/s':>8} "
        f"{'peak RSS MB':>11} {'CPU s':>6} "
        + (f"{'JVM RSS MB':>10} {'JVM CPU s':>9} " if jvm else "")
        + f"{'emu CPU s':>9}  check"
    )
    print(header)
    print("-" * len(header))
    for step in steps.values():
        print(
            f"{step.name:<42} {_num(step.wall, '.2f'):>7} {_num(step.rows_read, ',d'):>10} "
            f"{_num(step.rows_sent, ',d'):>10} {_num(step.rows_per_second, ',.0f'):>8} "
            f"{_num(step.rss_mb, '.0f'):>11} {_num(step.cpu_s, '.1f'):>6} "
            + (f"{_num(step.jvm_rss_mb, '.0f'):>10} {_num(step.jvm_cpu_s, '.1f'):>9} " if jvm else "")
            + f"{_num(step.emulator_cpu_s, '.1f'):>9}  {step.check}"
        )


def print_targets(targets: dict[str, dict[str, Any]], table: dict[str, tuple[str, str]] = TARGETS) -> None:
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


def print_report(outcome: dict[str, Any], bench: Bench) -> None:
    print()
    print("=" * 100)
    if outcome["mode"] == "single":
        steps = outcome["steps"]
        print(
            f"dbt-pendo sync benchmark: {outcome['rows']:,} rows, threads {bench.s.threads}, "
            f"batch size {bench.s.batch_size}"
        )
        print()
        print_steps(steps)
        print()
        startup, nochange, full, one_pct = (steps.get(k) for k in ("startup", "nochange", "full", "one_pct"))
        notes = []
        if full and full.extra.get("model_seconds") is not None:
            notes.append(
                f"full sync: {full.extra['model_seconds']:.1f} s inside the engine (read, send, "
                f"answers) of {full.wall:.1f} s wall"
            )
        if full and full.cpu_s and full.wall:
            notes.append(
                f"full sync process used {full.cpu_s:.1f} s CPU in {full.wall:.1f} s wall "
                f"({full.cpu_s / full.wall:.2f} cores); the emulator used "
                f"{_num(full.emulator_cpu_s, '.1f')} s CPU ({os.cpu_count()} CPUs in all)"
            )
        if startup and nochange and startup.wall and nochange.wall:
            notes.append(
                f"no-change sync: {nochange.wall:.2f} s wall - {startup.wall:.2f} s startup "
                f"= {nochange.wall - startup.wall:.2f} s of warehouse work (snapshot, diff, merge)"
            )
        if startup and full and one_pct and startup.wall and full.wall and one_pct.wall:
            a, b = full.wall - startup.wall, one_pct.wall - startup.wall
            if b > 0:
                notes.append(f"speedup with startup taken out of both: {a:.1f} s / {b:.1f} s = {a / b:.1f}x")
        if bench.emulator_rss:
            notes.append(
                f"emulator processes peaked at {max(bench.emulator_rss):.0f} MB RSS (fresh emulator per step)"
            )
        for note in notes:
            print("  " + note)
        print()
        print_targets(outcome["targets"])
        if "spark" in outcome:
            print_spark(outcome["spark"], steps, outcome["rows"])
    else:
        print(
            f"dbt-pendo sync benchmark, sizes {', '.join(f'{n:,}' for n in outcome['sizes'])}, "
            f"threads {bench.s.threads}, batch size {bench.s.batch_size}"
        )
        for n, steps in outcome["sizes"].items():
            print()
            print(f"{n:,} rows")
            print_steps(steps)
        print()
        header = (
            f"{'rows':>11} {'full s':>8} {'full rows/s':>12} {'full RSS MB':>12} "
            f"{'no-change s':>12} {'beyond startup s':>17} {'no-change RSS MB':>17}"
        )
        print(header)
        print("-" * len(header))
        for n, steps in outcome["sizes"].items():
            full, nochange, startup = steps["full"], steps["nochange"], steps["startup"]
            beyond = nochange.wall - startup.wall if nochange.wall and startup.wall else None
            print(
                f"{n:>11,} {_num(full.wall, '.2f'):>8} {_num(full.rows_per_second, ',.0f'):>12} "
                f"{_num(full.rss_mb, '.0f'):>12} {_num(nochange.wall, '.2f'):>12} "
                f"{_num(beyond, '.2f'):>17} {_num(nochange.rss_mb, '.0f'):>17}"
            )
        print()
        sizes = list(outcome["targets"])
        header = f"{'target (limit and 1% steps do not run with --rows-list)':<56}" + "".join(
            f"{f'{n:,} rows':>18}" for n in sizes
        )
        print(header)
        print("-" * len(header))
        for key in ("nochange_beyond_startup", "peak_rss"):
            label, goal = TARGETS[key]
            cells = []
            for n in sizes:
                t = outcome["targets"][n][key]
                verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
                cells.append(f"{t['shown'] + ' ' + verdict:>18}")
            print(f"{label + ' (' + goal + ')':<56}" + "".join(cells))
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
            "spark": bench.s.spark,
            "workdir": str(bench.s.workdir),
        },
        "machine": machine_info(),
        "mode": outcome["mode"],
        "emulator_peak_rss_mb": max(bench.emulator_rss) if bench.emulator_rss else None,
    }
    if outcome["mode"] == "single":
        doc.update(rows=outcome["rows"], steps=steps_json(outcome["steps"]), targets=outcome["targets"])
        spark = outcome.get("spark")
        if spark is not None:
            doc["spark"] = {**spark, "steps": steps_json(spark["steps"])} if "steps" in spark else spark
    else:
        doc.update(
            sizes={str(n): steps_json(s) for n, s in outcome["sizes"].items()},
            targets={str(n): t for n, t in outcome["targets"].items()},
        )
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
    """Read the table, build every payload as the sync would send it, then time only sending."""
    import datetime as dt
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    import duckdb
    import requests

    p = argparse.ArgumentParser(prog="bench_sync.py _limit-child")
    p.add_argument("--db", required=True)
    p.add_argument("--relation", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
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

    local = threading.local()
    url = f"{args.url}{WRITE_PATH}"

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

    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    t0, cpu0 = time.perf_counter(), cpu()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        answers = list(pool.map(send, bodies))
    send_seconds, send_cpu = time.perf_counter() - t0, cpu() - cpu0
    Path(args.out).write_text(
        json.dumps(
            {
                "send_seconds": send_seconds,
                "send_cpu_seconds": send_cpu,
                "build_seconds": build_seconds,
                "records": records,
                "batches": len(bodies),
                "bytes": sum(map(len, bodies)),
                "updated": sum(u for u, _ in answers),
                "bad_answers": sum(1 for _, bad in answers if bad),
                "sample_record": sample,
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


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_limit-child":
        limit_child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=_positive, default=1_000_000, help="rows in the model (default 1,000,000)"
    )
    parser.add_argument(
        "--threads", type=_positive, default=4, help="sync --threads and limit threads (default 4)"
    )
    parser.add_argument("--batch-size", type=_positive, default=500, help="records per call (default 500)")
    parser.add_argument("--workdir", default=None, help="work folder (default: a new temp folder, kept)")
    parser.add_argument(
        "--rows-list",
        type=_sizes,
        default=None,
        help="comma-separated sizes: only build, full and no-change sync at each size",
    )
    parser.add_argument(
        "--spark",
        action="store_true",
        help="then the same model on Spark: build, startup, full and no-change sync (not with --rows-list)",
    )
    args = parser.parse_args()
    if args.spark and args.rows_list:
        parser.error("--spark runs at --rows, not with --rows-list")

    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    bench = None
    try:
        workdir = prepare_workdir(args.workdir)
        settings = Settings(args.rows, args.threads, args.batch_size, workdir, args.rows_list, args.spark)
        info = machine_info()
        print(f"workdir: {workdir}")
        print(
            f"machine: {info['cpus']} CPUs, Python {info['python']}, dbt-core {info['dbt-core']}, "
            f"dbt-duckdb {info['dbt-duckdb']}, duckdb {info['duckdb']}"
            + (f", dbt-spark {info['dbt-spark']}, pyspark {info['pyspark']}" if args.spark else ""),
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
