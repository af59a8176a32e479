"""Kill soak: `dbt-pendo sync` killed (SIGKILL) at random moments while it sends, rerun after
each kill, against an emulator with 250 ms latency, 15% 5xx and 10% 429 answers on every call;
then the final state is checked against the model, value by value.

    python -m benchmarks.bench.soak --workdir DIR --rows 20000 --kills 8 --seed 1 --out soak.json

What Pendo received is counted by the emulator (`GET /_emulator/stats` `write_records`: the
records in every bulk write call, per answer status):
  received  records in every write call the emulator answered, 5xx and 429 answers included
            (a record in a call answered 503 counts once per call); its floor under these
            faults is 1 / (1 - 0.25) = 1.33 x needed with no kill at all
  applied   records in the write calls answered 2xx (what Pendo took in)
A kill lands at a random point of the run's send (seeded): once the emulator has received a
share drawn from KILL_SHARE (0 to 0.5, so that every rerun has work left to kill) of the
records the run set out to send (known once its first batch is answered), then a random
delay of up to one latency (so that it does not fall just as Pendo answers a call, before
the sync could read the answer): it falls while calls are in flight. A delay in seconds
alone would let a rerun with little left finish first. Per run the JSON gives
what the run set out to send (`to_send`, from its batch_sent events), the ids the emulator
held at the kill and once the calls in flight at the kill were answered, and the records
received and applied during the run; `resent` (in the next run) = its to_send minus the ids
the emulator did not hold yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import procs

BIN = Path(sys.executable).parent
PROJECT_TEMPLATE = Path(__file__).resolve().parents[1] / "project"
MODEL = "bench_visitors"
KEY = "soak-integration-key"
# The Pendo field Type of each warehouse column type of the model (benchmarks/project's SQL)
PENDO_TYPES = {"VARCHAR": "string", "INTEGER": "integer", "BIGINT": "integer", "BOOLEAN": "boolean"}
PENDO_TYPES |= {"DATE": "time", "TIMESTAMP": "time"}  # DECIMAL(p, s): float
LATENCY_MS = 250
SERVER_ERROR_RATE = 0.15  # of all calls on Pendo's paths: 503
TOO_MANY_RATE = 0.10  # of all calls: 429 (drawn among the calls the 503 fault spared)
KILL_SHARE = (0.0, 0.5)  # a kill lands once this share (drawn at random) of the run's send was received
RUN_TIMEOUT_S = 900.0
POLL_S = 0.02


class SoakError(Exception):
    """The soak itself cannot run (the build fails, the emulator does not start)."""


def _open(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
    with opener.open(req, timeout=30) as answer:
        return json.loads(answer.read())


class Emulator:
    """`dbt-pendo emulator --port 0` in its own process, its URL read from its stderr."""

    def __init__(self, data_file: Path, log: Path, env: dict[str, str]) -> None:
        argv = [str(BIN / "dbt-pendo"), "emulator", "--port", "0", "--accept-any-id"]
        argv += ["--latency-ms", str(LATENCY_MS), "--data", str(data_file)]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = self._wait_url()

    def _wait_url(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise SoakError(f"the emulator did not start; log {self.log}")

    def add_faults(self, seed: int) -> None:
        """503 on 15% of the calls, then 429 on 10% of all (rate among those 503 spared)."""
        _open(
            f"{self.url}/_emulator/faults",
            "POST",
            {"kind": "status", "status": 503, "rate": SERVER_ERROR_RATE, "seed": seed},
        )
        spared = TOO_MANY_RATE / (1 - SERVER_ERROR_RATE)
        _open(
            f"{self.url}/_emulator/faults",
            "POST",
            {"kind": "status", "status": 429, "rate": spared, "seed": seed + 1},
        )

    def stats(self) -> dict[str, Any]:
        return _open(f"{self.url}/_emulator/stats")

    def values(self) -> dict[str, dict[str, Any]]:
        return _open(f"{self.url}/_emulator/values/visitor")

    def settle(self, timeout: float = 30.0) -> dict[str, Any]:
        """Its stats once no call is being answered (the calls a kill left in flight done)."""
        deadline = time.monotonic() + timeout
        while (stats := self.stats())["in_flight"] and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return stats

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def records(stats: dict[str, Any]) -> tuple[int, int]:
    """(received, applied): the records in every write call, and in those answered 2xx."""
    per_status = {int(s): n for s, n in stats["write_records"].items()}
    return sum(per_status.values()), sum(n for s, n in per_status.items() if 200 <= s < 300)


def clean_env() -> dict[str, str]:
    """The bench's clean environment (procs.clean_env) with the soak emulator's key."""
    return {**procs.clean_env(), "PENDO_INTEGRATION_KEY": KEY}


def build(workdir: Path, rows: int, env: dict[str, str]) -> Path:
    """A copy of benchmarks/project with the model built at `rows` rows, and the emulator's data."""
    project = workdir / "project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(PROJECT_TEMPLATE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    argv = [str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project)]
    argv += ["--vars", f"{{rows: {rows}}}"]
    log = workdir / "build.log"
    with log.open("wb") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=project).returncode
    if code != 0:
        raise SoakError(f"`dbt build` failed (exit {code}); log {log}")
    schema = {"visitor": {"custom": field_schema(project / "bench.duckdb")}}
    data = {"visitors": "all", "accounts": [], "schema": schema, "values": {}}
    (workdir / "emulator_data.json").write_text(json.dumps(data), encoding="utf-8")
    return project


