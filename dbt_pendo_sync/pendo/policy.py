"""How hard a client tries and how fast it goes: a plain record, cheap to import (the CLI
reads its defaults before anything talks to Pendo)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try and how fast to go: attempts, backoff, time budget, timeouts, rate."""

    attempts: int = 8
    backoff: float = 0.5  # seconds before the 2nd attempt, doubling up to client.BACKOFF_MAX
    time_budget: float = 900.0
    timeout: tuple[float, float] = (10.0, 330.0)  # connect, read: longer than Pendo's 5-minute cut-off
    rate: float = 0.0  # a ceiling of requests per second (0: none; the in-flight window adapts)
