"""The floor: a bare script doing the least any tool must do to sync a model to Pendo.

It streams the rows of one relation from the warehouse (DuckDB: `fetchmany` on the query's
streaming result; PostgreSQL: a psycopg2 named, server-side cursor), builds for each batch
the body a sync posts for visitor custom metadata (`[{"visitorId": id, "values": {...}}]`,
values in the formats dbt_pendo_sync sends: times as RFC 3339 in UTC, whole numerics as JSON
integers, nulls left out), encodes it with orjson and posts it with T threads, each with its
own requests.Session, fed by a bounded queue. Each answer must be 200; the emulator's
`updated` counts are summed. No ledger, no diff, no retries: reading, building and sending.

    python benchmarks/bench/floor.py --source duckdb --db bench.duckdb \\
        --relation main.bench_visitors --id-column visitor_id --url http://127.0.0.1:PORT \\
        --key KEY --threads 16 --batch-size 500 --out floor.json

The whole process is meant to be timed from outside (wall, CPU, peak RSS); --out gets
{"sent": rows, "calls": n, "seconds": s, "updated": n, "bad_answers": n}, where `seconds`
runs from opening the warehouse connection to the last answer. Exit 1 when an answer was
not a 200 or Pendo updated fewer records than were sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import requests

WRITE_PATH = "/api/v1/metadata/visitor/custom/value"
KEY_HEADER = "x-pendo-integration-key"  # as dbt_pendo_sync/pendo/client.py sends the key
FETCH_BATCHES = 20  # rows fetched from the warehouse per round trip: this many batches
QUEUE_DEPTH = 2  # bodies waiting per poster thread
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
MAX_SAFE_INT = 2**53


def _number(value: Decimal) -> int | float:
    """An exact numeric as dbt_pendo_sync sends it: an int when whole and exact in a double."""
    if value == value.to_integral_value() and abs(value) < MAX_SAFE_INT:
        return int(value)
    return float(value)


def _date(value: dt.date) -> str:
    return value.isoformat() + "T00:00:00+00:00"


def _timestamp(value: dt.datetime) -> str:
    return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"


# Per Python type the driver hands over: its JSON value (types absent go out as they are).
CONVERT: dict[type, Callable[[Any], Any]] = {Decimal: _number, dt.datetime: _timestamp, dt.date: _date}


def quoted(name: str) -> str:
    """A dotted SQL name, each part checked and double-quoted (DuckDB and PostgreSQL alike)."""
    parts = name.split(".")
    if not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise SystemExit(f"not a plain SQL name: {name!r}")
    return ".".join(f'"{p}"' for p in parts)


def duckdb_chunks(db: str, sql: str, fetch_rows: int) -> Iterator[tuple[list[str], list[tuple]]]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(fetch_rows):
            yield names, rows
    finally:
        con.close()


def postgres_chunks(dsn: str, sql: str, fetch_rows: int) -> Iterator[tuple[list[str], list[tuple]]]:
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor(name="floor_rows") as cursor:
            cursor.itersize = fetch_rows
            cursor.execute(sql)
            names: list[str] = []
            while rows := cursor.fetchmany(fetch_rows):
                names = names or [d[0] for d in cursor.description]
                yield names, rows
    finally:
        con.close()


def bodies(
    chunks: Iterator[tuple[list[str], list[tuple]]], id_column: str, batch_size: int
) -> Iterator[tuple[int, bytes]]:
    """(records, body) per batch of rows: columns converted a column at a time."""
    for names, rows in chunks:
        id_index = names.index(id_column)
        fields = [n for i, n in enumerate(names) if i != id_index]
        for start in range(0, len(rows), batch_size):
            columns = list(zip(*rows[start : start + batch_size], strict=True))
            ids = [str(v) for v in columns[id_index]]
            values = [_column(c) for i, c in enumerate(columns) if i != id_index]
            records = [dict(zip(fields, row, strict=True)) for row in zip(*values, strict=True)]
            for name, column in zip(fields, values, strict=True):
                if None in column:  # a null is left out: it never overwrites Pendo's value
                    for record, value in zip(records, column, strict=True):
                        if value is None:
                            del record[name]
            body = [{"visitorId": i, "values": r} for i, r in zip(ids, records, strict=True)]
            yield len(body), orjson.dumps(body)


def _column(values: Sequence[Any]) -> Sequence[Any]:
    kind = next((type(v) for v in values if v is not None), None)
    convert = CONVERT.get(kind) if kind is not None else None
    if convert is None:
        return values
    return [None if v is None else convert(v) for v in values]


class Posters:
    """T threads posting bodies from a bounded queue, each with its own session."""

    def __init__(self, url: str, key: str, threads: int) -> None:
        self.url = url.rstrip("/") + WRITE_PATH
        self.key = key
        self.work: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH * threads)
        self.lock = threading.Lock()
        self.calls = self.updated = self.bad = 0
        self.threads = [threading.Thread(target=self._post_all, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _post_all(self) -> None:
        session = requests.Session()
        session.trust_env = False
        session.headers.update({KEY_HEADER: self.key, "content-type": "application/json"})
        calls = updated = bad = 0
        while (body := self.work.get()) is not None:
            calls += 1
            try:
                answer = session.post(self.url, data=body, timeout=(10, 330))
            except requests.RequestException:
                bad += 1
                continue
            if answer.status_code != 200:
                bad += 1
                continue
            updated += int(orjson.loads(answer.content).get("updated", 0))
        session.close()
        with self.lock:
            self.calls += calls
            self.updated += updated
            self.bad += bad

    def finish(self) -> None:
        for _ in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="floor.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=("duckdb", "postgres"), required=True)
    p.add_argument("--db", help="the DuckDB file (--source duckdb)")
    p.add_argument("--dsn", help="the libpq connection string (--source postgres)")
    p.add_argument("--relation", required=True, help="SCHEMA.TABLE")
    p.add_argument("--id-column", required=True)
    p.add_argument("--url", required=True, help="Pendo's (the emulator's) base URL")
    p.add_argument("--key", required=True, help="the integration key")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if (args.db if args.source == "duckdb" else args.dsn) is None:
        p.error(f"--source {args.source} needs {'--db' if args.source == 'duckdb' else '--dsn'}")
    quoted(args.id_column)  # checked: it names a column of the result
    sql = f"select * from {quoted(args.relation)}"
    fetch_rows = FETCH_BATCHES * args.batch_size
    started = time.perf_counter()
    chunks = (
        duckdb_chunks(args.db, sql, fetch_rows)
        if args.source == "duckdb"
        else postgres_chunks(args.dsn, sql, fetch_rows)
    )
    posters = Posters(args.url, args.key, max(1, args.threads))
    sent = 0
    try:
        for records, body in bodies(chunks, args.id_column, args.batch_size):
            posters.work.put(body)
            sent += records
    finally:
        posters.finish()
    seconds = time.perf_counter() - started
    result = {
        "sent": sent,
        "calls": posters.calls,
        "seconds": round(seconds, 3),
        "updated": posters.updated,
        "bad_answers": posters.bad,
    }
    Path(args.out).write_text(json.dumps(result) + "\n", encoding="utf-8")
    if posters.bad or posters.updated != sent:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
