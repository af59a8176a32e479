"""The files a sync leaves in the target path: results JSON and rejected rows JSONL."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import IO, Any

from . import __version__
from .results import SyncResults

RESULTS_FILE = "pendo_sync_results.json"
REJECTED_FILE = "pendo_sync_rejected.jsonl"
RESULTS_SCHEMA_VERSION = 1


class RejectedFile:
    """Streams one JSON object per undelivered row (model, id, category, reason, payload)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def __enter__(self) -> "RejectedFile":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", encoding="utf-8")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, model: str, record_id: str | None, category: str, reason: str, payload: Any) -> None:
        """Append one row."""
        line = {"model": model, "id": record_id, "category": category, "reason": reason,
                "payload": payload}
        self._handle.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")


def write_results(path: Path, results: SyncResults, context: dict[str, Any]) -> None:
    """Write pendo_sync_results.json atomically (never a half-written file)."""
    document = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "tool": {"name": "dbt-pendo-sync", "version": __version__},
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dry_run": results.dry_run,
        "ok": results.ok,
        **context,
        "models": [m.to_json() for m in results.models],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
