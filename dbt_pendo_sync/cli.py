"""`dbt-pendo`: one click group; every option is defined once, with its env var, and reused."""
from __future__ import annotations

import os
import sys
from typing import Callable

import click
import yaml

from . import __version__
from .errors import EXIT_OK, EXIT_FAILED, DbtPendoError, UsageError, exit_code_for
from .logs import LOG_FORMATS


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


def _split(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part for item in value for part in item.split())


class P:
    """Every option of the CLI, defined once (dbt's names and env vars)."""

    project_dir = click.option("--project-dir", envvar="DBT_PROJECT_DIR", default=".",
                               type=click.Path(file_okay=False), show_default=True,
                               help="The dbt project (the folder of dbt_project.yml).")
    profiles_dir = click.option("--profiles-dir", envvar="DBT_PROFILES_DIR", default=None,
                                type=click.Path(file_okay=False),
                                help="Folder of profiles.yml (default: the project, else ~/.dbt).")
    target = click.option("--target", "-t", envvar="DBT_TARGET", default=None,
                          help="The profile target to read the warehouse with.")
    vars = click.option("--vars", default=None, callback=_parse_vars,
                        help="dbt variables as a YAML mapping, as for dbt.")
    select = click.option("--select", "-s", multiple=True, callback=_split,
                          help="dbt selection syntax (repeat, or quote several).")
    exclude = click.option("--exclude", multiple=True, callback=_split,
                           help="dbt selection syntax for models to leave out.")
    selector = click.option("--selector", default=None, help="A selector from selectors.yml.")
    manifest = click.option("--manifest", default=None, type=click.Path(dir_okay=False, exists=True),
                            help="Use this manifest.json and skip dbt parsing.")
    target_path = click.option("--target-path", envvar="DBT_TARGET_PATH", default=None,
                               help="Where dbt's artifacts and our results live (default: target).")
    state = click.option("--state", default=None, type=click.Path(file_okay=False, exists=True),
                         help="Read manifest.json and run_results.json from this folder (the "
                         "artifacts of the dbt run to sync) and skip dbt parsing.")
    dbt_cloud_run_id = click.option("--dbt-cloud-run-id", envvar="DBT_CLOUD_RUN_ID", default=None,
                                    type=click.IntRange(1), metavar="ID",
                                    help="Sync what this dbt Cloud run built: its artifacts are "
                                    "downloaded (DBT_CLOUD_API_TOKEN, DBT_CLOUD_ACCOUNT_ID, "
                                    "DBT_CLOUD_HOST); the warehouse is read with the local profile.")
    dbt_cloud_job_id = click.option("--dbt-cloud-job-id", envvar="DBT_CLOUD_JOB_ID", default=None,
                                    type=click.IntRange(1), metavar="ID",
                                    help="As --dbt-cloud-run-id, for this job's latest successful run.")
    sync_all = click.option("--all", "sync_all", is_flag=True,
                            help="Also sync models whose last dbt build failed or skipped them "
                            "(run_results.json), from what the warehouse has.")
    dry_run = click.option("--dry-run", is_flag=True,
                           help="Read and build payloads, send nothing, show what would be sent.")
    create_missing = click.option("--create-missing", is_flag=True,
                                  help="Create visitors/accounts Pendo does not know (?create=true) "
                                  "instead of reporting them missing.")
    create_fields = click.option("--create-fields", is_flag=True,
                                 help="Create custom fields Pendo lacks, typed from the warehouse columns.")
    full_resync = click.option("--full-resync", is_flag=True,
                               help="Ignore the sync state: send every row, then rebuild the state.")
    show = click.option("--show", default=5, show_default=True, type=click.IntRange(0, 1000),
                        help="With --dry-run: how many payloads per model to show.")
    state_schema = click.option("--state-schema", envvar="DBT_PENDO_STATE_SCHEMA", default=None,
                                help="Schema of the sync state tables (default: each model's schema).")
    threads = click.option("--threads", envvar="DBT_PENDO_THREADS", default=4, show_default=True,
                           type=click.IntRange(1, 32), help="Concurrent requests to Pendo.")
    max_rps = click.option("--max-rps", envvar="DBT_PENDO_MAX_RPS", default=80.0, show_default=True,
                           type=click.FloatRange(0), help="Requests per second to Pendo (0: no pacing); "
                           "halves on each 429 and recovers.")
    retries = click.option("--retries", envvar="DBT_PENDO_RETRIES", default=8, show_default=True,
                           type=click.IntRange(1, 50), help="Attempts per call (429, 408, 5xx, "
                           "connection errors, timeouts).")
    retry_time = click.option("--retry-time", envvar="DBT_PENDO_RETRY_TIME", default=900.0,
                              show_default=True, type=click.FloatRange(1),
                              help="Seconds one call may spend retrying.")
    connect_timeout = click.option("--connect-timeout", envvar="DBT_PENDO_CONNECT_TIMEOUT",
                                   default=10.0, show_default=True, type=click.FloatRange(0.1),
                                   help="Seconds to connect to Pendo.")
    read_timeout = click.option("--read-timeout", envvar="DBT_PENDO_READ_TIMEOUT", default=330.0,
                                show_default=True, type=click.FloatRange(0.1),
                                help="Seconds to wait for an answer (Pendo cuts calls at 300).")
    fail_on_rejected = click.option("--fail-on-rejected", "fail_pct", default=None,
                                    type=click.FloatRange(0, 100), metavar="PCT",
                                    help="Fail only when more than PCT percent of a model's rows "
                                    "were not delivered (default: any failed, rejected or invalid row).")
    lock_wait = click.option("--lock-wait", envvar="DBT_PENDO_LOCK_WAIT", default=10.0, show_default=True,
                             type=click.FloatRange(0), help="Seconds to wait for another sync of "
                             "the same model to end before giving up on it.")
    lock_stale_after = click.option("--lock-stale-after", envvar="DBT_PENDO_LOCK_STALE_AFTER",
                                    default=60.0, show_default=True, type=click.FloatRange(1),
                                    help="Seconds without heartbeat after which a lock is a dead run's.")
    offline = click.option("--offline", is_flag=True, envvar="DBT_PENDO_OFFLINE",
                           help="Check without calling Pendo (no key or field checks).")
    quiet = click.option("--quiet", "-q", is_flag=True, envvar=["DBT_PENDO_QUIET", "DBT_QUIET"],
                         help="Only errors, the summary and the final line (no per-model lines).")
    debug = click.option("--debug", is_flag=True, envvar=["DBT_PENDO_DEBUG", "DBT_DEBUG"],
                         help="Also every batch and retry; tracebacks of unexpected errors.")
    log_format = click.option("--log-format", envvar=["DBT_PENDO_LOG_FORMAT", "DBT_LOG_FORMAT"],
                              type=click.Choice(LOG_FORMATS, case_sensitive=False), default="default",
                              show_default=True, help="default: progress bars on a terminal, else "
                              "text; text: timestamped lines; json: one JSON object per event on "
                              "stdout; debug: text with every batch and retry.")


