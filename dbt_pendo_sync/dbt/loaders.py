"""How rows of text go into a table of ours in each kind of warehouse, in bounded chunks: the
read-back's copy of Pendo and its lists of ids (readback/). Picked by dbt's adapter type, as
readers.py picks how rows come out: DuckDB in this process reads a CSV file of each chunk,
PostgreSQL takes `COPY ... FROM STDIN`, every other warehouse `insert ... values` statements.

A chunk is encoded as CSV with every value quoted and a null as an empty unquoted field, so
an empty text stays empty and no value can end its field."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

Row = Sequence[str | None]

LOAD_ROWS = 100_000  # rows per chunk of a bulk load (a CSV file of a few MB)
INSERT_ROWS = 500  # rows per `insert ... values` statement


class Session(Protocol):
    """What a loader needs of the warehouse (Warehouse is one)."""

    def execute(self, *statements: str) -> None:
        """Run statements in one transaction, and commit."""
        ...

    def literal(self, text: str) -> str:
        """A SQL string literal of the text."""
        ...

    def in_transaction(self, work: Callable[[Any], None], what: str) -> None:
        """Call `work` with the connection's driver handle inside one transaction, and
        commit; `what` names it in the error."""
        ...


class RowLoader(Protocol):
    """Loads rows of text into an existing table whose columns are all text."""

    def load(self, session: Session, table: str, rows: Iterable[Row]) -> int:
        """Every row into `table` (its columns in order), a chunk per transaction; how many."""
        ...


def csv_files(rows: Iterable[Row], size: int) -> Iterator[tuple[str, int]]:
    """The rows written as CSV files of at most `size` rows each, one at a time (each value
    quoted, its quotes doubled; a null an empty field): a file's path and its rows, the file
    deleted once the next is asked for. Rows are written as they come: none is held."""
    it = iter(rows)
    while True:
        fd, path = tempfile.mkstemp(prefix="dbt-pendo-load-", suffix=".csv")
        try:
            written = 0
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                for row in itertools.islice(it, size):
                    f.write(_line(row))
                    written += 1
            if written:
                yield path, written
            if written < size:
                return
        finally:
            os.unlink(path)


def _line(row: Row) -> str:
    return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n"


def chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """The rows in lists of at most `size`."""
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class InsertLoader:
    """Any warehouse: `insert into ... values (...), ...`, INSERT_ROWS rows a statement."""

    def load(self, session: Session, table: str, rows: Iterable[Row]) -> int:
        loaded = 0
        for chunk in chunks(rows, INSERT_ROWS):
            values = ", ".join(
                "(" + ", ".join("null" if v is None else session.literal(v) for v in row) + ")"
                for row in chunk
            )
            session.execute(f"insert into {table} values {values}")
            loaded += len(chunk)
        return loaded


class DuckDbFileLoader:
    """DuckDB in this process: each chunk written to a CSV file and read by `read_csv` (an
    order of magnitude faster than parsing the same rows as SQL text)."""

    def __init__(self, width: int) -> None:
        self._columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))

    def load(self, session: Session, table: str, rows: Iterable[Row]) -> int:
        loaded = 0
        for path, written in csv_files(rows, LOAD_ROWS):
            session.execute(
                f"insert into {table} select * from read_csv({session.literal(path)}, header = false, "
                f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
                f"allow_quoted_nulls = false, columns = {{{self._columns}}})"
            )
            loaded += written
        return loaded


class PostgresCopyLoader:
    """PostgreSQL (psycopg2): `COPY ... FROM STDIN` in CSV, a chunk at a time."""

    def load(self, session: Session, table: str, rows: Iterable[Row]) -> int:
        loaded = 0
        for path, written in csv_files(rows, LOAD_ROWS):

            def copy(handle: Any, path: str = path) -> None:
                with handle.cursor() as cursor, open(path, encoding="utf-8", newline="") as f:
                    cursor.copy_expert(f"copy {table} from stdin with (format csv)", f)

            session.in_transaction(copy, f"copy {table} from stdin")
            loaded += written
        return loaded


def loader_for(adapter_type: str, in_process: bool, width: int) -> RowLoader:
    """The loader for a dbt adapter type (`in_process`: DuckDB runs in this process)."""
    if adapter_type == "duckdb" and in_process:
        return DuckDbFileLoader(width)
    if adapter_type == "postgres":
        return PostgresCopyLoader()
    return InsertLoader()
