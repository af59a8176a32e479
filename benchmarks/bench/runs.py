"""The protocols: the single run (every step at --rows) and the --rows-list run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import (
    FLOOR_THREADS,
    RATE_LATENCY_MS,
    RATE_LIMIT,
    RATE_READ_MS,
    RATE_STATE_SCHEMA,
    RELATION,
    SOAK_KILLS,
    TINY_ROWS,
)
from .goals import goals, size_goals
from .postgres import run_postgres
from .readback import readback_steps
from .readback_goals import BIG, SMALL, readback_goals
from .spark import run_spark
from .step import Step
from .steps import Bench


class Stages:
    """Prints "[i/total] what" as each stage starts."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def __call__(self, text: str) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {text}", flush=True)


def run_single(bench: Bench) -> dict[str, Any]:
    s = bench.s
    stage = Stages(13 + sum(map(bool, (s.big, s.big, s.postgres, s.soak_rows))))
    steps = duckdb_steps(bench, stage)
    if s.big:
        stage(f"--big: dbt build, full and no-change sync at {s.big:,} rows")
        steps |= big_steps(bench, s.big)
        stage(f"--big: read-back at {s.big:,} rows: full sync, read alone, audit, 1% rebuild, sync --adopt")
        steps |= readback_steps(bench, s.big, BIG)
    postgres: dict[str, Any] = {"skipped": "--no-postgres"}
    if s.postgres:
        big = f", then at {s.big:,} rows" if s.big else ""
        stage(f"PostgreSQL: dbt build, bare script, full and no-change sync at {s.rows:,} rows{big}")
        postgres = run_postgres(bench, s.rows)
    if s.soak_rows:
        stage(f"soak: {SOAK_KILLS} kills of a sync of {s.soak_rows:,} rows")
        steps["soak"] = bench.soak(s.soak_rows)
    outcome: dict[str, Any] = {"mode": "single", "rows": s.rows, "steps": steps, "postgres": postgres}
    if s.spark:
        outcome["spark"] = run_spark(bench, s.rows)
    outcome["goals"] = goals(steps, postgres.get("steps"), s) + readback_goals(steps, s)
    return outcome


def run_readback(bench: Bench) -> dict[str, Any]:
    """Only the read-back steps (issue 25), at --rows and then at --big (if given)."""
    s = bench.s
    stage = Stages(1 + bool(s.big))
    stage(f"read-back at {s.rows:,} rows: full sync, read alone, audit, 1% rebuild, sync --adopt")
    steps = readback_steps(bench, s.rows, SMALL)
    if s.big:
        stage(f"--big: read-back at {s.big:,} rows: full sync, read alone, audit, 1% rebuild, sync --adopt")
        steps |= readback_steps(bench, s.big, BIG)
    postgres = {"skipped": "--readback-only"}
    return {
        "mode": "single",
        "rows": s.rows,
        "steps": steps,
        "postgres": postgres,
        "goals": readback_goals(steps, s),
    }


def duckdb_steps(bench: Bench, stage: Stages) -> dict[str, Step]:
    """Every step at --rows on DuckDB."""
    n = bench.s.rows
    bump = n // 100
    project = bench.make_project("project")
    steps: dict[str, Step] = {}
    stage(f"dbt build, {n:,} rows")
    steps["build"] = bench.build(project, n, 0, "build")
    stage("startup: sync of an empty selection (x2)")
    steps["startup"] = bench.startup(project, "startup")
    threads = " and ".join(f"{t} threads" for t in bench.s.limit_threads)
    stage(f"limit: prebuilt payloads over bare requests, {threads}")
    for t, step in zip(bench.s.limit_threads, bench.limit(project, n), strict=True):
        steps[f"limit_{t}"] = step
    stage(f"floor: the bare script, {', '.join(map(str, FLOOR_THREADS))} threads")
    source = ["--source", "duckdb", "--db", str(project / "bench.duckdb"), "--relation", RELATION]
    steps |= bench.floor(project, n, source, "floor")
    stage("first (full) sync")
    steps["full"] = bench.sync(project, "full sync", "sync_full", n)
    stage("scan: count of the fingerprint over every row (x3)")
    steps["scan"] = bench.scan(project)
    stage("second sync, nothing changed")
    steps["nochange"] = bench.sync(project, "no-change sync", "sync_nochange", 0)
    stage(f"dbt build, {bump:,} rows changed (1%)")
    steps["rebuild"] = bench.build(project, n, bump, "build_1pct")
    stage("sync of the 1% change")
    steps["one_pct"] = bench.sync(project, "1% sync", "sync_1pct", bump)
    stage(
        f"full sync at bulk {RATE_LATENCY_MS} ms, get {RATE_READ_MS} ms and {RATE_LIMIT} calls/s (own state)"
    )
    steps["rate"] = rate_step(bench, project, n)
    stage(f"read-back at {n:,} rows: full sync, read alone, audit, 1% rebuild, sync --adopt")
    steps |= readback_steps(bench, n, SMALL)
    stage("dbt-pendo --help and --version (x5 each)")
    stage(f"{TINY_ROWS}-row project: dbt build, dbt ls (x3), sync (x3)")
    bench.startup_costs(steps)
    return steps


def rate_step(bench: Bench, project: Path, n: int) -> Step:
    """A full sync against an emulator with Pendo's latency (per kind of call: bulk writes
    250 ms, reads 5 ms) and rate limit, in its own state schema (every row new)."""
    return bench.sync(
        project,
        f"rate: full sync, bulk {RATE_LATENCY_MS} ms, {RATE_LIMIT}/s",
        "sync_rate",
        n,
        ("--state-schema", RATE_STATE_SCHEMA),
        emulator_args=(
            "--latency-ms",
            f"bulk={RATE_LATENCY_MS},get={RATE_READ_MS}",
            "--rate-limit",
            str(RATE_LIMIT),
        ),
    )


def big_steps(bench: Bench, big: int) -> dict[str, Step]:
    """--big: build, full and no-change sync at `big` rows."""
    project = bench.make_project(f"project_{big}")
    return {
        "big_build": bench.build(project, big, 0, f"build_{big}"),
        "big_full": bench.sync(project, f"full sync, {big:,} rows", f"sync_full_{big}", big),
        "big_nochange": bench.sync(project, f"no-change sync, {big:,} rows", f"sync_nochange_{big}", 0),
    }


def run_sizes(bench: Bench, sizes: list[int]) -> dict[str, Any]:
    per_size: dict[int, dict[str, Step]] = {}
    for i, n in enumerate(sizes, 1):
        project = bench.make_project(f"project_{n}")
        steps: dict[str, Step] = {}
        print(f"[size {i}/{len(sizes)}: {n:,} rows] dbt build", flush=True)
        steps["build"] = bench.build(project, n, 0, f"build_{n}")
        print(f"[size {i}/{len(sizes)}: {n:,} rows] startup (x2)", flush=True)
        steps["startup"] = bench.startup(project, f"startup_{n}")
        print(f"[size {i}/{len(sizes)}: {n:,} rows] full sync", flush=True)
        steps["full"] = bench.sync(project, "full sync", f"sync_full_{n}", n)
        print(f"[size {i}/{len(sizes)}: {n:,} rows] no-change sync", flush=True)
        steps["nochange"] = bench.sync(project, "no-change sync", f"sync_nochange_{n}", 0)
        per_size[n] = steps
    return {"mode": "rows-list", "sizes": per_size, "goals": size_goals(per_size)}
