"""What the process the emulator runs in has used so far: CPU time and peak memory, for a
benchmark to set the emulator's cost beside the client's."""

from __future__ import annotations

import sys
import time

if sys.platform != "win32":
    import resource


def cpu_seconds() -> float:
    """CPU seconds (user and system) this process has used, all its threads together."""
    return round(time.process_time(), 3)


def peak_rss_mb() -> float | None:
    """The most memory this process has held resident, in MB (None on Windows)."""
    if sys.platform == "win32":
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    unit = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return round(peak / unit, 1)
