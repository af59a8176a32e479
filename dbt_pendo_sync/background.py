"""A read started ahead of when its answer is needed, in a thread of its own (e.g. Pendo's
field schema, read while the warehouse starts up)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def in_background(read: Callable[[], T], name: str) -> Future[T]:
    """`read()` started now in a daemon thread (one that never holds the process at its exit:
    a run that stops before it needs the answer does not wait for it); its answer, or the
    error it raised, comes out of the future's result() where it is needed."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(read())
        except BaseException as exc:  # raised again in the thread that asks for the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
