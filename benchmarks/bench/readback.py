"""The read-back steps (issue 25) at one size, in their own copy of the project, against one
emulator with the rate step's latency and rate limit that keeps what the first sync wrote:
a full sync (its own state schema), reading Pendo alone (the child `read`: read_values over
every record, the floor), `dbt-pendo audit` of the synced model, then a rebuild changing 1% of
the rows and `dbt-pendo sync --adopt` from a fresh state schema (Pendo needs no edits: the
model differs from it in 1% of its rows)."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from . import procs
from .config import BIN, FIELD_TYPES, RATE_LATENCY_MS, RATE_LIMIT, RATE_READ_MS
from .emulator import Emulator
from .step import Step, num
from .steps import Bench

READBACK_STATE_SCHEMA = "bench_readback"
ADOPT_STATE_SCHEMA = "bench_adopt"
# The rate step's emulator: bulk writes 250 ms, reads 5 ms, 100 calls/s.
EMULATOR_ARGS = (
    "--latency-ms",
    f"bulk={RATE_LATENCY_MS},get={RATE_READ_MS}",
    "--rate-limit",
    str(RATE_LIMIT),
)
COUNTED = ("write_calls", "throttled")  # the emulator's counts a step is given (its own share)


def read_child(argv: list[str]) -> None:
    """Every visitor's values of the model's fields read back with read_values (the sync's
    client: its pacing and retries), nothing done with them; the time and the records."""
    from dbt_pendo_sync.pendo.client import PendoClient
    from dbt_pendo_sync.pendo.policy import RetryPolicy
    from dbt_pendo_sync.pendo.reading import read_values
    from dbt_pendo_sync.pendo.settings import PendoSettings

    p = argparse.ArgumentParser(prog="bench_sync.py read")
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    settings = PendoSettings.from_env({**os.environ, "PENDO_BASE_URL": args.url})
    client = PendoClient(settings, RetryPolicy())
    started = time.perf_counter()
    records = pages = 0
    try:
        for page in read_values(client, "visitor", [("custom", name) for name in FIELD_TYPES]):
            records += len(page)
            pages += 1
    finally:
        client.close()
    result = {"records": records, "pages": pages, "seconds": time.perf_counter() - started}
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")


def readback_steps(bench: Bench, rows: int, key: str) -> dict[str, Step]:
    """The read-back steps at `rows` rows; their keys start with `key`."""
    project = bench.make_project(f"project_{key}")
    steps = {f"{key}_build": bench.build(project, rows, 0, f"build_{key}")}
    emu = bench.emulator(key, EMULATOR_ARGS)
    try:
        full = ("--state-schema", READBACK_STATE_SCHEMA)
        steps[f"{key}_full"] = _shared_sync(
            bench, emu, project, (f"{key}: full sync", f"sync_{key}"), rows, full
        )
        steps[f"{key}_read"] = _read_alone(bench, emu, project, rows, key)
        steps[f"{key}_audit"] = _audit(bench, emu, project, rows, key)
        bump = rows // 100
        steps[f"{key}_rebuild"] = bench.build(project, rows, bump, f"build_{key}_1pct")
        adopt = ("--adopt", "--state-schema", ADOPT_STATE_SCHEMA)
        step = _shared_sync(
            bench, emu, project, (f"{key}: sync --adopt, 1% differs", f"adopt_{key}"), bump, adopt
        )
        steps[f"{key}_adopt"] = _adopt_figures(step, rows, bench.s.batch_size)
    finally:
        emu.stop()
        if emu.rss_mb is not None:
            bench.emulator_rss.append(emu.rss_mb)
    return steps


def _counts(emu: Emulator) -> dict[str, Any]:
    stats = emu.stats()
    return {k: stats.get(k) or 0 for k in COUNTED}


def _shared_sync(
    bench: Bench, emu: Emulator, project: Path, names: tuple[str, str], expect: int, args: tuple[str, ...]
) -> Step:
    """A sync against the shared emulator; its own share of the emulator's counts."""
    name, label = names
    step = Step(name)
    before = _counts(emu)
    reaped = bench.run_sync(step, project, label, args, emu.url)
    after = _counts(emu)
    step.extra["emulator"] = {k: after[k] - before[k] for k in COUNTED}
    bench.check_sync(step, project, label, reaped, expect)
    return step


def _adopt_figures(step: Step, rows: int, batch_size: int) -> Step:
    """The adopt's write calls against those its 1% of rows need, and a full sync's."""
    calls = step.extra["emulator"]["write_calls"]
    needed, full = math.ceil(rows // 100 / batch_size), math.ceil(rows / batch_size)
    step.extra |= {"write_calls": calls, "calls_needed": needed, "calls_full": full}
    step.check += f"; {calls:,} write calls, {needed:,} for 1% of the rows, {full:,} for all"
    return step


def _read_alone(bench: Bench, emu: Emulator, project: Path, rows: int, key: str) -> Step:
    step = Step(f"{key}: read Pendo alone (read_values)")
    out = bench.s.workdir / f"read_{key}_result.json"
    out.unlink(missing_ok=True)
    reaped, step.wall = bench.child("read", ["--url", emu.url, "--out", str(out)], f"read_{key}", project)
    step.record(reaped)
    if reaped.exit_code != 0 or not out.exists():
        step.ok, step.check = False, f"FAILED: exit {reaped.exit_code}; log {bench.logs / f'read_{key}.log'}"
        return step
    result = json.loads(out.read_text(encoding="utf-8"))
    step.extra |= result
    step.rows_read = result["records"]
    step.ok = result["records"] == rows
    state = "ok" if step.ok else f"FAILED: expected {rows:,}"
    read = f"read {result['records']:,} in {result['pages']:,} pages; reading {result['seconds']:.1f} s"
    step.check = f"{state} ({read})"
    return step


def _audit(bench: Bench, emu: Emulator, project: Path, rows: int, key: str) -> Step:
    """`dbt-pendo audit` of the synced model, every record judged (--settle-minutes 0)."""
    step = Step(f"{key}: dbt-pendo audit")
    results = project / "target" / "pendo_audit_results.json"
    results.unlink(missing_ok=True)
    argv = [str(BIN / "dbt-pendo"), "audit", "--project-dir", str(project), "--profiles-dir", str(project)]
    argv += ["--state-schema", READBACK_STATE_SCHEMA, "--settle-minutes", "0", "--log-format", "json"]
    log = bench.logs / f"audit_{key}.log"
    reaped, step.wall = procs.run_child(argv, bench.env(project, emu.url), log, project)
    step.record(reaped)
    models = json.loads(results.read_text(encoding="utf-8"))["models"] if results.exists() else []
    model = models[0] if len(models) == 1 else {}
    step.rows_read = model.get("compared")
    step.extra |= {k: model.get(k) for k in ("status", "records", "compared", "equal", "drifted", "absent")}
    step.ok = reaped.exit_code == 0 and model.get("equal") == rows
    state = "ok" if step.ok else f"FAILED: exit {reaped.exit_code}; log {log}"
    step.check = (
        f"{state} (compared {num(model.get('compared'), ',d')}, equal {num(model.get('equal'), ',d')}, "
        f"drifted {num(model.get('drifted'), ',d')}, absent {num(model.get('absent'), ',d')})"
    )
    return step
