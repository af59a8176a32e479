"""`dbt-pendo` run inside the test process: the CLI's whole path (argument parsing, the run,
error mapping, exit codes, stdout and stderr) without paying 3-4 s of Python and dbt start-up
per command. Tests whose point is the process itself (signals, two processes at once, what
prints at import time) start the real executable instead."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path


@contextmanager
def environment(env: Mapping[str, str], cwd: Path | None = None) -> Iterator[None]:
    """os.environ is exactly `env` inside the block (dbt renders env_var() against it), and
    the working directory `cwd` (when given: a relative warehouse path is relative to it)."""
    saved, saved_cwd = os.environ.copy(), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved)


def run_cli(argv: list[str], env: Mapping[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    """`dbt-pendo ARGV` with `env`, run from `cwd`: exit code, stdout, stderr."""
    from dbt_pendo_sync.cli import main

    out, err = io.StringIO(), io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own handler
    try:
        with environment(env, cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    return code, out.getvalue(), err.getvalue()


def run_dbt(args: list[str], env: Mapping[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    """`dbt ARGS` through dbtRunner with `env`, run from `cwd`: exit code (as dbt's: 0, 1 failed, 2 error),
    stdout, stderr. Its adapters' connections are closed after, so other processes can open
    the warehouse (DuckDB allows one per file)."""
    from dbt.adapters.factory import FACTORY
    from dbt.cli.main import dbtRunner

    from dbt_pendo_sync.dbt.compat import release_adapter

    out, err = io.StringIO(), io.StringIO()
    with environment(env, cwd), redirect_stdout(out), redirect_stderr(err):
        try:
            result = dbtRunner().invoke(args)
        finally:
            for adapter in list(FACTORY.adapters.values()):
                release_adapter(adapter)
    code = 0 if result.success else 2 if result.exception is not None else 1
    if result.exception is not None:
        err.write(f"{type(result.exception).__name__}: {result.exception}\n")
    return code, out.getvalue(), err.getvalue()
