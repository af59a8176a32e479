"""The PostgreSQL steps: the same model on dbt-postgres, against a real server started as the
test suite starts it (tests/support/postgres.py): build, the bare script, full and no-change
sync at --rows, and with --big build, full and no-change sync at --big rows. The warehouse is
out of the sync's process there, so its peak RSS is Python's alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .config import BENCHMARKS, MODEL
from .step import Step
from .steps import Bench

SCHEMA = "bench"  # the model's schema at --rows (and its sync state's)
BIG_SCHEMA = "bench_big"  # at --big rows: its own table and state


def start_server(base: Path) -> tuple[Any, str | None]:
    """A PostgreSQL server under `base` (the test suite's starter), or why there is none."""
    root = str(BENCHMARKS.parent)
    if root not in sys.path:
        sys.path.insert(0, root)  # the repository's tests package
    from tests.support.postgres import find_postgres_bin_dir, start_postgres

    if find_postgres_bin_dir() is None:
        return (
            None,
            "no PostgreSQL server binaries (Debian's postgresql package; scripts/dev.sh test installs it)",
        )
    try:
        return start_postgres(base), None
    except RuntimeError as exc:
        return None, f"PostgreSQL did not start: {str(exc)[:300]}"


def run_postgres(bench: Bench, n: int) -> dict[str, Any]:
    """The PostgreSQL steps (or why they cannot run)."""
    if not bench.s.postgres:
        return {"skipped": "--no-postgres"}
    server, missing = start_server(bench.s.workdir / "pg")
    if missing:
        print(f"  PostgreSQL: skipped: {missing}", flush=True)
        return {"skipped": missing}
    try:
        steps = _steps(bench, server, n, SCHEMA)
        if bench.s.big:
            print(
                f"  PostgreSQL --big: dbt build, full and no-change sync at {bench.s.big:,} rows", flush=True
            )
            big = _steps(bench, server, bench.s.big, BIG_SCHEMA, floor=False)
            steps |= {f"big_{key}": step for key, step in big.items()}
    finally:
        server.stop()
    return {"steps": steps}


def _steps(bench: Bench, server: Any, n: int, schema: str, floor: bool = True) -> dict[str, Step]:
    """Build, the bare script (floor), full and no-change sync at n rows, in `schema`."""
    project = bench.make_project(f"pg_project_{n}")
    bench.project_env[project] = {
        **server.env("BENCH_PG_"),
        "BENCH_PG_SCHEMA": schema,
        "DBT_TARGET": "postgres",
    }
    steps = {"build": bench.build(project, n, 0, f"pg_build_{n}")}
    steps["build"].name = f"PostgreSQL: {steps['build'].name}"
    if floor:
        source = ["--source", "postgres", "--dsn", server.dsn(), "--relation", f"{schema}.{MODEL}"]
        for key, step in bench.floor(project, n, source, f"pg_floor_{n}").items():
            step.name = f"PostgreSQL: {step.name}"
            steps[key] = step
    steps["full"] = bench.sync(project, f"PostgreSQL: full sync, {n:,} rows", f"pg_sync_full_{n}", n)
    steps["nochange"] = bench.sync(
        project, f"PostgreSQL: no-change sync, {n:,} rows", f"pg_sync_nochange_{n}", 0
    )
    return steps
