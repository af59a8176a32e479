"""Benchmark of `dbt-pendo sync` against the local Pendo emulator, on DuckDB.

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--threads 4] [--batch-size 500]
                                              [--workdir DIR] [--rows-list 100000,1000000]

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_TEMPLATE = HERE / "project"
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


class BenchError(Exception):
    """The benchmark itself cannot go on (not a measured failure)."""


# ---------------------------------------------------------------- child processes


@dataclass
class Step:
    """One measured (or informational) step."""

    name: str
    wall: float | None = None
    rows_sent: int | None = None
    rss_mb: float | None = None
    cpu_s: float | None = None  # user + system CPU seconds of the child process
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


_running: dict[int, subprocess.Popen] = {}  # pid -> child we started and have not reaped


@dataclass
class Reaped:
    exit_code: int
    rss_mb: float  # peak RSS of the process (ru_maxrss is in KB on Linux)
    cpu_s: float  # user + system CPU seconds


def _reap(proc: subprocess.Popen, flags: int = 0) -> Reaped | None:
    """wait4 on our own child: its exit code, peak RSS and CPU; None if still running."""
    pid, status, usage = os.wait4(proc.pid, flags)
    if pid == 0:
        return None
    _running.pop(proc.pid, None)
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits on it again
    return Reaped(proc.returncode, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime)


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
    """Run a command to completion: its exit code, peak RSS and CPU, and wall seconds."""
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
    return reaped, wall


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """`dbt-pendo emulator` in its own process, on a free port."""

    def __init__(self, data_file: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "dbt-pendo"), "emulator", "--port", str(self.port), "--data", str(data_file)],
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


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        # Nothing of the caller's Pendo or dbt settings may leak into the runs.
        dbt_settings = {"DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET", "DBT_TARGET_PATH"}
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PENDO_", "DBT_PENDO_")) and k not in dbt_settings
        }
        self.base_env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", PYTHONUNBUFFERED="1")
        self.logs = settings.workdir / "bench_logs"
        self.data_file = settings.workdir / "emulator_data.json"
        self.emulator_rss: list[float] = []

    # -- setup

    def write_emulator_data(self) -> None:
        schema = {"visitor": {"custom": {name: {"Type": t} for name, t in FIELD_TYPES.items()}}}
        data = {"visitors": "all", "accounts": [], "schema": schema, "values": {}}
        self.data_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def make_project(self, name: str) -> Path:
        project = self.s.workdir / name
        shutil.copytree(
            PROJECT_TEMPLATE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*")
        )
        props = project / "models" / "_bench.yml"
        text, count = re.subn(
            r"(?m)^(\s*batch_size:) \d+", rf"\g<1> {self.s.batch_size}", props.read_text(encoding="utf-8")
        )
        if count != 1:
            raise BenchError(f"cannot set batch_size in {props}")
        props.write_text(text, encoding="utf-8")
        return project

    def env(self, project: Path, url: str | None = None) -> dict[str, str]:
        env = dict(self.base_env, BENCH_DUCKDB_PATH=str(project / "bench.duckdb"), PENDO_INTEGRATION_KEY=KEY)
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
        step.rss_mb, step.cpu_s, step.exit_code = reaped.rss_mb, reaped.cpu_s, reaped.exit_code
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
                *extra_args,
            ]
            url = emu.url if emu else "http://127.0.0.1:9"
            reaped, step.wall = run_child(argv, self.env(project, url), log, project)
        finally:
            if emu:
                self.stop_emulator(emu, step)
        step.rss_mb, step.cpu_s, step.exit_code = reaped.rss_mb, reaped.cpu_s, reaped.exit_code
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
        step.extra = {
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
                f"ok (sent {expect_sent:,}, updated {expect_sent:,})" if expect_sent else "ok (sent 0)"
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
        step.rss_mb, step.cpu_s, step.exit_code = reaped.rss_mb, reaped.cpu_s, reaped.exit_code
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
        step.extra = {**result, "process_wall": round(process_wall, 2)}
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
        return {"mode": "single", "rows": n, "steps": steps, "targets": self.targets(steps)}

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


# ---------------------------------------------------------------- printing


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_steps(steps: dict[str, Step]) -> None:
    header = (
        f"{'step':<42} {'wall s':>7} {'rows sent':>10} {'rows/s':>8} {'peak RSS MB':>11} "
        f"{'CPU s':>6} {'emu CPU s':>9}  check"
    )
    print(header)
    print("-" * len(header))
    for step in steps.values():
        print(
            f"{step.name:<42} {_num(step.wall, '.2f'):>7} {_num(step.rows_sent, ',d'):>10} "
            f"{_num(step.rows_per_second, ',.0f'):>8} {_num(step.rss_mb, '.0f'):>11} "
            f"{_num(step.cpu_s, '.1f'):>6} {_num(step.emulator_cpu_s, '.1f'):>9}  {step.check}"
        )


def print_targets(targets: dict[str, dict[str, Any]]) -> None:
    header = f"{'target':<36} {'value':>10} {'goal':>10}  result"
    print(header)
    print("-" * len(header))
    for key, (label, goal) in TARGETS.items():
        t = targets[key]
        result = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        print(f"{label:<36} {t['shown']:>10} {goal:>10}  {result}")


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
            "workdir": str(bench.s.workdir),
        },
        "machine": machine_info(),
        "mode": outcome["mode"],
        "emulator_peak_rss_mb": max(bench.emulator_rss) if bench.emulator_rss else None,
    }
    if outcome["mode"] == "single":
        doc.update(rows=outcome["rows"], steps=steps_json(outcome["steps"]), targets=outcome["targets"])
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
    for dist in ("dbt-pendo-sync", "dbt-core", "dbt-duckdb", "duckdb", "requests"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    return info


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


def prepare_workdir(path: str | None) -> Path:
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
    (workdir / MARKER).write_text("created by benchmarks/bench_sync.py; rewritten on each run\n")
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
    args = parser.parse_args()

    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    bench = None
    try:
        workdir = prepare_workdir(args.workdir)
        settings = Settings(args.rows, args.threads, args.batch_size, workdir, args.rows_list)
        info = machine_info()
        print(f"workdir: {workdir}")
        print(
            f"machine: {info['cpus']} CPUs, Python {info['python']}, dbt-core {info['dbt-core']}, "
            f"dbt-duckdb {info['dbt-duckdb']}, duckdb {info['duckdb']}",
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
