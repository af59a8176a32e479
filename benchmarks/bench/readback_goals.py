"""The Goals rows of the read-back steps (issue 25, readback.py): the audit's peak RSS at the
largest size and its growth from --rows to --big, the adopt's write calls when 1% differs,
and the audit's time against reading Pendo alone (info)."""

from __future__ import annotations

from typing import Any

from .config import BIG_RSS_GROWTH, RSS_MAX_MB, Settings
from .goals import GROWTH_GOAL, RSS_GOAL, Steps, failed, not_run, row
from .step import Step, usable

SMALL, BIG = "rb", "rb_big"  # readback_steps' keys at --rows and at --big


def readback_goals(steps: Steps, s: Settings) -> list[dict[str, Any]]:
    key = BIG if s.big else SMALL
    rows = s.big or s.rows
    return [
        _audit_peak(steps.get(f"{key}_audit"), rows),
        _audit_growth(steps.get(f"{SMALL}_audit"), steps.get(f"{BIG}_audit"), s),
        _adopt_calls(steps.get(f"{key}_adopt"), rows),
        _audit_vs_read(steps.get(f"{key}_audit"), steps.get(f"{key}_read"), rows),
    ]


def _audit_peak(audit: Step | None, rows: int) -> dict[str, Any]:
    label = f"audit peak RSS at {rows:,} rows"
    if audit is None or audit.rss_mb is None:
        return failed("7a", label, RSS_GOAL, "not measured")
    peak = audit.rss_mb
    passed = peak <= RSS_MAX_MB and usable(audit)
    return row(
        "7a", label, f"{peak:.0f} MB", f"{RSS_MAX_MB:.0f} MB", RSS_GOAL, peak / RSS_MAX_MB, passed, peak
    )


def _audit_growth(small: Step | None, big: Step | None, s: Settings) -> dict[str, Any]:
    label = "audit peak RSS at --big rows vs at --rows"
    if not s.big:
        return not_run("7b", label, GROWTH_GOAL, "--big")
    label = f"audit peak RSS at {s.big:,} rows vs at {s.rows:,}"
    if small is None or big is None or small.rss_mb is None or big.rss_mb is None:
        return failed("7b", label, GROWTH_GOAL, "not measured")
    ratio = big.rss_mb / small.rss_mb
    passed = ratio <= 1 + BIG_RSS_GROWTH and usable(small, big)
    return row(
        "7b", label, f"{big.rss_mb:.0f} MB", f"{small.rss_mb:.0f} MB", GROWTH_GOAL, ratio, passed, big.rss_mb
    )


def _adopt_calls(adopt: Step | None, rows: int) -> dict[str, Any]:
    label = f"sync --adopt, 1% of {rows:,} differs: write calls"
    goal = "= ceil(1% of N / batch)"
    if adopt is None or "write_calls" not in adopt.extra:
        return failed("7c", label, goal, "not measured")
    calls, needed, full = (adopt.extra[k] for k in ("write_calls", "calls_needed", "calls_full"))
    figure = f"{calls:,} calls ({calls / full:.2%} of a full sync's {full:,})"
    passed = calls == needed and usable(adopt)
    return row(
        "7c", label, figure, f"{needed:,} calls", goal, calls / needed if needed else None, passed, calls
    )


def _audit_vs_read(audit: Step | None, read: Step | None, rows: int) -> dict[str, Any]:
    label = f"audit wall vs reading Pendo alone, {rows:,} rows"
    if not usable(audit, read):
        return failed("7d", label, "info", "not measured")
    assert audit is not None and read is not None and audit.wall and read.wall
    reading = read.extra.get("seconds", 0.0)
    figure = f"{audit.wall:.1f} s"
    compared = f"{read.wall:.1f} s (process; reading {reading:.1f} s)"
    out = row("7d", label, figure, compared, "info", audit.wall / read.wall, None, audit.wall)
    out["result"] = "info"
    return out
