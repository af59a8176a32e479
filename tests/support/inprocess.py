"""`dbt-pendo` run inside the test process: the CLI's whole path (argument parsing, the run,
error mapping, exit codes, stdout and stderr) without paying 3-4 s of Python and dbt start-up
per command. Tests whose point is the process itself (signals, two processes at once, what
prints at import time) start the real executable instead."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TypeVar

# Imported for inspect's sake (see on_a_thread_of_its_own): under pytest-xdist the worker's
# loop, xdist/remote.py run by execnet as source, is on every stack of the main thread (where
# `dbt-pendo` runs); imported, its file is a module's, and inspect finds it without a scan.
import xdist.remote  # noqa: F401

T = TypeVar("T")


def on_a_thread_of_its_own(call: Callable[[], T]) -> T:
    """`call()`, run on a new thread while this one waits. dbt names the source of each
    behaviour flag of an adapter it makes by `inspect.stack()` (dbt_common.behavior_flags),
    which looks up the module of every frame on the stack; a frame of no module, as
    execnet's bootstrap under each pytest-xdist worker, costs a scan of sys.modules (thousands
    of modules once the adapters are imported): up to 2 s per adapter late in a worker. A new
    thread's stack holds only the call's own frames. (`dbt-pendo` itself cannot move: its
    main() sets a signal handler, which only the main thread may.)"""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


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
            result = on_a_thread_of_its_own(lambda: dbtRunner().invoke(args))
        finally:
            for adapter in list(FACTORY.adapters.values()):
                release_adapter(adapter)
    code = 0 if result.success else 2 if result.exception is not None else 1
    if result.exception is not None:
        err.write(f"{type(result.exception).__name__}: {result.exception}\n")
    return code, out.getvalue(), err.getvalue()
