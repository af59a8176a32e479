"""Benchmark of `dbt-pendo sync` against the local Pendo emulator, on DuckDB (and Spark).

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--batch-size 500] [--threads N]
                                              [--big [10000000]] [--workdir DIR]
                                              [--rows-list 1000000,10000000] [--spark]

Steps (each one a child process, timed from the outside, with its own peak RSS and CPU from
wait4; syncs run with the sync's DEFAULT options: no --threads, no --max-rps, so the sync's
window of calls in flight adapts by itself, from 4 up to its --threads ceiling, 32):
  build      `dbt build` of a visitor model with N rows (benchmarks/project, copied to the workdir)
  startup    a sync whose selection holds no model (`--exclude` the only one): imports,
             manifest, `dbt ls`, no warehouse work (best of two)
  limit      the bare client: the same N payloads, built beforehand, POSTed with bare requests
             Sessions, batch size 500, once with 32 threads (the sync's default ceiling) and
             once with 4 (its starting window), each to its own fresh emulator; only the
             sending is timed (wall and CPU); the floor of each figure is the better of the two
  full       first sync: every row is new (no latency, no rate limit)
  scan       the warehouse's floor: `select count(fp) from (select <fingerprint> as fp from
             the model)`, the sync's own fingerprint expression (macros/ledger.sql
             default__pendo_sync_fingerprint as DuckDB renders it), in a child running duckdb
             against the bench database; best of 3, each on a fresh connection. (count(*)
             would not do: DuckDB drops the unused projection and reads nothing.) The
             expression is checked against the fingerprints the full sync stored.
  no-change  second sync: nothing changed, 0 rows sent
  1%         rebuild with 1% of the rows changed, then sync: N/100 rows sent
  rate       a full sync against `emulator --latency-ms 250,get=5 --rate-limit 100` (Pendo's
             rate under latency: 250 ms per write, 5 ms per read), DEFAULT options; its state
             in its own schema (--state-schema bench_rate), so every row is new without
             --full-resync. Its send phase (the emulator's send_seconds: first write to last
             answer) is printed as calls per second beside the wall
  start-up   `dbt-pendo --help` and `dbt-pendo --version` (best of 5 each); on a 10-row copy
             of the project: `dbt ls` (best of 3) and a sync (best of 3; each a first sync,
             its own --state-schema)
  --big [N]  then, at N rows (default 10,000,000): build, full and no-change sync (memory)
Every sync gets a freshly started emulator (`dbt-pendo emulator`, its own process, keeping
no request bodies), so earlier steps cannot slow later ones; its CPU is its wait4 rusage.
Syncs run with `--log-format json`: their `model_finished` event's `to_send` is the count of
rows the sync reads from the warehouse into Python ("rows read"); the results file's
`counts.frozen` is the rows it writes to its snapshot table ("written": the rows that differ
from the state, 0 for the no-change sync).

The report ends with one table, "Limits (issue 15)", of every target's figure, the floor it
is compared with, the ratio and PASS/FAIL (ratios within one run; the machine is noisy):
  1 rate: the rate step's wall <= 1.25x ceil(N / batch) / 100 s
  2 CPU: the full sync's CPU s (whole process) <= 3x the bare client's (sending only), and
    its wall (whole process) <= 1.3x the bare client's; the emulator's CPU per 1M rows beside
  3 scan: a no-change sync's own work <= 1.5x the scan; a 1% sync's own work <= the
    no-change sync's + 2x 1% of the full sync's. "Own work" is the model's `seconds` in
    target/pendo_sync_results.json (snapshot, diff, send, state merge; no process start,
    no dbt parsing, no adapter set-up)
  4 memory: the peak RSS of every sync <= 300 MB; with --big, the peak at N within 15% of
    the peak at --rows (full and no-change syncs at each size)
  5 start-up: --help and --version < 0.3 s each; the 10-row sync <= 1 s beyond `dbt ls`

--spark (Linux; needs Java and dbt-spark[session]) then runs the same model on Spark
(benchmarks/spark_project over a copy of benchmarks/project: dbt-spark's `session` method,
parquet tables, a Derby metastore in the workdir): build, startup, full, no-change, printed
next to DuckDB's. pyspark starts a JVM as a child of the Python process; it outlives that
process by a moment (it exits when its stdin closes), and this process, a child subreaper
(prctl), adopts it and reaps it with wait4: "JVM" figures are that process's, "peak RSS" and
"CPU s" the Python process's alone. Checks (PASS/FAIL rows): the no-change sync on Spark
reads no row into Python (to_send 0, sent 0, unchanged = N) and its Python peak RSS stays
within 64 MB of Spark's startup step. Without Java or dbt-spark it is reported skipped.

With --rows-list, only build, startup, full and no-change run, once per size (peak RSS per
size, the memory targets). It is a measurement, not a test: the exit code is 0 whatever the
targets say (1 only when the benchmark itself cannot run, e.g. `dbt build` fails). Results
also go to <workdir>/bench_results.json.
"""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
