"""Benchmark of `dbt-pendo sync` against the local Pendo emulator: DuckDB, PostgreSQL (a
local server), and Spark with --spark. `bash scripts/dev.sh bench` runs it.

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--batch-size 500] [--threads N]
        [--big [10000000]] [--workdir DIR] [--rows-list 1000000,10000000] [--spark]
        [--soak-rows 20000] [--no-soak] [--no-postgres] [--readback-only]

Every step is a child process timed from the outside (wall, CPU and peak RSS from wait4); every
sync runs with its default options against a fresh `dbt-pendo emulator`. The report ends with
the Goals (issue 23) table: each goal's figure, what it is compared with in the same run, the
ratio and PASS/FAIL. The steps, the goals and the figures: benchmarks/README.md. The code is
the package benchmarks/bench/ (this file is its entry point, and that of its child processes:
`bench_sync.py limit|scan|floor|soak ARGS`).
"""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