def _options(*decorators: Callable) -> Callable:
    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


pendo_options = _options(P.threads, P.max_rps, P.retries, P.retry_time, P.connect_timeout,
                         P.read_timeout)
dbt_options = _options(P.project_dir, P.profiles_dir, P.target, P.vars, P.target_path)
selection_options = _options(P.select, P.exclude, P.selector, P.manifest)
artifact_options = _options(P.state, P.dbt_cloud_run_id, P.dbt_cloud_job_id)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dbt-pendo-sync")
def cli() -> None:
    """Sync dbt models into Pendo Visitor and Account custom metadata."""


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
@P.lock_wait
@P.lock_stale_after
@P.quiet
@P.debug
@P.log_format
def sync(project_dir: str, profiles_dir: str | None, target: str | None, vars: dict | None,
         target_path: str | None, select: tuple[str, ...], exclude: tuple[str, ...],
         selector: str | None, manifest: str | None, dry_run: bool, create_missing: bool,
         create_fields: bool, full_resync: bool, show: int,
         state_schema: str | None, threads: int, max_rps: float, retries: int, retry_time: float,
         connect_timeout: float, read_timeout: float, fail_pct: float | None, lock_wait: float,
         lock_stale_after: float, quiet: bool, debug: bool, state: str | None = None,
         dbt_cloud_run_id: int | None = None, dbt_cloud_job_id: int | None = None,
         sync_all: bool = False, log_format: str = "default") -> None:
    """Push the selected models' rows into Pendo (after `dbt build`)."""
    from .api import sync as run_sync
    from .pendo.client import RetryPolicy

    retry = RetryPolicy(attempts=retries, time_budget=retry_time, connect_timeout=connect_timeout,
                        read_timeout=read_timeout, rate=max_rps)
    results = run_sync(project_dir, profiles_dir=profiles_dir, target=target, vars=vars,
                       select=select, exclude=exclude, selector=selector, manifest=manifest,
                       target_path=target_path, dry_run=dry_run, create_missing=create_missing,
                       create_fields=create_fields,
                       full_resync=full_resync,
                       show=show, state_schema=state_schema, threads=threads, retry=retry,
                       fail_on_rejected=fail_pct, lock_wait=lock_wait,
                       lock_stale_after=lock_stale_after, quiet=quiet, sync_all=sync_all,
                       log_format=log_format.lower(), debug=debug,
                       state=state, dbt_cloud_run_id=dbt_cloud_run_id,
                       dbt_cloud_job_id=dbt_cloud_job_id)
    sys.exit(EXIT_OK if results.ok else EXIT_FAILED)


