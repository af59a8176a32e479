"""The Spark run (--spark): the same model on dbt-spark's session method, its checks and
its report."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .config import SPARK_OVERLAY
from .procs import become_subreaper
from .step import Step, num, print_table
from .steps import Bench

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


def run_spark(bench: Bench, n: int) -> dict[str, Any]:
    """The Spark run: build, startup, full and no-change sync (or why it cannot run)."""
    missing = spark_missing() or become_subreaper()
    if missing:
        print(f"[spark] skipped: {missing}", flush=True)
        return {"skipped": missing}
    project = bench.make_project("spark_project", SPARK_OVERLAY)
    steps: dict[str, Step] = {}
    print(f"[spark 1/4] dbt build, {n:,} rows", flush=True)
    steps["build"] = bench.build(project, n, 0, "spark_build")
    print("[spark 2/4] startup: sync of an empty selection (x2)", flush=True)
    steps["startup"] = bench.startup(project, "spark_startup")
    print("[spark 3/4] first (full) sync", flush=True)
    steps["full"] = bench.sync(project, "full sync", "spark_sync_full", n)
    print("[spark 4/4] second sync, nothing changed", flush=True)
    steps["nochange"] = bench.sync(project, "no-change sync", "spark_sync_nochange", 0)
    return {"java": java_version(), "steps": steps, "targets": spark_targets(steps, n)}


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
            "shown": f"{num(read, ',d')} (sent {num(nochange.rows_sent, ',d')}, "
            f"unchanged {num(unchanged, ',d')} of {rows:,})",
        },
        "nochange_rss_beyond_startup": {
            "value": beyond,
            "pass": beyond is not None and beyond < NOCHANGE_RSS_MARGIN_MB,
            "shown": f"{num(beyond, '+.0f')} MB ({num(nochange.rss_mb, '.0f')} - "
            f"{num(startup.rss_mb, '.0f')})",
        },
    }


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


def print_targets(targets: dict[str, dict[str, Any]]) -> None:
    width = max(10, *(len(t["shown"]) for t in targets.values()))
    label_width = max(36, *(len(label) for label, _ in SPARK_TARGETS.values()))
    header = f"{'target':<{label_width}} {'value':>{width}} {'goal':>10}  result"
    lines = []
    for key, (label, goal) in SPARK_TARGETS.items():
        t = targets[key]
        result = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        lines.append(f"{label:<{label_width}} {t['shown']:>{width}} {goal:>10}  {result}")
    print_table(header, lines)


def print_side_by_side(duckdb: dict[str, Step], spark: dict[str, Step]) -> None:
    """DuckDB's and Spark's startup, full and no-change syncs, one row each."""
    header = (
        f"{'warehouse':<9} {'step':<16} {'wall s':>7} {'rows/s':>8} {'rows read':>10} "
        f"{'Python RSS MB':>13} {'Python CPU s':>12} {'JVM RSS MB':>10} {'JVM CPU s':>9}"
    )
    print_table(
        header,
        (
            f"{warehouse:<9} {step.name.split(' (')[0]:<16} {num(step.wall, '.2f'):>7} "
            f"{num(step.rows_per_second, ',.0f'):>8} {num(step.rows_read, ',d'):>10} "
            f"{num(step.rss_mb, '.0f'):>13} {num(step.cpu_s, '.1f'):>12} "
            f"{num(step.jvm_rss_mb, '.0f'):>10} {num(step.jvm_cpu_s, '.1f'):>9}"
            for warehouse, steps in (("DuckDB", duckdb), ("Spark", spark))
            for step in (steps[key] for key in ("startup", "full", "nochange"))
        ),
    )
