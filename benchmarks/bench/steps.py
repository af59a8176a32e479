"""The steps: each one child process (dbt, dbt-pendo, or a child of this benchmark), timed
from the outside; syncs against a fresh emulator, checked against their results file."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import procs
from .config import (
    BIN,
    ENTRY,
    FLOOR_THREADS,
    KEY,
    MODEL,
    RELATION,
    SOAK_KILLS,
    SOAK_SEED,
    TINY_ROWS,
    BenchError,
    Settings,
)
from .emulator import Emulator
from .project import make_project
from .step import Step, best, num


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.base_env = procs.clean_env()
        self.logs = settings.workdir / "bench_logs"
        self.data_file = settings.workdir / "emulator_data.json"
        self.emulator_rss: list[float] = []
        self.project_env: dict[Path, dict[str, str]] = {}  # a project's own settings (PostgreSQL's)

    # -- setup

    def make_project(self, name: str, overlay: Path | None = None) -> Path:
        return make_project(self.s.workdir / name, self.s.batch_size, overlay)

    def env(self, project: Path, url: str | None = None) -> dict[str, str]:
        env = dict(
            self.base_env,
            BENCH_DUCKDB_PATH=str(project / "bench.duckdb"),
            BENCH_SPARK_DIR=str(project / "spark"),  # tables and metastore (spark_project)
            PENDO_INTEGRATION_KEY=KEY,
            **self.project_env.get(project, {}),
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
        step.extra["emulator"] = emulator.figures()

    # -- steps

    def build(self, project: Path, rows: int, bump: int, label: str) -> Step:
        step = Step(f"dbt build ({rows:,} rows, bump {bump:,})")
        log = self.logs / f"{label}.log"
        argv = [str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project)]
        argv += ["--vars", f"{{rows: {rows}, bump: {bump}}}"]
        reaped, step.wall = procs.run_child(argv, self.env(project), log, project)
        step.record(reaped)
        code = reaped.exit_code
        if code != 0:
            raise BenchError(f"`dbt build` failed (exit {code}); log {log}:\n{procs.tail(log)}")
        step.check = "ok"
        return step

    def command(self, name: str, label: str, argv: list[str], project: Path | None = None) -> Step:
        """A command run to completion as a child process (no emulator); ok when it exits 0."""
        step = Step(name)
        log = self.logs / f"{label}.log"
        cwd = project or self.s.workdir
        env = self.env(project) if project else self.base_env
        reaped, step.wall = procs.run_child(argv, env, log, cwd)
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
        emu = self.emulator(label, emulator_args) if emulator else None
        try:
            reaped = self.run_sync(step, project, label, extra_args, emu.url if emu else "http://127.0.0.1:9")
        finally:
            if emu:
                self.stop_emulator(emu, step)
        self.check_sync(step, project, label, reaped, expect_sent)
        return step

    def run_sync(
        self, step: Step, project: Path, label: str, extra_args: Sequence[str], url: str
    ) -> procs.Reaped:
        """The sync's process against Pendo at `url`, its figures in `step`."""
        (project / "target" / "pendo_sync_results.json").unlink(missing_ok=True)
        argv = [str(BIN / "dbt-pendo"), "sync", "--project-dir", str(project)]
        argv += ["--profiles-dir", str(project)]
        argv += ["--threads", str(self.s.threads)] if self.s.threads else []
        argv += ["--log-format", "json", *extra_args]
        reaped, step.wall = procs.run_child(argv, self.env(project, url), self.logs / f"{label}.log", project)
        step.record(reaped)
        return reaped

    def check_sync(
        self, step: Step, project: Path, label: str, reaped: procs.Reaped, expect_sent: int | None
    ) -> None:
        """The sync's figures from its results file and log, checked against `expect_sent`."""
        log = self.logs / f"{label}.log"
        problems = [f"exit {reaped.exit_code}"] if reaped.exit_code != 0 else []
        models = read_results(project / "target" / "pendo_sync_results.json", problems)
        _sync_figures(step, models, log)
        problems += _sync_problems(step, models, expect_sent)
        _sync_check(step, problems, expect_sent, log)

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
        return best(runs, "startup (empty selection)")

    def child(self, command: str, args: list[str], label: str, project: Path) -> tuple[procs.Reaped, float]:
        """This benchmark's own child process (bench_sync.py COMMAND ARGS), run to completion."""
        argv = [sys.executable, str(ENTRY), command, *args]
        return procs.run_child(argv, self.env(project), self.logs / f"{label}.log", project)

    def limit(self, project: Path, rows: int) -> list[Step]:
        """The bare client: payloads built beforehand, then sent once per thread count, each
        time to its own fresh emulator; one step per thread count (sending only)."""
        threads = self.s.limit_threads
        out = self.s.workdir / "limit_result.json"
        out.unlink(missing_ok=True)
        emulators: list[Emulator] = []
        steps = [Step(f"limit: bare client, {t} threads") for t in threads]
        try:
            for t in threads:
                emulators.append(self.emulator(f"limit_{t}"))
            args = ["--db", str(project / "bench.duckdb"), "--relation", RELATION]
            args += ["--batch-size", str(self.s.batch_size), "--out", str(out)]
            for t, emu in zip(threads, emulators, strict=True):
                args += ["--send", str(t), emu.url]
            reaped, process_wall = self.child("limit", args, "limit", project)
        finally:
            for emu, step in zip(emulators, steps, strict=False):  # fewer if one failed to start
                self.stop_emulator(emu, step)
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        for i, step in enumerate(steps):
            step.record(reaped)
            if reaped.exit_code != 0 or result is None:
                self._child_failed(step, "limit", reaped.exit_code)
            else:
                _limit_figures(step, result, i, rows, process_wall)
        return steps

    def _child_failed(self, step: Step, label: str, exit_code: int) -> None:
        step.ok = False
        step.check = f"FAILED: exit {exit_code}"
        log = self.logs / f"{label}.log"
        print(f"  {label}: {step.check}; log {log}:\n{procs.tail(log)}", flush=True)

    def scan(self, project: Path) -> Step:
        """The warehouse's floor: the sync's fingerprint over every row, counted (best of 3)."""
        step = Step("scan: count(fingerprint), best of 3")
        out = self.s.workdir / "scan_result.json"
        out.unlink(missing_ok=True)
        args = ["--db", str(project / "bench.duckdb"), "--relation", RELATION, "--runs", "3"]
        reaped, process_wall = self.child("scan", [*args, "--out", str(out)], "scan", project)
        step.record(reaped)
        if reaped.exit_code != 0 or not out.exists():
            self._child_failed(step, "scan", reaped.exit_code)
            return step
        result = json.loads(out.read_text(encoding="utf-8"))
        step.wall = min(result["seconds"])
        step.extra |= {**result, "process_wall": round(process_wall, 2)}
        matched, stored = result["fingerprints_matched"], result["fingerprints_stored"]
        step.check = (
            f"best of {', '.join(f'{x:.2f}' for x in result['seconds'])} s (query only); "
            f"expression = the stored fingerprint on {num(matched, ',d')} of {num(stored, ',d')} rows"
        )
        if stored and matched != stored:
            step.check += " (NOT the sync's expression)"
        return step

    def floor(self, project: Path, rows: int, source: list[str], label: str) -> dict[str, Step]:
        """The bare script (floor.py: streams the rows from the warehouse, encodes them with
        orjson, posts them) at each thread count, each against its own fresh emulator; its
        whole process timed from the outside. `source`: its --source, connection and
        --relation options."""
        return {
            f"floor_{t}": self._floor_run(project, rows, source, t, f"{label}_{t}") for t in FLOOR_THREADS
        }

    def _floor_run(self, project: Path, rows: int, source: list[str], threads: int, label: str) -> Step:
        step = Step(f"floor: bare script, {threads} threads")
        out = self.s.workdir / f"{label}_result.json"
        out.unlink(missing_ok=True)
        emu = self.emulator(label)
        try:
            args = [*source, "--id-column", "visitor_id", "--url", emu.url, "--key", KEY]
            args += ["--threads", str(threads), "--batch-size", str(self.s.batch_size), "--out", str(out)]
            reaped, step.wall = self.child("floor", args, label, project)
        finally:
            self.stop_emulator(emu, step)
        step.record(reaped)
        if reaped.exit_code != 0 or not out.exists():
            self._child_failed(step, label, reaped.exit_code)
            return step
        result = json.loads(out.read_text(encoding="utf-8"))
        step.rows_sent = result.get("sent")
        step.extra |= result
        step.ok = step.rows_sent == rows
        sending = num(result.get("seconds"), ".1f")
        step.check = (
            f"ok (sent {rows:,} in {result.get('calls', 0):,} calls; sending {sending} s)"
            if step.ok
            else f"FAILED: sent {num(step.rows_sent, ',d')}, expected {rows:,}"
        )
        return step

    def soak(self, rows: int) -> Step:
        """The kill soak (soak.py): a sync killed SOAK_KILLS times at random moments, rerun
        each time, under faults and latency; records received against records needed."""
        step = Step(f"soak: {SOAK_KILLS} kills, {rows:,} rows")
        workdir, out = self.s.workdir / "soak", self.s.workdir / "soak_result.json"
        workdir.mkdir(exist_ok=True)
        out.unlink(missing_ok=True)
        args = ["--workdir", str(workdir), "--rows", str(rows), "--kills", str(SOAK_KILLS)]
        args += ["--seed", str(SOAK_SEED), "--out", str(out)]
        reaped, step.wall = self.child("soak", args, "soak", self.s.workdir)
        step.record(reaped)
        if reaped.exit_code != 0 or not out.exists():
            self._child_failed(step, "soak", reaped.exit_code)
            return step
        result = json.loads(out.read_text(encoding="utf-8"))
        step.extra |= result
        step.rows_sent = result.get("received")
        step.ok = bool(result.get("exact"))
        state = "exact" if step.ok else "FAILED: final state not exact"
        step.check = (
            f"{state}; received {num(result.get('received'), ',d')} for {num(result.get('needed'), ',d')} "
            f"needed ({num(result.get('ratio'), '.2f')}x), {num(result.get('kills'), 'd')} kills"
        )
        return step

    def startup_costs(self, steps: dict[str, Step]) -> None:
        """--help and --version (best of 5); on a 10-row copy of the project, `dbt ls` and a
        first sync (best of 3 each)."""
        cli = str(BIN / "dbt-pendo")
        for option in ("--help", "--version"):
            key = option.strip("-")
            runs = [self.command(f"dbt-pendo {option}", f"cli_{key}_{i}", [cli, option]) for i in range(1, 6)]
            steps[key] = best(runs, f"dbt-pendo {option} (best of 5)")
        tiny = self.make_project("tiny")
        steps["tiny_build"] = self.build(tiny, TINY_ROWS, 0, "tiny_build")
        ls = [str(BIN / "dbt"), "ls", "--project-dir", str(tiny), "--profiles-dir", str(tiny)]
        runs = [self.command("dbt ls", f"tiny_ls_{i}", ls, tiny) for i in range(1, 4)]
        steps["dbt_ls"] = best(runs, f"dbt ls, {TINY_ROWS} rows (best of 3)")
        runs = [
            # each its own state schema: every run a first sync that sends the 10 rows
            self.sync(tiny, "sync", f"tiny_sync_{i}", TINY_ROWS, ("--state-schema", f"bench_tiny_{i}"))
            for i in range(1, 4)
        ]
        steps["tiny_sync"] = best(runs, f"sync, {TINY_ROWS} rows (best of 3)")


