"""The two line formats of `--log-format`: JSON lines (`json`) and timestamped text (`text`).

Both only write lines; what is reported, when, and at which level is report.py's business.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

# --log-format values, as dbt's: default is rich on a terminal and text otherwise; debug is
# text with the debug-level lines (every batch, every retry).
LOG_FORMATS = ("default", "text", "json", "debug")

DEBUG, INFO, WARN, ERROR = "debug", "info", "warn", "error"
LEVELS = {DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40}


# Loggers of the libraries and drivers a run uses: their lines never reach the user (what
# matters, a retry say, is reported as one of our own report events).
LIBRARY_LOGGERS = (
    "urllib3",
    "requests",
    "py4j",
    "pyspark",
    "snowflake.connector",
    "google",
    "botocore",
    "azure",
)


@contextmanager
def library_logs_silenced() -> Iterator[None]:
    """While the block runs, library loggers reach no handler, not even one another library
    installed on the root logger at import (snowplow_tracker, imported by dbt, calls
    `logging.basicConfig()`)."""
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(lg.propagate, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.propagate = False
        lg.handlers = [logging.NullHandler()]
    try:
        yield
    finally:
        for lg, (propagate, handlers) in zip(loggers, saved, strict=True):
            lg.propagate, lg.handlers = propagate, handlers


def new_invocation_id() -> str:
    """A run's id: a uuid4, as dbt's invocation_id."""
    return str(uuid.uuid4())


def utc_now() -> str:
    """Now as RFC 3339 in UTC, to the microsecond (`2026-01-02T03:04:05.678901Z`)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JsonLines:
    """One JSON object per line per report event: ts, event (its name), level, invocation_id,
    msg, then the event's own fields. Safe to call from several threads; each line is flushed."""

    def __init__(self, file: IO[str], invocation_id: str) -> None:
        self.file = file
        self.invocation_id = invocation_id
        self._lock = threading.Lock()

    def write(self, event: str, level: str, msg: str, fields: dict[str, Any]) -> None:
        line = {
            "ts": utc_now(),
            "event": event,
            "level": level,
            "invocation_id": self.invocation_id,
            "msg": msg,
            **fields,
        }
        text = json.dumps(line, default=str, ensure_ascii=False)
        with self._lock:
            self.file.write(text + "\n")
            self.file.flush()


class TextLines:
    """Plain lines `HH:MM:SS message` in local time (as dbt's text format), no control codes."""

    _PREFIX = {WARN: "Warning: ", ERROR: "Error: "}

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self._lock = threading.Lock()

    def write(self, level: str, msg: str) -> None:
        text = f"{time.strftime('%H:%M:%S')} {self._PREFIX.get(level, '')}{msg}"
        with self._lock:
            self.file.write(text + "\n")
            self.file.flush()
