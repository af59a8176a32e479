"""Benchmark of Track Events: events per second of `dbt-pendo sync` against the local emulator,
at 1, 8 and 32 concurrent calls.

    .venv/bin/python benchmarks/bench_events.py [--sizes 1=400,8=3000,32=10000] [--paced 2000]
                                                [--latency-ms 50] [--scale 1.0] [--workdir DIR]

Each step gets its own copy of benchmarks/events_project (one event model on DuckDB, every
event between 1 and N seconds before the step's start, so all inside Pendo's 7-day window),
its own database (no sync state: every event is new), `dbt build` of N events, then a freshly
started `dbt-pendo emulator --latency-ms 50` (track secret set) and
`dbt-pendo sync --threads T --max-rps 0`, both their own processes; the sync is timed from
the outside, with its peak RSS and CPU from wait4. Events/s = events sent / wall seconds of
the sync process (end to end: start, dbt manifest, snapshot, sends, state merge, exit);
"engine" events/s divides by the model's own seconds in the results file instead.

Checks per step: exit 0, the results file's sent = updated = N (no too_old / too_new), the
emulator's track_calls = tracked_events = N (one call per event), its max_in_flight <= T.
The paced step (--paced N, 0 skips it) runs 32 threads with --max-rps 80 (a fixed ceiling:
80 requests/s), to show the pacer's ceiling; it takes no part in the target.

Target (PASS/FAIL row): 32 concurrent calls deliver >= 20x the events/s of 1 call. It is a
measurement: the exit code is 0 whatever the target says (1 only if the benchmark cannot
run). Results: <workdir>/bench_events_results.json, logs in <workdir>/bench_logs/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.cli import run_main, write_results
from bench.config import BIN, KEY, BenchError
from bench.emulator import Emulator
from bench.procs import clean_env, log_events, run_child, tail
from bench.project import prepare_workdir
from bench.report import machine_info, machine_line
from bench.step import Step, num, print_table
from bench.steps import read_results

HERE = Path(__file__).resolve().parent
PROJECT_TEMPLATE = HERE / "events_project"
MODEL = "bench_events"
TRACK_SECRET = "bench-track-secret"
DEFAULT_SIZES = {1: 400, 8: 3_000, 32: 10_000}  # threads -> events: each step ~20-35 s here
DEFAULT_PACED = 2_000  # events of the paced step (32 threads at 80 requests/s: ~25 s)
PACED_RPS = 80  # the paced step's --max-rps: a fixed ceiling, as a user may set
PACED_THREADS = 32
RATIO_GOAL = 20.0


class EventsBench:
    def __init__(self, workdir: Path, latency_ms: int) -> None:
        self.workdir = workdir
        self.latency_ms = latency_ms
        self.base_env = clean_env()
        self.logs = workdir / "bench_logs"
        self.emulator_rss: list[float] = []

    def env(self, project: Path, url: str) -> dict[str, str]:
        return dict(
            self.base_env,
            BENCH_DUCKDB_PATH=str(project / f"{MODEL}.duckdb"),
            PENDO_INTEGRATION_KEY=KEY,
            PENDO_TRACK_SECRET=TRACK_SECRET,
            PENDO_BASE_URL=url,
        )

    def build(self, label: str, events: int) -> tuple[Path, Step]:
        """A fresh copy of the project and its database, `events` events built into it."""
        project = self.workdir / label
        shutil.copytree(
            PROJECT_TEMPLATE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*")
        )
        step = Step(f"dbt build ({events:,} events)")
        log = self.logs / f"{label}_build.log"
        anchor = int(time.time())  # the newest event is a second before now
        argv = [
            str(BIN / "dbt"),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--vars",
            f"{{rows: {events}, anchor: {anchor}}}",
        ]
        reaped, step.wall = run_child(argv, self.env(project, "http://127.0.0.1:9"), log, project)
        step.record(reaped)
        if reaped.exit_code != 0:
            raise BenchError(f"`dbt build` failed (exit {reaped.exit_code}); log {log}:\n{tail(log)}")
        step.check = "ok"
        return project, step

    def sync(self, project: Path, label: str, name: str, threads: int, events: int, paced: bool) -> Step:
        """The sync of every event at `threads` concurrent calls, against a fresh emulator."""
        step = Step(name)
        step.extra |= {"threads": threads, "paced": paced}
        log = self.logs / f"{label}_sync.log"
        emu = Emulator(
            None,
            self.logs / f"{label}_emulator.log",
            {**self.base_env, "PENDO_TRACK_SECRET": TRACK_SECRET},
            ("--latency-ms", str(self.latency_ms)),
        )
        stats: dict[str, Any] = {}
        try:
            argv = [
                str(BIN / "dbt-pendo"),
                "sync",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
            ]
            argv += [
                "--threads",
                str(threads),
                "--max-rps",
                str(PACED_RPS if paced else 0),
                "--log-format",
                "json",
            ]
            reaped, step.wall = run_child(argv, self.env(project, emu.url), log, project)
            try:
                stats = emu.stats()
            except OSError as exc:
                stats = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            emu.stop()
            if emu.rss_mb is not None:
                self.emulator_rss.append(emu.rss_mb)
            step.emulator_cpu_s = emu.cpu_s
        step.record(reaped)
        step.extra |= {"emulator": stats, "emulator_rss_mb": emu.rss_mb}
        problems = [f"exit {reaped.exit_code}"] if reaped.exit_code != 0 else []
        models = read_results(project / "target" / "pendo_sync_results.json", problems)
        problems += _sync_problems(step, models, log, events, threads)
        step.ok = not problems
        if problems:
            step.check = "FAILED: " + "; ".join(problems)
            print(f"  {name}: {step.check}; log {log}:\n{tail(log)}", flush=True)
        else:
            in_flight = stats.get("max_in_flight")
            step.check = f"ok (sent = updated = track calls = {events:,}; max in flight {in_flight})"
        return step

    def run(self, sizes: dict[int, int], paced: int) -> dict[str, Any]:
        plan = [(f"t{t}", t, n, False) for t, n in sizes.items()]
        if paced:
            plan.append((f"t{PACED_THREADS}_paced", PACED_THREADS, paced, True))
        builds: dict[str, Step] = {}
        syncs: dict[str, Step] = {}
        for i, (label, threads, events, is_paced) in enumerate(plan, 1):
            pacing = f"--max-rps {PACED_RPS}" if is_paced else "--max-rps 0"
            print(
                f"[{i}/{len(plan)}] {events:,} events, {threads} threads, {pacing}: build, sync", flush=True
            )
            project, builds[label] = self.build(label, events)
            name = f"{threads} thread{'s' if threads > 1 else ''}" + (", paced 80/s" if is_paced else "")
            syncs[label] = self.sync(project, label, name, threads, events, is_paced)
            st = syncs[label]
            print(
                f"      {num(st.wall, '.2f')} s, {num(st.rows_per_second, ',.1f')} events/s; {st.check}",
                flush=True,
            )
        return {"builds": builds, "syncs": syncs, "target": self.target(syncs, sizes)}

    @staticmethod
    def target(syncs: dict[str, Step], sizes: dict[int, int]) -> dict[str, Any]:
        one, many = syncs.get("t1"), syncs.get(f"t{PACED_THREADS}")
        if not (one and many):
            return {"value": None, "pass": None, "shown": "n/a (needs 1 and 32 threads in --sizes)"}
        if not (one.ok and many.ok and one.rows_per_second and many.rows_per_second):
            return {"value": None, "pass": False, "shown": "n/a (a step failed)"}
        ratio = many.rows_per_second / one.rows_per_second
        return {"value": ratio, "pass": ratio >= RATIO_GOAL, "shown": f"{ratio:.1f}x"}


def _sync_problems(
    step: Step, models: list[dict[str, Any]], log: Path, events: int, threads: int
) -> list[str]:
    """The step's figures from its results and log; what differs from every event sent and
    updated, one track call each, no more than `threads` in flight."""
    problems = [] if len(models) == 1 else [f"{len(models)} models in the results file, expected 1"]
    counts = models[0]["counts"] if len(models) == 1 else {}
    step.rows_sent = counts.get("sent")
    finished = log_events(log, "model_finished")
    step.rows_read = sum(e["to_send"] for e in finished) if finished else None
    step.extra |= {
        "counts": counts,
        "model_seconds": models[0].get("seconds") if len(models) == 1 else None,
        "status": models[0].get("status") if len(models) == 1 else None,
        "log": str(log),
    }
    stats = step.extra["emulator"]
    for what, got in (
        ("sent", counts.get("sent")),
        ("updated", counts.get("updated")),
        ("emulator track_calls", stats.get("track_calls")),
        ("emulator tracked_events", stats.get("tracked_events")),
    ):
        if got != events:
            problems.append(f"{what} {num(got, ',d')}, expected {events:,}")
    if counts.get("too_old") or counts.get("too_new"):
        problems.append(f"too_old {counts['too_old']}, too_new {counts['too_new']}")
    in_flight = stats.get("max_in_flight")
    if in_flight is None or in_flight > threads:
        problems.append(f"max_in_flight {in_flight}, expected <= {threads}")
    return problems


def engine_rate(step: Step) -> float | None:
    seconds = step.extra.get("model_seconds")
    return step.rows_sent / seconds if step.rows_sent and seconds else None


def print_report(outcome: dict[str, Any], bench: EventsBench) -> None:
    syncs: dict[str, Step] = outcome["syncs"]
    print()
    print("=" * 100)
    print(f"Track Events benchmark: emulator latency {bench.latency_ms} ms per call; one event per call")
    print()
    header = (
        f"{'sync':<22} {'events':>7} {'wall s':>7} {'events/s':>9} {'engine s':>8} "
        f"{'engine ev/s':>11} {'max in flight':>13} {'RSS MB':>7} {'CPU s':>6} {'emu CPU s':>9}  check"
    )
    print_table(
        header,
        (
            f"{st.name:<22} {num(st.rows_sent, ',d'):>7} {num(st.wall, '.2f'):>7} "
            f"{num(st.rows_per_second, ',.1f'):>9} {num(st.extra.get('model_seconds'), '.2f'):>8} "
            f"{num(engine_rate(st), ',.1f'):>11} {num(st.extra['emulator'].get('max_in_flight'), 'd'):>13} "
            f"{num(st.rss_mb, '.0f'):>7} {num(st.cpu_s, '.1f'):>6} {num(st.emulator_cpu_s, '.1f'):>9}  "
            f"{st.check}"
            for st in syncs.values()
        ),
    )
    print()
    ideal = 1000 / bench.latency_ms if bench.latency_ms else None
    if ideal:
        notes = [f"one call at a time cannot beat {ideal:.0f} events/s at {bench.latency_ms} ms per call"]
        for st in syncs.values():
            threads = st.extra["threads"]
            rate = engine_rate(st)
            if rate and st.extra.get("paced"):
                notes.append(f"{st.name}: engine {rate:,.1f} events/s = {rate / 80:.0%} of the pacer's 80/s")
            elif rate:
                notes.append(
                    f"{st.name}: engine {rate:,.1f} events/s = {rate / (ideal * threads):.0%} of "
                    f"{threads} x {ideal:.0f}"
                )
        for note in notes:
            print("  " + note)
        print()
    one, many = syncs.get("t1"), syncs.get(f"t{PACED_THREADS}")
    if one and many and engine_rate(one) and engine_rate(many):
        ratio = engine_rate(many) / engine_rate(one)
        print(f"  engine-only ratio (the model's own seconds: no process start): {ratio:.1f}x")
        print()
    target = outcome["target"]
    verdict = "n/a" if target["pass"] is None else ("PASS" if target["pass"] else "FAIL")
    label = "32 concurrent calls: events/s vs 1 call (wall)"
    print(f"{'target':<48} {'value':>10} {'goal':>8}  result")
    print(f"{label:<48} {target['shown']:>10} {'>= 20x':>8}  {verdict}")
    print()
    print(f"results: {bench.workdir / 'bench_events_results.json'}   logs: {bench.logs}")


def to_json(
    outcome: dict[str, Any], bench: EventsBench, command: str, sizes: dict[int, int], paced: int
) -> dict:
    def steps_json(steps: dict[str, Step]) -> dict[str, Any]:
        return {
            k: {
                **asdict(st),
                "events_per_second": st.rows_per_second,
                "engine_events_per_second": engine_rate(st),
            }
            for k, st in steps.items()
        }

    return {
        "command": command,
        "settings": {
            "sizes": {str(t): n for t, n in sizes.items()},
            "paced_events": paced,
            "latency_ms": bench.latency_ms,
            "workdir": str(bench.workdir),
        },
        "machine": machine_info(),
        "builds": steps_json(outcome["builds"]),
        "syncs": steps_json(outcome["syncs"]),
        "target": {"name": "events/s at 32 threads / at 1 thread", "goal": RATIO_GOAL, **outcome["target"]},
        "emulator_peak_rss_mb": max(bench.emulator_rss) if bench.emulator_rss else None,
    }


def _sizes(text: str) -> dict[int, int]:
    """ "1=400,8=3000,32=10000" -> {threads: events}."""
    sizes = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        threads, _, events = part.partition("=")
        t, n = int(threads), int(events.replace("_", ""))
        if not 1 <= t <= 32 or n <= 0:
            raise argparse.ArgumentTypeError(f"{part!r}: threads 1-32 = events > 0")
        sizes[t] = n
    if not sizes:
        raise argparse.ArgumentTypeError("no size")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_sizes = ",".join(f"{t}={n}" for t, n in DEFAULT_SIZES.items())
    parser.add_argument(
        "--sizes", type=_sizes, default=DEFAULT_SIZES, help=f"threads=events, ... (default {default_sizes})"
    )
    parser.add_argument(
        "--paced",
        type=int,
        default=DEFAULT_PACED,
        help=f"events of the 32-thread step at the default pacing (default {DEFAULT_PACED:,}; 0: skip it)",
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator latency per call (default 50)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every event count (0.1: a quick trial)"
    )
    parser.add_argument("--workdir", default=None, help="work folder (default: a new temp folder, kept)")
    args = parser.parse_args()
    if args.scale <= 0 or args.paced < 0 or args.latency_ms < 0:
        parser.error("--scale must be > 0, --paced and --latency-ms >= 0")
    sizes = {t: max(1, round(n * args.scale)) for t, n in args.sizes.items()}
    paced = round(args.paced * args.scale) if args.paced else 0

    def run(command: str) -> int:
        workdir = prepare_workdir(args.workdir, "bench_events.py")
        print(f"workdir: {workdir}")
        print(machine_line(), flush=True)
        bench = EventsBench(workdir, args.latency_ms)
        outcome = bench.run(sizes, paced)
        write_results(workdir / "bench_events_results.json", to_json(outcome, bench, command, sizes, paced))
        print_report(outcome, bench)
        return 0

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