@cli.command(name="ls")
@dbt_options
@selection_options
@artifact_options
@P.state_schema
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table for people, JSON for machines.")
def ls_command(project_dir: str, profiles_dir: str | None, target: str | None, vars: dict | None,
               target_path: str | None, select: tuple[str, ...], exclude: tuple[str, ...],
               selector: str | None, manifest: str | None, state_schema: str | None,
               output: str, state: str | None = None, dbt_cloud_run_id: int | None = None,
               dbt_cloud_job_id: int | None = None) -> None:
    """List the configured syncs (from the manifest; no warehouse or Pendo call)."""
    import json

    from .api import ls

    rows = ls(project_dir, profiles_dir=profiles_dir, target=target, vars=vars, select=select,
              exclude=exclude, selector=selector, manifest=manifest, target_path=target_path,
              state_schema=state_schema, state=state, dbt_cloud_run_id=dbt_cloud_run_id,
              dbt_cloud_job_id=dbt_cloud_job_id)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table("dbt-pendo syncs", ("model", "object", "id_column", "fields", "relation", "state_table"),
                 [(r["model"], r["object"], r["id_column"],
                   ", ".join(f"{c} -> {f}" for c, f in r["fields"].items()), str(r["relation"]),
                   r["state_table"]) for r in rows])


