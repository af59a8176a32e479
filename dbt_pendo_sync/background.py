"""Reads started ahead of when their answers are needed, in a thread of their own (e.g.
Pendo's field schemas, read while the warehouse starts up)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def in_background(reads: Sequence[Callable[[], T]], name: str) -> list[Future[T]]:
    """Each of `reads` run now, one after the other, in a daemon thread (one that never holds
    the process at its exit: a run that stops before it needs the answers does not wait for
    them); each answer, or the error raised, comes out of its future's result() where it is
    needed. Once a read fails, the later ones are not made: they fail with the same error (as
    when the reads were made in turn by the run, which stopped at the first failure)."""
    futures: list[Future[T]] = [Future() for _ in reads]

    def run() -> None:
        failed: BaseException | None = None
        for read, future in zip(reads, futures, strict=True):
            if not future.set_running_or_notify_cancel():
                continue
            if failed is not None:
                future.set_exception(failed)
                continue
            try:
                future.set_result(read())
            except BaseException as exc:  # raised again in the thread that asks for the result
                failed = exc
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return futures
