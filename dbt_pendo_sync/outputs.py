"""The files a sync leaves in the target path: results JSON and rejected rows JSONL; and
how any file of ours is put in place whole (through a partial file of the run's own)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import UnwritableFolderError
from .report_events import ReportBus, RowUndelivered
from .results import SyncResults

RESULTS_FILE = "pendo_sync_results.json"
REJECTED_FILE = "pendo_sync_rejected.jsonl"
# The version of the results file's layout (metadata.schema_version); its JSON Schema ships
# in the package as RESULTS_SCHEMA. Fields may be added within a version; a field removed,
# renamed or retyped gets a new version.
RESULTS_SCHEMA_VERSION = 1
RESULTS_SCHEMA = "schemas/pendo_sync_results.schema.json"

# What the run knows of the dbt invocation behind it (metadata.dbt); null when unknown.
DBT_METADATA_KEYS = (
    "manifest_generated_at",
    "manifest_invocation_id",
    "run_results_invocation_id",
    "adapter_type",
)


class RejectedFile:
    """The run's file of undelivered rows, a listener of RowUndelivered report events: one
    JSON object per row (model, id, category, reason, payload).

    Lines go to a file of this run's own beside `path`, each on disk as it is written; only
    `publish` puts it in place, so a run never empties or mixes into another run's file.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.partial = partial_file(path, run_id)
        with writing(path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle: IO[str] | None = self.partial.open("w", encoding="utf-8", buffering=1)

    def listen(self, bus: ReportBus) -> None:
        bus.on(RowUndelivered, self._append)

    def _append(self, event: RowUndelivered) -> None:
        """Append one row."""
        line = {
            "model": event.spec.model,
            "id": event.record_id,
            "category": event.category,
            "reason": event.reason,
            "payload": event.payload,
        }
        if self._handle is not None:
            self._handle.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")

    def publish(self) -> Path:
        """Close the file and put it in place (replacing an earlier run's)."""
        self._close()
        with writing(self.path):
            os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        """Close and delete this run's file, leaving the one in place as it is."""
        self._close()
        self.partial.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of pendo_sync_results.json and pendo_sync_plan.json."""
    from importlib.resources import files

    return json.loads(files(__package__).joinpath(RESULTS_SCHEMA).read_text(encoding="utf-8"))


def write_results(
    path: Path, results: SyncResults, context: dict[str, Any], dbt: Mapping[str, Any] | None = None
) -> Path:
    """Write pendo_sync_results.json atomically (never a half-written file); its path.

    `context` adds top-level keys (the manifest used, Pendo's host); `dbt` fills
    metadata.dbt (keys in DBT_METADATA_KEYS, each null when unknown).
    """
    document = {
        "metadata": {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "dbt_pendo_sync_version": __version__,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "invocation_id": results.invocation_id,
            "dbt": {key: (dbt or {}).get(key) for key in DBT_METADATA_KEYS},
        },
        "dry_run": results.dry_run,
        "ok": results.ok,
        "status": results.status,
        "exit_code": results.exit_code,
        "error": results.error,
        **context,
        "totals": asdict(results.totals()),
        "models": [m.to_json() for m in results.models],
    }
    with writing(path):
        return write_whole(path, json.dumps(document, indent=2, default=str), str(results.invocation_id))


def partial_file(path: Path, run_id: str) -> Path:
    """Where a run writes a file before it puts it in place as `path`: beside it, hidden,
    and its own (so it never mixes into another run's)."""
    return path.with_name(f".{path.name}.{run_id}.partial")


def write_whole(path: Path, text: str, run_id: str) -> Path:
    """`text` put in place as `path` in one step, never a half-written file (its folder made
    when missing); its path."""
    partial = partial_file(path, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while `path` is written (a read-only folder, a path through a file, a
    full disk) becomes an UnwritableFolderError naming its folder."""
    try:
        yield
    except OSError as exc:
        raise UnwritableFolderError(path, exc) from None