@cli.command(name="validate")
@dbt_options
@selection_options
@P.offline
@P.create_fields
def validate_command(project_dir: str, profiles_dir: str | None, target: str | None,
                     vars: dict | None, target_path: str | None, select: tuple[str, ...],
                     exclude: tuple[str, ...], selector: str | None, manifest: str | None,
                     offline: bool, create_fields: bool) -> None:
    """Check the selected syncs before running them: pendo blocks, columns in the warehouse,
    and (unless --offline) the key and Pendo's fields. Exit 0 clean, 1 problems."""
    from .api import validate

    checked = validate(project_dir, profiles_dir=profiles_dir, target=target, vars=vars,
                       select=select, exclude=exclude, selector=selector, manifest=manifest,
                       target_path=target_path, offline=offline, create_fields=create_fields)
    if not checked.models:
        click.echo("validate: no selected model has a pendo block: nothing to check")
        return
    problems = checked.problems
    if not problems:
        click.echo(f"validate: no problems found in {len(checked.models)} model(s)"
                   + (" (offline: Pendo not checked)" if offline else ""))
        return
    _print_table(f"dbt-pendo validate: {len(problems)} problem(s)", ("model", "file", "problem", "fix"),
                 [(p.model, p.file, p.problem, p.fix) for p in problems], overflow="fold")
    sys.exit(EXIT_FAILED)


def _print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]],
                 overflow: str = "ellipsis") -> None:
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
@click.option("--owner", "owner", default=None, metavar="NAME",
              help="Owner name of the exposures (default: the models' meta.owner, else their "
              "dbt group's owner, else dbt-pendo-sync).")
@click.option("--owner-email", default=None, metavar="EMAIL", help="Owner email of the exposures.")
@click.option("--write", "write", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Write the YAML to PATH (relative to the project dir), e.g. "
              "models/pendo_exposures.yml, instead of printing it.")
def exposures_command(project_dir: str, profiles_dir: str | None, target: str | None,
                      vars: dict | None, target_path: str | None, select: tuple[str, ...],
                      exclude: tuple[str, ...], selector: str | None, manifest: str | None,
                      owner: str | None, owner_email: str | None, write: str | None) -> None:
    """Generate dbt exposures for the synced models, so Pendo shows downstream of them in dbt
    docs and `dbt ls --select +exposure:pendo_visitor_metadata` (from the manifest; no
    warehouse or Pendo call)."""
    from .api import exposures

    result = exposures(project_dir, profiles_dir=profiles_dir, target=target, vars=vars,
                       select=select, exclude=exclude, selector=selector, manifest=manifest,
                       target_path=target_path, owner=owner, owner_email=owner_email, write=write)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    if result.path is None:
        click.echo(result.text, nl=False)
    elif result.names:
        click.echo(f"Wrote exposures {', '.join(result.names)} to {result.path}; check with: "
                   f"{result.check_command()}")
    else:
        click.echo(f"Wrote an empty exposures list to {result.path}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--data", "data_path", default=None, type=click.Path(dir_okay=False, exists=True),
              help="JSON file of known visitors/accounts and field schema (default: built-in data).")
@click.option("--unknown-fields", type=click.Choice(["reject", "create_text"]), default="reject",
              show_default=True, help="How writes to fields Pendo lacks are answered.")
def emulator(host: str, port: int, data_path: str | None, unknown_fields: str) -> None:
    """Run the local Pendo emulator (key: PENDO_INTEGRATION_KEY)."""
    import os

    from .pendo.emulator import EmulatorData, PendoEmulator

    key = os.environ.get("PENDO_INTEGRATION_KEY", "")
    if not key:
        raise UsageError("set PENDO_INTEGRATION_KEY: the emulator accepts only that key")
    data = EmulatorData.from_file(data_path) if data_path else EmulatorData.default()
    server = PendoEmulator(key, host=host, port=port, data=data, unknown_fields=unknown_fields)
    click.echo(f"Pendo emulator listening on {server.url} (Ctrl-C to stop)", err=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every error to its exit code, without tracebacks."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or any(
        os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("DBT_PENDO_DEBUG", "DBT_DEBUG"))
    try:
        cli.main(args=argv, prog_name="dbt-pendo", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt as exc:
        click.echo("Interrupted.", err=True)
        sys.exit(exit_code_for(exc))
    except DbtPendoError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if debug:
            raise
        click.echo(f"Internal error ({type(exc).__name__}): {exc}. Rerun with --debug for details "
                   "and report it.", err=True)
        sys.exit(exit_code_for(exc))