def field_schema(database: Path) -> dict[str, dict[str, str]]:
    """The emulator's field schema: a field per column of the model but the id, typed."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(f"describe main.{MODEL}").fetchall()
    finally:
        con.close()
    return {
        name: {"Type": "float" if kind.startswith("DECIMAL") else PENDO_TYPES[kind]}
        for name, kind, *_ in columns
        if name != "visitor_id"
    }


def to_send(log: Path) -> int | None:
    """What the run set out to send: `to_send` of its first batch_sent event (None: none)."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith('{"') and '"batch_sent"' in line:
            try:
                return json.loads(line).get("to_send")
            except ValueError:
                continue
    return None


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.workdir = Path(args.workdir).resolve()
        self.rows, self.kills, self.seed = args.rows, args.kills, args.seed
        self.rng = random.Random(args.seed)
        self.env = clean_env()
        self.runs: list[dict[str, Any]] = []

    def sync(self, project: Path, emulator: Emulator, number: int, kill: bool) -> dict[str, Any]:
        """One `dbt-pendo sync`, SIGKILLed at a random moment while it sends when `kill`."""
        log = self.workdir / f"sync_{number}.log"
        argv = [str(BIN / "dbt-pendo"), "sync", "--project-dir", str(project), "--profiles-dir", str(project)]
        argv += ["--log-format", "json", "--debug"]
        env = dict(self.env, PENDO_BASE_URL=emulator.url, BENCH_DUCKDB_PATH=str(project / "bench.duckdb"))
        before = records(emulator.stats())
        held_before = len(emulator.values())
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=project)
        run: dict[str, Any] = {"killed": False, "held_before": held_before}
        if kill:
            run |= self._kill_while_sending(proc, log, emulator)
        try:
            run["exit"] = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            run["exit"] = proc.wait()
        run["seconds"] = round(time.monotonic() - started, 3)
        after = records(emulator.settle())
        run["held_after"] = len(emulator.values())
        run["received"], run["applied"] = after[0] - before[0], after[1] - before[1]
        run["to_send"] = to_send(log)
        return run

    def _kill_while_sending(self, proc: subprocess.Popen, log: Path, emulator: Emulator) -> dict[str, Any]:
        """SIGKILL `proc` at a random point of its send: once the emulator has received a
        random share (KILL_SHARE) of the records the run set out to send (known from its first
        batch_sent event, so calls are in flight by then)."""
        share = self.rng.uniform(*KILL_SHARE)
        start = records(emulator.stats())[0]
        while proc.poll() is None and to_send(log) is None:
            time.sleep(POLL_S)
        target = start + share * (to_send(log) or 0)
        while proc.poll() is None and records(emulator.stats())[0] < target:
            time.sleep(POLL_S)
        time.sleep(self.rng.uniform(0, LATENCY_MS / 1000))  # not just as Pendo answers a call
        if proc.poll() is not None:
            return {"kill_share": round(share, 3)}  # it finished first: not a kill
        proc.send_signal(signal.SIGKILL)
        stats = emulator.stats()
        held = len(emulator.values())
        return {
            "killed": True,
            "kill_share": round(share, 3),
            "in_flight_at_kill": stats["in_flight"],
            "held_at_kill": held,
        }

    def run(self) -> dict[str, Any]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        build_env = dict(self.env, BENCH_DUCKDB_PATH=str(self.workdir / "project" / "bench.duckdb"))
        project = build(self.workdir, self.rows, build_env)
        emulator = Emulator(self.workdir / "emulator_data.json", self.workdir / "emulator.log", self.env)
        try:
            emulator.add_faults(self.seed)
            kills = 0
            while True:
                run = self.sync(project, emulator, len(self.runs) + 1, kill=kills < self.kills)
                self.runs.append(run)
                kills += run["killed"]
                if not run["killed"]:
                    break
            received, applied = records(emulator.stats())
            exact, wrong = self.check(project, emulator.values())
        finally:
            emulator.stop()
        return self.outcome(kills, received, applied, exact, wrong)

    def outcome(
        self, kills: int, received: int, applied: int, exact: bool, wrong: list[str]
    ) -> dict[str, Any]:
        for run, rerun in zip(self.runs, self.runs[1:], strict=False):
            if rerun["to_send"] is not None:  # what the rerun sent that the emulator already held
                rerun["resent"] = rerun["to_send"] - (self.rows - run["held_after"])
        return {
            "needed": self.rows,
            "received": received,
            "applied": applied,
            "ratio": round(received / self.rows, 4),
            "applied_ratio": round(applied / self.rows, 4),
            "kills": kills,
            "exact": exact,
            "wrong": wrong[:10],
            "seed": self.seed,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3]
            if Path("/proc/loadavg").exists()
            else None,
            "runs": self.runs,
        }

    def check(self, project: Path, held: dict[str, dict[str, Any]]) -> tuple[bool, list[str]]:
        """Whether the emulator holds exactly the model: every row, every field (and no more)."""
        import duckdb

        con = duckdb.connect(str(project / "bench.duckdb"), read_only=True)
        try:
            cursor = con.execute(f"select * from main.{MODEL}")
            names = [d[0] for d in cursor.description]
            expected = {}
            for row in cursor.fetchall():
                values = dict(zip(names, row, strict=True))
                key = values.pop("visitor_id")
                expected[key] = {n: _normal(v) for n, v in values.items() if v is not None}
        finally:
            con.close()
        got = {key: {n: _normal(v) for n, v in values.items()} for key, values in held.items()}
        wrong = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        return not wrong, wrong


def _normal(value: Any) -> Any:
    """A value as comparable: times as aware datetimes, decimals as numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", value):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return value


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workdir", required=True)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        result = Soak(args).run()
    except SoakError as exc:
        sys.exit(f"soak: {exc}")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    r = result
    print(
        f"soak seed {r['seed']}: {r['kills']} kills, exact {r['exact']}; received {r['received']:,} "
        f"(ratio {r['ratio']:.2f}), applied {r['applied']:,} (ratio {r['applied_ratio']:.2f}) "
        f"for {r['needed']:,} needed; load {' '.join(r['loadavg'] or [])}"
    )
