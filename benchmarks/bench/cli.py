"""The benchmark's command line: its options, or one of its child processes (CHILDREN)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import procs
from .children import CHILDREN
from .config import BIG_ROWS, SOAK_ROWS, SYNC_START_WINDOW, SYNC_THREADS_CEILING, BenchError, Settings
from .project import prepare_workdir, write_emulator_data
from .report import machine_line, print_report, to_json
from .runs import run_readback, run_single, run_sizes
from .steps import Bench

DESCRIPTION = "Benchmark of `dbt-pendo sync` against the local Pendo emulator (benchmarks/README.md)."


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--rows", type=_positive, default=1_000_000, help="rows in the model (default 1,000,000)")
    p.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="give every sync --threads N and the bare client N threads (default: the sync's "
        f"default, no --threads; the bare client runs at {SYNC_THREADS_CEILING} and {SYNC_START_WINDOW})",
    )
    p.add_argument("--batch-size", type=_positive, default=500, help="records per call (default 500)")
    p.add_argument("--workdir", default=None, help="work folder (default: a new temp folder, kept)")
    p.add_argument(
        "--big",
        type=_positive,
        nargs="?",
        const=BIG_ROWS,
        default=None,
        metavar="N",
        help=f"then build, full and no-change sync at N rows (default {BIG_ROWS:,}): the memory target",
    )
    p.add_argument(
        "--rows-list",
        type=_sizes,
        default=None,
        help="comma-separated sizes: only build, startup, full and no-change sync at each size",
    )
    p.add_argument(
        "--spark",
        action="store_true",
        help="then the same model on Spark: build, startup, full and no-change sync (not with --rows-list)",
    )
    p.add_argument(
        "--soak-rows",
        type=_positive,
        default=SOAK_ROWS,
        metavar="N",
        help=f"rows of the kill soak (default {SOAK_ROWS:,})",
    )
    p.add_argument("--no-soak", action="store_true", help="skip the kill soak")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL steps")
    p.add_argument(
        "--readback-only",
        action="store_true",
        help="only the read-back steps (full sync, read alone, audit, sync --adopt) at --rows and --big",
    )
    return p


def run_main(body: Callable[[str], int]) -> int:
    """Print the command line, then run `body(command line)`: SIGTERM runs the finally blocks,
    a BenchError is printed and gives 1, and every child we started is killed at the end."""
    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return body(command)
    except BenchError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.kill_all()


def write_results(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        CHILDREN[sys.argv[1]](sys.argv[2:])
        return 0
    p = parser()
    args = p.parse_args()
    if args.rows_list and (args.spark or args.big or args.readback_only):
        p.error("--spark, --big and --readback-only run at --rows, not with --rows-list")

    def run(command: str) -> int:
        workdir = prepare_workdir(args.workdir)
        settings = Settings(args.rows, args.threads, args.batch_size, workdir, args.rows_list)
        settings.spark, settings.big, settings.postgres = args.spark, args.big, not args.no_postgres
        settings.soak_rows = None if args.no_soak else args.soak_rows
        print(f"workdir: {workdir}")
        print(machine_line(args.spark), flush=True)
        bench = Bench(settings)
        write_emulator_data(bench.data_file)
        if args.rows_list:
            outcome = run_sizes(bench, args.rows_list)
        else:
            outcome = run_readback(bench) if args.readback_only else run_single(bench)
        write_results(workdir / "bench_results.json", to_json(outcome, bench, command))
        print_report(outcome, bench)
        return 0

    return run_main(run)
