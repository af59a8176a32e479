"""`dbt-pendo`: one click group; every option is defined once, with its env var, and reused."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Literal

import click
import yaml
from click.core import ParameterSource

from . import __version__
from .errors import EXIT_FAILED, EXIT_OK, DbtPendoError, Terminated, UsageError, exit_code_for
from .logs import LOG_FORMATS
from .manyvalues import ManyValues
from .pendo.policy import RetryPolicy
from .settings import OutputOptions, SyncOptions
from .sqlnames import schema_name_problem


def _parse_vars(ctx: click.Context, param: click.Parameter, value: str | None) -> dict | None:
    if not value:
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        raise click.BadParameter("expected a YAML mapping, e.g. --vars '{key: value}'")
    return parsed


def _schema_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    why = schema_name_problem(value) if value else None
    if why:
        raise click.BadParameter(why)
    return value


def _split(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part for item in value for part in item.split())


class _Option(click.Option):
    """An option that shows its environment variables in --help, and names the variable
    (not only the flag) when a bad value came from one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", bool(kwargs.get("envvar")))
        super().__init__(*args, **kwargs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)
        if (
            ctx is not None
            and self.name
            and ctx.get_parameter_source(self.name) == ParameterSource.ENVIRONMENT
        ):
            names = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or ())
            used = next((n for n in names if os.environ.get(n)), None)
            if used:
                return f"environment variable {used} (read for {self.opts[0]})"
        return hint


def option(*decls: str, **kwargs: Any) -> Callable:
    """click.option with our option class."""
    return click.option(*decls, cls=_Option, **kwargs)


def _tuning(flag: str, default: Any, kind: click.ParamType, text: str) -> Callable:
    """An option that tunes the run: DBT_PENDO_<FLAG> as its env var, default shown, type checked."""
    envvar = "DBT_PENDO_" + flag.removeprefix("--").upper().replace("-", "_")
    return option(flag, envvar=envvar, default=default, show_default=True, type=kind, help=text)


def _cloud_id(flag: str, text: str) -> Callable:
    """A dbt Cloud id option; its env var is the flag in capitals (DBT_CLOUD_RUN_ID)."""
    envvar = flag.removeprefix("--").upper().replace("-", "_")
    return option(flag, envvar=envvar, default=None, type=click.IntRange(1), metavar="ID", help=text)


