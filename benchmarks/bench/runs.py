"""The protocols: the single run (every step at --rows) and the --rows-list run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RATE_LATENCY_MS, RATE_LIMIT, RATE_READ_MS, RATE_STATE_SCHEMA, TINY_ROWS
from .limits import limits, size_limits
from .spark import run_spark
from .step import Step
from .steps import Bench


def run_single(bench: Bench) -> dict[str, Any]:
    n = bench.s.rows
    bump = n // 100
    project = bench.make_project("project")
    steps: dict[str, Step] = {}
    total = 11 + (1 if bench.s.big else 0)

    def stage(i: int, text: str) -> None:
        print(f"[{i}/{total}] {text}", flush=True)

    stage(1, f"dbt build, {n:,} rows")
    steps["build"] = bench.build(project, n, 0, "build")
    stage(2, "startup: sync of an empty selection (x2)")
    steps["startup"] = bench.startup(project, "startup")
    threads = " and ".join(f"{t} threads" for t in bench.s.limit_threads)
    stage(3, f"limit: prebuilt payloads over bare requests, {threads}")
    for t, step in zip(bench.s.limit_threads, bench.limit(project, n), strict=True):
        steps[f"limit_{t}"] = step
    stage(4, "first (full) sync")
    steps["full"] = bench.sync(project, "full sync", "sync_full", n)
    stage(5, "scan: count of the fingerprint over every row (x3)")
    steps["scan"] = bench.scan(project)
    stage(6, "second sync, nothing changed")
    steps["nochange"] = bench.sync(project, "no-change sync", "sync_nochange", 0)
    stage(7, f"dbt build, {bump:,} rows changed (1%)")
    steps["rebuild"] = bench.build(project, n, bump, "build_1pct")
    stage(8, "sync of the 1% change")
    steps["one_pct"] = bench.sync(project, "1% sync", "sync_1pct", bump)
    stage(9, f"full sync at {RATE_LATENCY_MS} ms per call and {RATE_LIMIT} calls/s (own state schema)")
    steps["rate"] = rate_step(bench, project, n)
    stage(10, "dbt-pendo --help and --version (x5 each)")
    stage(11, f"{TINY_ROWS}-row project: dbt build, dbt ls (x3), sync (x3)")
    bench.startup_costs(steps)
    if bench.s.big:
        stage(12, f"--big: dbt build, full and no-change sync at {bench.s.big:,} rows")
        steps |= big_steps(bench, bench.s.big)
    outcome: dict[str, Any] = {"mode": "single", "rows": n, "steps": steps, "limits": limits(steps, bench.s)}
    if bench.s.spark:
        outcome["spark"] = run_spark(bench, n)
    return outcome


def rate_step(bench: Bench, project: Path, n: int) -> Step:
    """A full sync against an emulator with Pendo's latency and rate limit, in its own state
    schema (every row new)."""
    return bench.sync(
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
    return {"mode": "rows-list", "sizes": per_size, "limits": size_limits(per_size)}
