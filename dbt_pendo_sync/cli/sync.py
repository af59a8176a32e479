"""`dbt-pendo sync`: its own options (what to send, how to talk to Pendo, when to stop, what
to print), and the command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..logs import LOG_FORMATS
from ..pendo.policy import RetryPolicy
from ..settings import OutputOptions, SyncOptions
from .params import (
    DEBUG_ENVVARS,
    SharedOptions,
    artifact_options,
    dbt_options,
    option,
    options,
    selection_options,
)


def _tuning(flag: str, default: Any, kind: click.ParamType, text: str) -> Callable:
    """An option that tunes the run: DBT_PENDO_<FLAG> as its env var, default shown, type checked."""
    envvar = "DBT_PENDO_" + flag.removeprefix("--").upper().replace("-", "_")
    return option(flag, envvar=envvar, default=default, show_default=True, type=kind, help=text)


sync_all = option(
    "--all",
    "sync_all",
    is_flag=True,
    help="Also sync models whose last dbt build failed or skipped them "
    "(run_results.json), from what the warehouse has.",
)
dry_run = option(
    "--dry-run", is_flag=True, help="Read and build payloads, send nothing, show what would be sent."
)
create_missing = option(
    "--create-missing",
    is_flag=True,
    help="Create visitors/accounts Pendo does not know (?create=true) instead of reporting them missing.",
)
create_fields = option(
    "--create-fields",
    is_flag=True,
    help="Create custom fields Pendo lacks, typed from the warehouse columns.",
)
full_resync = option(
    "--full-resync", is_flag=True, help="Ignore the sync state: send every row, then rebuild the state."
)
adopt = option(
    "--adopt",
    is_flag=True,
    help="Read Pendo's values of the models' fields first: new records it holds equal "
    "already are recorded as synced, not sent (moving from another tool, or a lost state).",
)
show = option(
    "--show",
    default=SyncOptions.show,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="With --dry-run: how many payloads per model to show.",
)
threads = _tuning(
    "--threads",
    SyncOptions.threads,
    click.IntRange(1, 64),
    "The most concurrent requests to Pendo; how many go at once is found from its answers.",
)
max_rps = _tuning(
    "--max-rps",
    RetryPolicy.rate,
    click.FloatRange(0),
    "A ceiling of requests per second to Pendo (0: none, the in-flight window adapts to "
    "Pendo's answers); a 429 paces calls below it, at what Pendo accepted.",
)
retries = _tuning(
    "--retries",
    RetryPolicy.attempts,
    click.IntRange(1, 50),
    "Attempts per call (429, 408, 5xx, connection errors, timeouts).",
)
retry_time = _tuning(
    "--retry-time", RetryPolicy.time_budget, click.FloatRange(1), "Seconds one call may spend retrying."
)
connect_timeout = _tuning(
    "--connect-timeout",
    RetryPolicy.timeout[0],
    click.FloatRange(0.1),
    "Seconds to connect to Pendo.",
)
read_timeout = _tuning(
    "--read-timeout",
    RetryPolicy.timeout[1],
    click.FloatRange(0.1),
    "Seconds to wait for an answer (Pendo cuts calls at 300).",
)
pendo_options = options(threads, max_rps, retries, retry_time, connect_timeout, read_timeout)
fail_on_rejected = option(
    "--fail-on-rejected",
    "fail_pct",
    default=None,
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Fail only when more than PCT percent of a model's rows "
    "were not delivered (default: any failed, rejected or invalid row).",
)
max_removals = option(
    "--max-removals",
    default=SyncOptions.max_removals,
    show_default=True,
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Stop a model whose run would clear (on_remove: clear) or remove from its segment "
    "(object: segment) more than PCT percent of its synced records: a broken upstream model "
    "must not wipe Pendo.",
)
allow_removals = option(
    "--allow-removals",
    is_flag=True,
    help="Let this run clear records or remove segment members beyond --max-removals.",
)
lock_wait = _tuning(
    "--lock-wait",
    SyncOptions.lock_wait,
    click.FloatRange(0),
    "Seconds to wait for another sync of the same model to end before giving up on it.",
)
lock_stale_after = _tuning(
    "--lock-stale-after",
    SyncOptions.lock_stale_after,
    click.FloatRange(1),
    "Seconds without heartbeat after which a lock is a dead run's.",
)
quiet = option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar=["DBT_PENDO_QUIET", "DBT_QUIET"],
    help="Only errors, the summary and the final line (no per-model lines).",
)
debug = option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENVVARS,
    help="Also every batch and retry; tracebacks of unexpected errors.",
)
log_format = option(
    "--log-format",
    envvar=["DBT_PENDO_LOG_FORMAT", "DBT_LOG_FORMAT"],
    type=click.Choice(LOG_FORMATS, case_sensitive=False),
    default=OutputOptions.log_format,
    show_default=True,
    help="default: progress bars on a terminal, else "
    "text; text: timestamped lines; json: one JSON object per report event on "
    "stdout; debug: text with every batch and retry.",
)


@click.command(name="sync")
@dbt_options
@selection_options
@artifact_options
@sync_all
@dry_run
@create_missing
@create_fields
@full_resync
@adopt
@show
@SharedOptions.state_schema
@pendo_options
@fail_on_rejected
@max_removals
@allow_removals
@lock_wait
@lock_stale_after
@quiet
@debug
@log_format
def sync_command(**params: Any) -> None:
    """Push the selected models' rows into Pendo (after `dbt build`)."""
    from ..api import sync as run_sync

    if (
        not params["dry_run"]
        and click.get_current_context().get_parameter_source("show") != ParameterSource.DEFAULT
    ):
        raise UsageError(
            "--show applies only with --dry-run (payloads are shown, not sent); "
            "add --dry-run, or leave --show out"
        )
    params["retry"] = RetryPolicy(
        attempts=params.pop("retries"),
        time_budget=params.pop("retry_time"),
        timeout=(params.pop("connect_timeout"), params.pop("read_timeout")),
        rate=params.pop("max_rps"),
    )
    params["fail_on_rejected"] = params.pop("fail_pct")
    if params["adopt"] and params["full_resync"]:
        raise UsageError("--adopt and --full-resync: a full resync sends every row; pass one of them")
    params["log_format"] = params["log_format"].lower()
    results = run_sync(**params)
    sys.exit(EXIT_OK if results.ok else EXIT_FAILED)
