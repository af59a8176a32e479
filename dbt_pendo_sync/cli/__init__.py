"""`dbt-pendo`: one click group, a module per command; the options several commands take are
defined once, with their env vars, in params.py."""

from __future__ import annotations

import logging
import os
import signal
import sys

import click

from .. import __version__
from ..errors import DbtPendoError, Terminated, exit_code_for
from .audit import audit_command
from .emulator import emulator_command
from .exposures import exposures_command
from .ls import ls_command
from .params import DEBUG_ENVVARS
from .sync import sync_command
from .validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dbt-pendo-sync")
def cli() -> None:
    """Sync dbt models into Pendo: Visitor and Account metadata, Track Events and segments."""


for _command in (
    sync_command,
    ls_command,
    validate_command,
    audit_command,
    exposures_command,
    emulator_command,
):
    cli.add_command(_command)


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
        os.environ.get(name, "").lower() in ("1", "true", "yes") for name in DEBUG_ENVVARS
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
