"""`dbt-pendo emulator` in its own process, for one step."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import procs
from .config import BIN, KEY, BenchError


class Emulator:
    """`dbt-pendo emulator` in its own process, on a free port (`args`: more of its options)."""

    def __init__(
        self, data_file: Path | None, log: Path, env: dict[str, str], args: Sequence[str] = ()
    ) -> None:
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        data = ["--data", str(data_file)] if data_file is not None else []
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "dbt-pendo"), "emulator", "--port", str(self.port), *data, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, "PENDO_INTEGRATION_KEY": KEY},
            )
        procs.RUNNING[self.proc.pid] = self.proc
        self.rss_mb: float | None = None
        self.cpu_s: float | None = None
        self.last_stats: dict[str, Any] = {}  # its stats just before stop()
        self._wait_ready(log)
        try:
            self.ready_stats = self.stats()  # its CPU once started (imports, data file)
        except (OSError, ValueError):
            self.ready_stats = {}

    def _wait_ready(self, log: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if procs.reap(self.proc, os.WNOHANG) is not None:
                raise BenchError(f"the emulator exited at start:\n{procs.tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BenchError(
                        f"the emulator did not listen on port {self.port} within {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        """Its `GET /_emulator/stats` (call counts, statuses, throttled, max_in_flight,
        cpu_seconds, peak_rss_mb)."""
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
        with opener.open(f"{self.url}/_emulator/stats", timeout=10) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        """Its stats (kept in last_stats), then kill it: its peak RSS and CPU from wait4."""
        if self.proc.pid in procs.RUNNING:
            try:
                self.last_stats = self.stats()
            except (OSError, ValueError):
                self.last_stats = {}
        reaped = procs.kill(self.proc)
        if reaped is not None:
            self.rss_mb, self.cpu_s = reaped.rss_mb, reaped.cpu_s

    def figures(self) -> dict[str, Any]:
        """What a step keeps of it once stopped: its peak RSS, its CPU (its whole life, and
        from ready to stop) and its counts."""
        stats, ready = self.last_stats, self.ready_stats
        during = (
            stats["cpu_seconds"] - ready["cpu_seconds"]
            if "cpu_seconds" in stats and "cpu_seconds" in ready
            else None
        )
        return {
            "rss_mb": self.rss_mb,
            "cpu_s": self.cpu_s,  # wait4: its whole life, start included
            "cpu_during_s": during,  # /_emulator/stats cpu_seconds, from ready to stop
            **{
                k: stats.get(k)
                for k in ("write_calls", "statuses", "throttled", "max_in_flight", "send_seconds")
            },
        }