class P:
    """Every option of the CLI, defined once (dbt's names and env vars)."""

    project_dir = option(
        "--project-dir",
        envvar="DBT_PROJECT_DIR",
        default=".",
        type=click.Path(file_okay=False),
        show_default=True,
        help="The dbt project (the folder of dbt_project.yml).",
    )
    profiles_dir = option(
        "--profiles-dir",
        envvar="DBT_PROFILES_DIR",
        default=None,
        type=click.Path(file_okay=False),
        help="Folder of profiles.yml (default: the project, else ~/.dbt).",
    )
    target = option(
        "--target",
        "-t",
        envvar="DBT_TARGET",
        default=None,
        help="The profile target to read the warehouse with.",
    )
    vars = option(
        "--vars", default=None, callback=_parse_vars, help="dbt variables as a YAML mapping, as for dbt."
    )
    select = click.option(
        "--select",
        "-s",
        cls=ManyValues,
        callback=_split,
        help="dbt selection syntax; several after one flag, as for dbt (-s a b), or repeat it.",
    )
    exclude = click.option(
        "--exclude",
        cls=ManyValues,
        callback=_split,
        help="dbt selection syntax for models to leave out (several, as for --select).",
    )
    selector = option("--selector", default=None, help="A selector from selectors.yml.")
    manifest = option(
        "--manifest",
        default=None,
        type=click.Path(dir_okay=False, exists=True),
        help="Use this manifest.json and skip dbt parsing.",
    )
    target_path = option(
        "--target-path",
        envvar="DBT_TARGET_PATH",
        default=None,
        help="Where dbt's artifacts and our results live (default: target).",
    )
    state = option(
        "--state",
        default=None,
        type=click.Path(file_okay=False, exists=True),
        help="Read manifest.json and run_results.json from this folder (the "
        "artifacts of the dbt run to sync) and skip dbt parsing.",
    )
    dbt_cloud_run_id = _cloud_id(
        "--dbt-cloud-run-id",
        "Sync what this dbt Cloud run built: its artifacts are downloaded (DBT_CLOUD_API_TOKEN, "
        "DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_HOST); the warehouse is read with the local profile.",
    )
    dbt_cloud_job_id = _cloud_id(
        "--dbt-cloud-job-id", "As --dbt-cloud-run-id, for this job's latest successful run."
    )
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
    show = option(
        "--show",
        default=SyncOptions.show,
        show_default=True,
        type=click.IntRange(0, 1000),
        help="With --dry-run: how many payloads per model to show.",
    )
    state_schema = option(
        "--state-schema",
        envvar="DBT_PENDO_STATE_SCHEMA",
        default=None,
        callback=_schema_name,
        help="Schema of the sync state tables (default: each model's schema); letters, "
        "digits, _ and $, not starting with a digit.",
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
    create_fields_check = option(
        "--create-fields",
        "create_fields",
        is_flag=True,
        help="Treat fields Pendo lacks as ones a sync with --create-fields "
        "would create, so they are not problems (validate itself writes nothing).",
    )
    offline = option(
        "--offline",
        is_flag=True,
        envvar="DBT_PENDO_OFFLINE",
        help="Check without calling Pendo (no key or field checks).",
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
        envvar=["DBT_PENDO_DEBUG", "DBT_DEBUG"],
        help="Also every batch and retry; tracebacks of unexpected errors.",
    )
    log_format = option(
        "--log-format",
        envvar=["DBT_PENDO_LOG_FORMAT", "DBT_LOG_FORMAT"],
        type=click.Choice(LOG_FORMATS, case_sensitive=False),
        default=OutputOptions.log_format,
        show_default=True,
        help="default: progress bars on a terminal, else "
        "text; text: timestamped lines; json: one JSON object per event on "
        "stdout; debug: text with every batch and retry.",
    )


def _options(*decorators: Callable) -> Callable:
    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


pendo_options = _options(P.threads, P.max_rps, P.retries, P.retry_time, P.connect_timeout, P.read_timeout)
dbt_options = _options(P.project_dir, P.profiles_dir, P.target, P.vars, P.target_path)
selection_options = _options(P.select, P.exclude, P.selector, P.manifest)
artifact_options = _options(P.state, P.dbt_cloud_run_id, P.dbt_cloud_job_id)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dbt-pendo-sync")
def cli() -> None:
    """Sync dbt models into Pendo: Visitor and Account metadata, Track Events and segments."""


@cli.command()
@dbt_options
@selection_options
@artifact_options
@P.sync_all
@P.dry_run
@P.create_missing
@P.create_fields
@P.full_resync
@P.show
@P.state_schema
@pendo_options
@P.fail_on_rejected
@P.max_removals
@P.allow_removals
@P.lock_wait
@P.lock_stale_after
@P.quiet
@P.debug
@P.log_format
def sync(**params: Any) -> None:
    """Push the selected models' rows into Pendo (after `dbt build`)."""
    from .api import sync as run_sync

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
    params["log_format"] = params["log_format"].lower()
    results = run_sync(**params)
    sys.exit(EXIT_OK if results.ok else EXIT_FAILED)


@cli.command(name="ls")
@dbt_options
@selection_options
@artifact_options
@P.state_schema
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, JSON for machines.",
)
def ls_command(output: str, **params: Any) -> None:
    """List the configured syncs (from the manifest; no warehouse or Pendo call)."""
    import json

    from .api import ls

    rows = ls(**params)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table(
        "dbt-pendo syncs",
        ("model", "object", "id_column", "fields", "relation", "state_table"),
        [
            (
                r["model"],
                r["object"],
                r["id_column"],
                ", ".join(f"{c} -> {f}" for c, f in r["fields"].items()),
                str(r["relation"]),
                r["state_table"],
            )
            for r in rows
        ],
    )


@cli.command(name="validate")
@dbt_options
@selection_options
@P.state_schema
@P.offline
@P.create_fields_check
def validate_command(**params: Any) -> None:
    """Check the selected syncs before running them: pendo blocks, columns in the warehouse,
    and (unless --offline) the key and Pendo's fields. Exit 0 clean, 1 problems."""
    from .api import validate

    checked = validate(**params)
    for warning in checked.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if not checked.models:
        click.echo("validate: no selected model has a pendo block: nothing to check")
        return
    problems = checked.problems
    if not problems:
        click.echo(
            f"validate: no problems found in {len(checked.models)} model(s)"
            + (" (offline: Pendo not checked)" if params["offline"] else "")
        )
        return
    _print_table(
        f"dbt-pendo validate: {len(problems)} problem(s)",
        ("model", "file", "problem", "fix"),
        [(p.model, p.file, p.problem, p.fix) for p in problems],
        overflow="fold",
    )
    sys.exit(EXIT_FAILED)


