"""`dbt-pendo emulator --dump FILE`: when the emulator stops, everything it received, as JSON.

While it runs, `GET /_emulator/values/{visitor|account}[?group=agent]`, `GET /_emulator/segments`
and `GET /_emulator/stats` show the same live; the track events' bodies are in the dump only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .data import GROUPS, ID_FIELDS
from .server import PendoEmulator


def received(emulator: PendoEmulator) -> dict[str, Any]:
    """The values held per kind and group ({kind: {group: {id: {field: value}}}}), the
    segments with their members, the accepted track events in arrival order (kept only when
    the emulator keeps bodies) and the stats."""
    return {
        "values": {kind: {group: emulator.all_values(kind, group) for group in GROUPS} for kind in ID_FIELDS},
        "segments": emulator.segments(),
        "track_events": emulator.tracked_events(),
        "stats": emulator.stats(),
    }


def check_writable(dump: str) -> None:
    """A UsageError, before the emulator starts, when `dump`'s folder cannot take the file."""
    folder = Path(dump).resolve().parent
    if not (folder.is_dir() and os.access(folder, os.W_OK)):
        raise UsageError(f"--dump {dump}: cannot write it (no folder {folder} this user may write)")


def serve(emulator: PendoEmulator, dump: str | None, say: Callable[[str], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then write what the emulator received to `dump`, when
    given (a UsageError when it cannot be written)."""
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from whoever started it: a clean stop
        say("Pendo emulator stopped")
    if dump is None:
        return
    text = json.dumps(received(emulator), indent=2, default=str) + "\n"
    try:
        Path(dump).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--dump {dump}: cannot write it ({exc.strerror or exc})") from None
    say(f"wrote what the emulator received to {dump}")
