"""The report: the steps' figures, the notes, the Goals table; the results file."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .project import duckdb_memory_limit
from .spark import print_side_by_side, print_targets
from .step import Step, num, own, print_table
from .steps import Bench


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
    print_table(
        header,
        (
            f"{step.name:<{width}} {num(step.wall, '.2f'):>7} {num(own(step), '.2f'):>6} "
            f"{num(step.rows_read, ',d'):>10} {num(step.rows_written, ',d'):>10} "
            f"{num(step.rows_sent, ',d'):>10} "
            f"{num(step.rows_per_second, ',.0f'):>8} {num(step.rss_mb, '.0f'):>11} "
            f"{num(step.cpu_s, '.1f'):>6} "
            + (f"{num(step.jvm_rss_mb, '.0f'):>10} {num(step.jvm_cpu_s, '.1f'):>9} " if jvm else "")
            + f"{num(step.emulator_cpu_s, '.1f'):>9}  {step.check}"
            for step in steps.values()
        ),
    )


def print_goals(rows: list[dict[str, Any]]) -> None:
    """The Goals table: one row per goal, with what it is compared with and the result."""
    cells = [
        (
            r["number"],
            r["what"],
            r["figure"],
            r["compared_with"],
            num(r["ratio"], ".2f") + ("x" if r["ratio"] is not None else ""),
            r["goal"],
            r["result"],
        )
        for r in rows
    ]
    titles = ("#", "what", "figure", "compared with", "ratio", "goal", "result")
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
    results = [r["result"] for r in rows]
    print(", ".join(f"{results.count(k)} {k}" for k in ("PASS", "FAIL", "not run", "info") if k in results))


def print_postgres(postgres: dict[str, Any]) -> None:
    print()
    if "skipped" in postgres:
        print(f"PostgreSQL: skipped: {postgres['skipped']}")
        return
    print("PostgreSQL (dbt-postgres, a server started as the test suite does; the warehouse out of process)")
    print()
    print_steps(postgres["steps"])


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
    print_targets(spark["targets"])


def notes(steps: dict[str, Step], bench: Bench) -> list[str]:
    """The lines under the steps: CPU against wall, the no-change sync beyond start-up."""
    startup, nochange, full = (steps.get(k) for k in ("startup", "nochange", "full"))
    out = []
    if full and full.cpu_s and full.wall:
        out.append(
            f"full sync process used {full.cpu_s:.1f} s CPU in {full.wall:.1f} s wall "
            f"({full.cpu_s / full.wall:.2f} cores); the emulator used "
            f"{num(full.emulator_cpu_s, '.1f')} s CPU ({os.cpu_count()} CPUs in all)"
        )
    if full and startup and full.cpu_s and startup.cpu_s:
        out.append(f"full sync CPU minus the startup step's CPU: {full.cpu_s - startup.cpu_s:.1f} s")
    if startup and nochange and startup.wall and nochange.wall:
        out.append(
            f"no-change sync: {nochange.wall:.2f} s wall - {startup.wall:.2f} s startup "
            f"= {nochange.wall - startup.wall:.2f} s beyond startup; own work (results "
            f"seconds) {num(own(nochange), '.2f')} s"
        )
    if bench.emulator_rss:
        out.append(
            f"emulator processes peaked at {max(bench.emulator_rss):.0f} MB RSS (fresh emulator "
            "per step; values written are kept, request bodies are not)"
        )
    out.append(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return out


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
        for note in notes(steps, bench):
            print("  " + note)
        print_postgres(outcome["postgres"])
        if "spark" in outcome:
            print_spark(outcome["spark"], steps, outcome["rows"])
        title = f"{outcome['rows']:,} rows"
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
        title = "memory (--rows-list runs only build, startup, full and no-change)"
    print()
    print(f"Goals (issue 23), {title}; ratio = figure / compared with, same run")
    print_goals(outcome["goals"])
    print()
    print(f"results: {bench.s.workdir / 'bench_results.json'}   logs: {bench.logs}")


def _steps_json(steps: dict[str, Step]) -> dict[str, Any]:
    return {k: {**asdict(st), "rows_per_second": st.rows_per_second} for k, st in steps.items()}


def to_json(outcome: dict[str, Any], bench: Bench, command: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "command": command,
        "settings": {
            "rows": bench.s.rows,
            "threads": bench.s.threads,
            "batch_size": bench.s.batch_size,
            "rows_list": bench.s.rows_list,
            "big": bench.s.big,
            "spark": bench.s.spark,
            "soak_rows": bench.s.soak_rows,
            "postgres": bench.s.postgres,
            "workdir": str(bench.s.workdir),
            "duckdb_memory_limit": duckdb_memory_limit(),
        },
        "machine": machine_info(),
        "load_average": os.getloadavg(),
        "mode": outcome["mode"],
        "emulator_peak_rss_mb": max(bench.emulator_rss) if bench.emulator_rss else None,
        "goals": outcome["goals"],
    }
    if outcome["mode"] == "single":
        doc.update(rows=outcome["rows"], steps=_steps_json(outcome["steps"]))
        for other in ("postgres", "spark"):
            found = outcome.get(other)
            if found is not None:
                doc[other] = {**found, "steps": _steps_json(found["steps"])} if "steps" in found else found
    else:
        doc["sizes"] = {str(n): _steps_json(s) for n, s in outcome["sizes"].items()}
    return doc


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    dists = (
        "dbt-pendo-sync",
        "dbt-core",
        "dbt-duckdb",
        "duckdb",
        "dbt-postgres",
        "psycopg2-binary",
        "requests",
    )
    for dist in (*dists, "orjson", "dbt-spark", "pyspark"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    return info


def machine_line(spark: bool = False) -> str:
    """The machine, the versions that matter and the load average, in one line."""
    info = machine_info()
    return (
        f"machine: {info['cpus']} CPUs, Python {info['python']}, dbt-core {info['dbt-core']}, "
        f"dbt-duckdb {info['dbt-duckdb']}, duckdb {info['duckdb']}, dbt-postgres {info['dbt-postgres']}"
        + (f", dbt-spark {info['dbt-spark']}, pyspark {info['pyspark']}" if spark else "")
        + f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
