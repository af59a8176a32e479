"""What a run reports, as it happens: every report event once (report_events.py), by the
renderer `--log-format` picks.

- `default` on an interactive terminal (rich's `Console.is_interactive`: a TTY whose TERM is
  not dumb; FORCE_COLOR / TTY_COMPATIBLE / TTY_INTERACTIVE are honoured): terminal.py.
- `text`, and `default` anywhere else (CI, pipes, files): text.py.
- `debug`: text.py with the debug lines (every batch, every retry), as `--debug` adds them.
- `json`: json_lines.py.

`--quiet` keeps only error-level report events, the summary table and the final line
(`run_finished` in JSON). Undelivered rows go to the rejected file, never to the log.
"""

from __future__ import annotations

from rich.console import Console

from ..errors import UsageError
from ..logs import DEBUG, ERROR, INFO, LEVELS, LOG_FORMATS
from ..vocab import OutputMode
from .base import Report
from .json_lines import JsonReport
from .terminal import TerminalReport
from .text import TextReport

RENDERERS: dict[OutputMode, type[Report]] = {
    OutputMode.RICH: TerminalReport,
    OutputMode.TEXT: TextReport,
    OutputMode.JSON: JsonReport,
}


def output_mode(log_format: str, console: Console) -> OutputMode:
    """rich, text or json, from --log-format and the console."""
    if log_format not in LOG_FORMATS:
        raise UsageError(f"--log-format {log_format}: use one of {', '.join(LOG_FORMATS)}")
    if log_format == "json":
        return OutputMode.JSON
    if log_format == "default" and console.is_interactive:
        return OutputMode.RICH
    return OutputMode.TEXT


def make_report(
    console: Console | None = None,
    log_format: str = "default",
    quiet: bool = False,
    debug: bool = False,
    invocation_id: str | None = None,
) -> Report:
    """The renderer for `log_format` on `console` (stdout by default)."""
    console = console or _stdout()
    mode = output_mode(log_format, console)
    if quiet:
        threshold = LEVELS[ERROR]
    elif mode == OutputMode.JSON or debug or log_format == "debug":
        threshold = LEVELS[DEBUG]
    else:
        threshold = LEVELS[INFO]
    return RENDERERS[mode](console, threshold, quiet=quiet, invocation_id=invocation_id)


def _stdout() -> Console:
    """stdout; wide enough for the summary table when it is not a terminal (CI logs)."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


__all__ = ["Report", "make_report", "output_mode"]