def _print_table(
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    overflow: Literal["fold", "crop", "ellipsis", "ignore"] = "ellipsis",
) -> None:
    """A table on stdout, 200 columns wide when stdout is not a terminal (CI logs)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow=overflow)
    for row in rows:
        table.add_row(*row)
    Console(highlight=False, width=None if Console().is_terminal else 200).print(table)


@cli.command(name="exposures")
@dbt_options
@selection_options
@click.option(
    "--owner",
    "owner",
    default=None,
    metavar="NAME",
    help="Owner name of the exposures (default: the models' meta.owner, else their "
    "dbt group's owner, else dbt-pendo-sync).",
)
@click.option("--owner-email", default=None, metavar="EMAIL", help="Owner email of the exposures.")
@click.option(
    "--write",
    "write",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Write the YAML to PATH (relative to the project dir), e.g. "
    "models/pendo_exposures.yml, instead of printing it.",
)
def exposures_command(**params: Any) -> None:
    """Generate dbt exposures for the synced models, so Pendo shows downstream of them in dbt
    docs and `dbt ls --select +exposure:pendo_visitor_metadata` (from the manifest; no
    warehouse or Pendo call)."""
    from .api import exposures

    result = exposures(**params)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    if result.path is None:
        click.echo(result.text, nl=False)
    elif result.names:
        click.echo(
            f"Wrote exposures {', '.join(result.names)} to {result.path}; check with: "
            f"{result.check_command()}"
        )
    else:
        click.echo(f"Wrote an empty exposures list to {result.path}")


def _latency(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, int]:
    from .emulator.latency import parse_latency

    try:
        return parse_latency(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command(short_help="Run a local HTTP server that answers like Pendo's API.")
@option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: loopback only (127.0.0.1, localhost, ::1) unless --allow-non-loopback.",
)
@option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the URL is printed on stderr).",
)
@option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="JSON file of known visitor/account ids, field schema and preset "
    "values (format below; default: the built-in demo data, emulator_data.json).",
)
@option(
    "--accept-any-id",
    is_flag=True,
    help="Know every visitor and account id, so no row is reported missing (with --data: "
    "replaces its visitors/accounts, keeps its schema and values).",
)
@option(
    "--unknown-fields",
    type=click.Choice(["reject", "create_text"]),
    default="reject",
    show_default=True,
    help="Writes naming a custom field the schema lacks: reject answers "
    '400 "missing field mappings"; create_text creates it as a string field.',
)
@option(
    "--track-answer",
    type=click.Choice(["empty", "json"]),
    default="empty",
    show_default=True,
    help="The body of 200 for an accepted track event (POST /data/track): empty, or "
    '{"status": "ok"} (Pendo does not document which).',
)
@option(
    "--latency-ms",
    default="0",
    show_default=True,
    callback=_latency,
    metavar="N|KIND=N,...",
    help="Delay every answer by N milliseconds, as the network to Pendo would; concurrent "
    "requests wait side by side. Per kind of call: bulk=250,track=50,segment=100,get=5 (kinds "
    "bulk, track, segment, get, other; those not named 0, or N with a plain N among them).",
)
@option(
    "--latency-per-record-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="MS",
    help="Delay each answer by MS more per record the call carries (bulk write records, "
    "segment visitors, the event of a track call), as Pendo takes longer for bigger batches.",
)
@option(
    "--rate-limit",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Answer 429 with Retry-After to calls beyond N per second (any one-second window), "
    "as Pendo's rate limit would (reported near 100); at once, without --latency-ms. "
    "0: no cap.",
)
@option(
    "--keep-bodies",
    is_flag=True,
    help="Keep every request (body included) and track event in memory, as the Python class "
    "does; by default only counters are kept, so memory stays flat in long benchmarks "
    "(values written are kept either way).",
)
@option(
    "--dump",
    "dump_path",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="When the emulator stops (Ctrl-C, SIGTERM), write what it received to FILE as JSON: "
    "values per kind and group, segments and their members, the accepted track events (their "
    "bodies are kept while it runs, as with --keep-bodies), and the stats.",
)
@option(
    "--allow-non-loopback",
    is_flag=True,
    help="Allow a --host that is not loopback. The emulator accepts writes from anyone "
    "holding the key, over plain http: expose it only on trusted networks.",
)
@option(
    "--debug",
    is_flag=True,
    envvar=["DBT_PENDO_DEBUG", "DBT_DEBUG"],
    help="Print one line per request on stderr (method, path, status, time; never the "
    "key or other header values); tracebacks of unexpected errors.",
)
def emulator(
    host: str,
    port: int,
    data_path: str | None,
    accept_any_id: bool,
    unknown_fields: str,
    track_answer: str,
    latency_ms: dict[str, int],
    latency_per_record_ms: float,
    rate_limit: int,
    keep_bodies: bool,
    dump_path: str | None,
    allow_non_loopback: bool,
    debug: bool,
) -> None:
    """Run the local Pendo emulator, a real HTTP server that answers like Pendo's API, to try a
    sync without touching Pendo: give the sync the printed URL as PENDO_BASE_URL. It accepts only
    the key in its own PENDO_INTEGRATION_KEY (any value; give the sync the same). Writes to ids it
    does not know come back as missing, as in Pendo, unless --accept-any-id. Track events (POST
    /data/track) take the secret in its own PENDO_TRACK_SECRET instead; unset, they get 403.

    \b
    --data FILE is JSON, every key optional (README, "The local Pendo emulator"):
      {"visitors": ["u-0001", "u-0002"],    (known ids, or "all")
       "accounts": "all",
       "schema": {"visitor": {"custom": {"plan": {"Type": "string"}}}},
       "values": {"visitor": {"u-0001": {"plan": "pro"}}}}
    Schema kinds: visitor, account, parentAccount; Types: string, integer,
    float, boolean, time. Ids with preset values count as known.
    """
    import errno
    import socket

    from .emulator import ALL, EmulatorData, PendoEmulator
    from .emulator.dump import check_writable, serve
    from .safety import is_loopback

    key = os.environ.get("PENDO_INTEGRATION_KEY", "")
    track_secret = os.environ.get("PENDO_TRACK_SECRET") or None
    if not key:
        raise UsageError("set PENDO_INTEGRATION_KEY: the emulator accepts only that key")
    if not (allow_non_loopback or is_loopback(host)):
        raise UsageError(
            f"--host {host} is not a loopback address, and the emulator accepts writes from anyone "
            "holding the key, over plain http: use 127.0.0.1, localhost or ::1, or add "
            "--allow-non-loopback to expose it on a trusted network"
        )
    if data_path is None:
        data = EmulatorData.default()
    else:
        try:
            data = EmulatorData.from_file(data_path)
        except OSError as exc:
            raise UsageError(f"--data {data_path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:  # the message starts with the path
            raise UsageError(
                f'--data {exc}. Expected JSON like {{"visitors": [ids] or "all", "accounts": '
                '[ids] or "all", "schema": {kind: {group: {field: {"Type": type}}}}, '
                '"values": {kind: {id: {field: value}}}}, every key optional; see '
                "'dbt-pendo emulator --help' and the README section \"The local Pendo emulator\""
            ) from None
    if accept_any_id:
        data.visitors = data.accounts = ALL
    if dump_path is not None:
        check_writable(dump_path)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server = PendoEmulator(
            key,
            host=host,
            port=port,
            data=data,
            track_secret=track_secret,
            latency_ms=latency_ms,
            latency_per_record_ms=latency_per_record_ms,
            rate_limit=rate_limit,
            keep_bodies=keep_bodies or dump_path is not None,
            unknown_fields=unknown_fields,
            track_answer=track_answer,
            request_log=sys.stderr if debug else None,
        )
    except socket.gaierror as exc:
        raise UsageError(
            f"--host {host}: cannot listen there ({exc.strerror}); use an address of "
            "this machine such as 127.0.0.1"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            hint = (
                "the port is already in use (another emulator still running?): pick another "
                "--port, or --port 0 for a free one"
            )
        elif exc.errno == errno.EACCES:
            hint = f"{reason}: pick a port above 1023 with --port, or --port 0 for a free one"
        elif exc.errno == errno.EADDRNOTAVAIL:
            hint = f"{reason}: --host must be an address of this machine, such as 127.0.0.1"
        else:
            hint = reason
        raise UsageError(f"cannot listen on {address}: {hint}") from None
    click.echo(f"Pendo emulator listening on {server.url} (Ctrl-C to stop)", err=True)
    serve(server, dump_path, lambda line: click.echo(line, err=True))


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (as CI cancels send) stops the run as Ctrl-C does: results and state kept."""
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every error to its exit code, without tracebacks."""
    # Our output is ours alone: with a handler on the root logger, a library's
    # `logging.basicConfig()` (snowplow_tracker's, at import) installs none that prints.
    logging.getLogger().addHandler(logging.NullHandler())
    signal.signal(signal.SIGTERM, _terminate)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or any(
        os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("DBT_PENDO_DEBUG", "DBT_DEBUG")
    )
    try:
        cli.main(args=argv, prog_name="dbt-pendo", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click wraps Ctrl-C in Abort
        stop = exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else exc
        click.echo("Terminated." if isinstance(stop, Terminated) else "Interrupted.", err=True)
        sys.exit(exit_code_for(stop if isinstance(stop, KeyboardInterrupt) else KeyboardInterrupt()))
    except DbtPendoError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if debug:
            raise
        click.echo(
            f"Internal error ({type(exc).__name__}): {exc}. Rerun with --debug for details and report it.",
            err=True,
        )
        sys.exit(exit_code_for(exc))