def read_results(results_file: Path, problems: list[str]) -> list[dict[str, Any]]:
    """The models of the sync's results file ([] and a problem noted when there is none)."""
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
        return results.get("models", [])
    except (OSError, ValueError) as exc:
        problems.append(f"no results file ({type(exc).__name__})")
        return []


def _sync_figures(step: Step, models: list[dict[str, Any]], log: Path) -> None:
    """Rows sent, written (the snapshot's frozen rows) and read (model_finished's to_send)."""
    step.rows_sent = sum(m["counts"]["sent"] for m in models)
    step.rows_written = sum(m["counts"].get("frozen", 0) for m in models) if models else None
    finished = procs.log_events(log, "model_finished")
    step.rows_read = sum(e["to_send"] for e in finished) if finished else None
    step.extra |= {
        "counts": models[0]["counts"] if models else {},
        "model_seconds": models[0].get("seconds") if models else None,
        "status": models[0].get("status") if models else None,
        "log": str(log),
    }


def _sync_problems(step: Step, models: list[dict[str, Any]], expect_sent: int | None) -> list[str]:
    """What differs from the expected: one model that read, sent and updated `expect_sent`
    rows (None: no model at all)."""
    counts = step.extra["counts"]
    if expect_sent is None:
        return [f"expected no model, got {len(models)}"] if models else []
    if len(models) != 1:
        return [f"{len(models)} models in results, expected 1"]
    if step.rows_sent != expect_sent:
        return [f"sent {step.rows_sent:,}, expected {expect_sent:,}"]
    if counts.get("updated") != expect_sent:
        return [f"updated {counts.get('updated')}, expected {expect_sent:,}"]
    if step.rows_read != expect_sent:
        return [f"read {num(step.rows_read, ',d')} rows, expected {expect_sent:,}"]
    return []


def _sync_check(step: Step, problems: list[str], expect_sent: int | None, log: Path) -> None:
    step.ok = not problems
    if problems:
        step.check = "FAILED: " + "; ".join(problems)
        print(f"  {step.name}: {step.check}; log {log}:\n{procs.tail(log)}", flush=True)
    elif expect_sent is None:
        step.check = "ok (nothing to sync)"
    else:
        step.check = f"ok (read, sent and updated {expect_sent:,})" if expect_sent else "ok (read 0, sent 0)"
    throttled = step.extra.get("emulator", {}).get("throttled")
    if throttled:
        step.check += f"; {throttled:,} calls throttled (429)"


def _limit_figures(step: Step, result: dict[str, Any], i: int, rows: int, process_wall: float) -> None:
    """The bare client's i-th run: its sending's wall and CPU, checked."""
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
