"""The benchmark's own child processes (bench_sync.py COMMAND ARGS), each writing its figures
to --out as JSON: the bare client with prebuilt payloads (`limit`), the warehouse's scan
(`scan`), the bare script (`floor`, floor.py) and the kill soak (`soak`, soak.py)."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import floor, readback, soak
from .config import FINGERPRINT_PREFIX, FINGERPRINT_SEPARATOR, MODEL_ID, WRITE_PATH


def _value(v: Any) -> Any:
    """README "Values": what the sync sends for each warehouse type."""
    import datetime as dt
    from decimal import Decimal

    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and abs(v) < 2**53 else float(v)
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=dt.timezone.utc).isoformat()
    return v


def _build_bodies(db: str, relation: str, batch_size: int) -> tuple[list[bytes], int]:
    """Every payload as the sync would send it, in id order: the bodies and the records."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    cursor = con.execute(f"select * from {relation} order by visitor_id")
    names = [d[0] for d in cursor.description]
    id_index = names.index("visitor_id")
    fields = [(i, n) for i, n in enumerate(names) if i != id_index]
    bodies: list[bytes] = []
    batch: list[dict] = []
    records = 0
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            values = {n: _value(row[i]) for i, n in fields if row[i] is not None}
            batch.append({"visitorId": str(row[id_index]), "values": values})
            if len(batch) == batch_size:
                bodies.append(json.dumps(batch, separators=(",", ":"), allow_nan=False).encode())
                records += len(batch)
                batch = []
    if batch:
        bodies.append(json.dumps(batch, separators=(",", ":"), allow_nan=False).encode())
        records += len(batch)
    con.close()
    return bodies, records


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _send_all(bodies: list[bytes], threads: int, base_url: str, key: str) -> dict[str, Any]:
    """POST every body with bare requests Sessions (one per thread): sending only, timed."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()
    url = f"{base_url}{WRITE_PATH}"

    def send(body: bytes) -> tuple[int, bool]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
            session.headers.update({"x-pendo-integration-key": key, "content-type": "application/json"})
        response = session.post(url, data=body, timeout=(10, 330))
        if response.status_code != 200:
            return 0, True
        answer = response.json()
        return int(answer.get("updated", 0)), bool(answer.get("failed"))

    t0, cpu0 = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = list(pool.map(send, bodies))
    return {
        "threads": threads,
        "send_seconds": time.perf_counter() - t0,
        "send_cpu_seconds": _cpu() - cpu0,
        "updated": sum(u for u, _ in answers),
        "bad_answers": sum(1 for _, bad in answers if bad),
    }


def limit_child(argv: list[str]) -> None:
    """Read the table, build every payload as the sync would send it, then time only sending,
    once per --send THREADS URL (each URL its own fresh emulator)."""
    p = argparse.ArgumentParser(prog="bench_sync.py limit")
    p.add_argument("--db", required=True)
    p.add_argument("--relation", required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--send", nargs=2, action="append", metavar=("THREADS", "URL"), required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    key = os.environ["PENDO_INTEGRATION_KEY"]
    started = time.perf_counter()
    bodies, records = _build_bodies(args.db, args.relation, args.batch_size)
    build_seconds = time.perf_counter() - started
    runs = [_send_all(bodies, int(threads), url, key) for threads, url in args.send]
    result = {
        "build_seconds": build_seconds,
        "records": records,
        "batches": len(bodies),
        "bytes": sum(map(len, bodies)),
        "sample_record": json.loads(bodies[0])[0] if bodies else None,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")


def fingerprint_sql(columns: Sequence[str]) -> str:
    """The sync's fingerprint of a row of these columns (each sent under its own name, no
    column clearing Pendo's value on null), as macros/ledger.sql renders it for DuckDB."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    parts = [literal(FINGERPRINT_PREFIX)]
    for column in sorted(columns):  # field = column name; fields in name order
        tag = literal(f"{FINGERPRINT_SEPARATOR}{column}=")
        parts.append(
            f"case when {quote(column)} is null then '' else {tag} || cast({quote(column)} as VARCHAR) end"
        )
    return f"md5(cast({' || '.join(parts)} as VARCHAR))"


def _stored_fingerprints(db: str, relation: str, fp: str) -> tuple[int | None, int | None]:
    """How many of the model's rows the sync's state holds, and how many of those have the
    fingerprint `fp` computes (None, None: no state table)."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        state = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = 'pendo_sync_state'"
        ).fetchone()
        if not (state and state[0]):
            return None, None
        row = con.execute(
            f"select count(*), count(*) filter (where st.fingerprint = {fp}) "
            f"from {relation} m join main.pendo_sync_state st "
            f"on st.model_id = '{MODEL_ID}' and st.record_id = m.visitor_id"
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)
    finally:
        con.close()


def scan_child(argv: list[str]) -> None:
    """Time `select count(fp) from (select <fingerprint> as fp from the model)`, each run on a
    fresh read-only connection (query only); then check the expression against the
    fingerprints the sync stored in its state table (not timed)."""
    import duckdb

    p = argparse.ArgumentParser(prog="bench_sync.py scan")
    p.add_argument("--db", required=True)
    p.add_argument("--relation", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    con = duckdb.connect(args.db, read_only=True)
    names = [d[0] for d in con.execute(f"select * from {args.relation} limit 0").description]
    con.close()
    fp = fingerprint_sql([n for n in names if n != "visitor_id"])
    # count(fp), not count(*): DuckDB would drop the unused projection and hash nothing
    sql = f"select count(fp) from (select {fp} as fp from {args.relation})"
    seconds, counted = [], None
    for _ in range(args.runs):
        con = duckdb.connect(args.db, read_only=True)
        t0 = time.perf_counter()
        row = con.execute(sql).fetchone()
        seconds.append(time.perf_counter() - t0)
        counted = row[0] if row else None
        con.close()
    stored, matched = _stored_fingerprints(args.db, args.relation, fp)
    result = {
        "seconds": seconds,
        "rows": counted,
        "fingerprints_stored": stored,
        "fingerprints_matched": matched,
        "sql": sql,
    }
    Path(args.out).write_text(json.dumps(result), encoding="utf-8")


CHILDREN: dict[str, Callable[[list[str]], None]] = {
    "limit": limit_child,
    "scan": scan_child,
    "floor": floor.main,
    "soak": soak.main,
    "read": readback.read_child,
}
