"""What the benchmark runs on: its paths, the model, the emulator's field schema, the
targets' constants, and the run's settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dbt_pendo_sync.pendo.concurrency import START
from dbt_pendo_sync.settings import SyncOptions

BENCHMARKS = Path(__file__).resolve().parent.parent
ENTRY = BENCHMARKS / "bench_sync.py"  # the children run through it (bench_sync.py CHILD ...)
PROJECT_TEMPLATE = BENCHMARKS / "project"
SPARK_OVERLAY = BENCHMARKS / "spark_project"  # copied over PROJECT_TEMPLATE for the Spark run
BIN = Path(sys.executable).parent
MODEL = "bench_visitors"
RELATION = f"main.{MODEL}"
MODEL_ID = f"model.pendo_bench.{MODEL}"
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

# The sync's defaults the benchmark leans on (dbt_pendo_sync/settings.py SyncOptions.threads,
# pendo/concurrency.py START): the bare client sends at both.
SYNC_THREADS_CEILING = SyncOptions.threads
SYNC_START_WINDOW = START

# The fingerprint as the sync computes it (ledger/snapshot.py _fingerprint_sql, macros/ledger.sql
# default__pendo_sync_fingerprint, rendered for DuckDB): md5 of a prefix (FINGERPRINT_VERSION,
# the object kind and the pendo block's conversion salt: truncate_text|date_format|timezone at
# their defaults) and, per field in field-name order, "\x1f<field>=" and the value as text
# ('' for a null, since a null is not sent). Checked against the state after the full sync.
FINGERPRINT_SEPARATOR = "\x1f"
FINGERPRINT_PREFIX = f"1{FINGERPRINT_SEPARATOR}visitor{FINGERPRINT_SEPARATOR}False|rfc3339|UTC"

# Pendo's rate under latency (the rate step: goals 1 and 2)
RATE_LATENCY_MS = 250  # per bulk write
RATE_READ_MS = 5  # per read (GET): Pendo answers the field schema in milliseconds
RATE_LIMIT = 100  # calls per second
RATE_STATE_SCHEMA = "bench_rate"
TINY_ROWS = 10
BIG_ROWS = 10_000_000

# The bare script (floor.py): its thread counts, each against its own fresh emulator
FLOOR_THREADS = (4, 16, 32)
# The kill soak (soak.py)
SOAK_ROWS = 20_000
SOAK_KILLS = 8
SOAK_SEED = 23

# The goals (issue 23). Ratios are of figures measured in the same run.
WINDOW_MIN = 16  # the rate step's calls in flight (the emulator's max_in_flight)
RATE_SHARE_MIN = 0.95  # the send phase's calls/s / the allowed rate
THROTTLED_MAX = 0.02  # 429s / write calls
RATE_WALL_MAX = 1.3  # the rate step's wall / the rate floor
SCAN_MAX = 1.5  # no-change own work / fingerprint scan
RSS_MAX_MB = 300.0
BIG_RSS_GROWTH = 0.15  # the peak at --big rows within 15% of the peak at --rows
FLOOR_WALL_MAX = 1.2  # full sync wall / the bare script's best wall
FLOOR_CPU_MAX = 1.5  # full sync CPU / the bare script's best CPU
SOAK_RATIO_MAX = 1.2  # records received / records needed

# The earlier targets (issue 15), kept as info rows
ONE_PCT_FULL_SHARE = 2 * 0.01  # 1% own <= no-change own + 2x 1% of full own
CLI_MAX_S = 0.3  # dbt-pendo --help / --version
TINY_BEYOND_LS_S = 1.0  # a 10-row sync beyond `dbt ls`


class BenchError(Exception):
    """The benchmark itself cannot go on (not a measured failure)."""


@dataclass
class Settings:
    rows: int
    threads: int | None  # None: the sync's default (no --threads)
    batch_size: int
    workdir: Path
    rows_list: list[int] | None
    spark: bool = False
    big: int | None = None  # rows of the --big step (None: not run)
    soak_rows: int | None = SOAK_ROWS  # None: no soak (--no-soak)
    postgres: bool = True  # the PostgreSQL steps (--no-postgres: not run)

    @property
    def limit_threads(self) -> list[int]:
        """The bare client's thread counts: the sync's ceiling and starting window, else
        the --threads given."""
        return [self.threads] if self.threads else [SYNC_THREADS_CEILING, SYNC_START_WINDOW]
