"""The Goals table (issue 23): every goal's figure, what it is compared with (measured in the
same run: the machine is noisy, only ratios within one run mean anything), the ratio and
PASS/FAIL, or "not run" when its step was not run; the earlier targets (issue 15) follow as
info rows."""

from __future__ import annotations

import math
from typing import Any

from .config import (
    BIG_RSS_GROWTH,
    FLOOR_CPU_MAX,
    FLOOR_WALL_MAX,
    RATE_LIMIT,
    RATE_SHARE_MIN,
    RATE_WALL_MAX,
    RSS_MAX_MB,
    SCAN_MAX,
    SOAK_RATIO_MAX,
    THROTTLED_MAX,
    WINDOW_MIN,
    Settings,
)
from .issue15 import info_rows
from .step import Step, num, own, usable

Steps = dict[str, Step]
RSS_GOAL = f"<= {RSS_MAX_MB:.0f} MB"
SYNC_NAMES = {"full": "full", "nochange": "no-change", "one_pct": "1%", "rate": "rate"}
GROWTH_GOAL = f"<= {1 + BIG_RSS_GROWTH:g}x"


def row(
    number: str,
    what: str,
    figure: str,
    compared: str,
    goal: str,
    ratio: float | None = None,
    passed: bool | None = None,
    value: float | None = None,
) -> dict[str, Any]:
    """One row; passed None: not run."""
    result = "not run" if passed is None else ("PASS" if passed else "FAIL")
    return {
        "number": number,
        "what": what,
        "figure": figure,
        "compared_with": compared,
        "ratio": ratio,
        "goal": goal,
        "result": result,
        "value": value,
    }


def failed(number: str, what: str, goal: str, why: str = "step failed") -> dict[str, Any]:
    return row(number, what, why, "-", goal, passed=False)


def not_run(number: str, what: str, goal: str, why: str) -> dict[str, Any]:
    return row(number, what, f"not run ({why})", "-", goal)


def goals(steps: Steps, postgres: Steps | None, s: Settings) -> list[dict[str, Any]]:
    """The Goals table of the single run."""
    return [
        *_rate(steps.get("rate"), s),
        *_warehouse(steps),
        _peak("4a", "DuckDB syncs", steps, ("full", "nochange", "one_pct", "rate"), s.rows),
        _growth("4b", "DuckDB", steps, s)
        if s.big
        else not_run("4b", "DuckDB peak RSS at --big rows vs at --rows", GROWTH_GOAL, "--big"),
        _postgres_memory(postgres, s),
        *_floor(("5a", "5b"), "DuckDB", steps),
        *(
            _floor(("5c", "5d"), "PostgreSQL", postgres)
            if postgres
            else _floor_not_run(("5c", "5d"), "PostgreSQL")
        ),
        _soak(steps.get("soak")),
        *info_rows(steps),
    ]


def _rate(rate: Step | None, s: Settings) -> list[dict[str, Any]]:
    """1, 2a-2c: the rate step (bulk 250 ms, reads 5 ms, 100 calls/s): its window, its send
    phase's rate and 429s (the emulator's counts), and its whole run against the rate floor."""
    labels = (
        "calls in flight (rate step, emulator max_in_flight)",
        "send phase rate (rate step)",
        "429s per write call (rate step)",
        "rate step wall vs the rate floor",
    )
    goals_ = (
        f">= {WINDOW_MIN}",
        f">= {RATE_SHARE_MIN:.0%} of {RATE_LIMIT}/s",
        f"<= {THROTTLED_MAX:.0%}",
        f"<= {RATE_WALL_MAX}x",
    )
    numbers = ("1", "2a", "2b", "2c")
    emu = rate.extra.get("emulator", {}) if rate is not None else {}
    calls, send = emu.get("write_calls"), emu.get("send_seconds")
    if not usable(rate) or not calls or not send:
        return [failed(n, label, goal) for n, label, goal in zip(numbers, labels, goals_, strict=True)]
    assert rate is not None and rate.wall is not None
    window, throttled = emu.get("max_in_flight") or 0, emu.get("throttled") or 0
    per_s = calls / send
    floor = math.ceil(s.rows / s.batch_size) / RATE_LIMIT
    return [
        row(
            "1", labels[0], f"{window}", f"{WINDOW_MIN}", goals_[0], window / WINDOW_MIN, window >= WINDOW_MIN
        ),
        row(
            "2a",
            labels[1],
            f"{per_s:.1f} calls/s ({calls:,} calls in {send:.1f} s)",
            f"{RATE_LIMIT} calls/s",
            goals_[1],
            *(per_s / RATE_LIMIT, per_s / RATE_LIMIT >= RATE_SHARE_MIN, per_s),
        ),
        row(
            "2b",
            labels[2],
            f"{throttled:,} of {calls:,} = {throttled / calls:.2%}",
            f"{THROTTLED_MAX:.0%}",
            goals_[2],
            *(throttled / calls / THROTTLED_MAX, throttled / calls <= THROTTLED_MAX, throttled / calls),
        ),
        row(
            "2c",
            labels[3],
            f"{rate.wall:.1f} s (own {num(own(rate), '.1f')} s)",
            f"{floor:.2f} s = ceil({s.rows:,} / {s.batch_size}) / {RATE_LIMIT}/s",
            goals_[3],
            *(rate.wall / floor, rate.wall / floor <= RATE_WALL_MAX, rate.wall),
        ),
    ]


def _warehouse(steps: Steps) -> list[dict[str, Any]]:
    """3a, 3b: the no-change sync's own work against the fingerprint scan; the rows it writes."""
    scan, nochange = steps.get("scan"), steps.get("nochange")
    label, goal = "no-change sync's own s vs the fingerprint scan", f"<= {SCAN_MAX}x"
    own0 = own(nochange)
    if usable(scan, nochange) and own0 is not None:
        assert scan is not None and scan.wall is not None
        ratio = own0 / scan.wall
        first = row(
            "3a", label, f"{own0:.2f} s", f"{scan.wall:.2f} s (scan)", goal, ratio, ratio <= SCAN_MAX, own0
        )
    else:
        first = failed("3a", label, goal)
    label = "rows written by the no-change sync (counts.frozen)"
    written = nochange.rows_written if nochange is not None else None
    if written is None:
        return [first, failed("3b", label, "0")]
    return [first, row("3b", label, f"{written:,}", "0", "0", None, written == 0, written)]


def _peaks(steps: Steps | None, keys: tuple[str, ...]) -> dict[str, float]:
    """The peak RSS of each of these syncs that was measured."""
    found = {key: (steps or {}).get(key) for key in keys}
    return {key: st.rss_mb for key, st in found.items() if st is not None and st.rss_mb is not None}


def _peak(number: str, what: str, steps: Steps, keys: tuple[str, ...], rows: int) -> dict[str, Any]:
    """The peak RSS of these syncs at `rows` rows against RSS_MAX_MB."""
    label = f"peak RSS of the {what} at {rows:,} rows"
    measured = _peaks(steps, keys)
    if not measured:
        return failed(number, label, RSS_GOAL, "no sync measured")
    peak = max(measured.values())
    shown = ", ".join(f"{SYNC_NAMES[k]} {v:.0f}" for k, v in measured.items())
    passed = peak <= RSS_MAX_MB and len(measured) == len(keys)
    return row(
        number,
        label,
        f"{peak:.0f} MB ({shown})",
        f"{RSS_MAX_MB:.0f} MB",
        RSS_GOAL,
        peak / RSS_MAX_MB,
        passed,
        peak,
    )


def _growth(number: str, warehouse: str, steps: Steps, s: Settings) -> dict[str, Any]:
    """The peak RSS of the full and no-change syncs at --big rows against that at --rows."""
    label = f"{warehouse} peak RSS at {s.big:,} rows vs at {s.rows:,}"
    small, big = _peaks(steps, ("full", "nochange")), _peaks(steps, ("big_full", "big_nochange"))
    if len(small) != 2 or len(big) != 2:
        return failed(number, label, GROWTH_GOAL)
    ratio = max(big.values()) / max(small.values())
    figure = f"{max(big.values()):.0f} MB (full {big['big_full']:.0f}, no-change {big['big_nochange']:.0f})"
    compared = f"{max(small.values()):.0f} MB (full {small['full']:.0f}, no-change {small['nochange']:.0f})"
    passed = ratio <= 1 + BIG_RSS_GROWTH and usable(steps.get("big_full"), steps.get("big_nochange"))
    return row(number, label, figure, compared, GROWTH_GOAL, ratio, passed, max(big.values()))


def _postgres_memory(postgres: Steps | None, s: Settings) -> dict[str, Any]:
    """4c: on PostgreSQL (the warehouse out of process) the sync's peak at --big rows against
    that at --rows; at --rows alone the figure is reported, not judged."""
    label = "PostgreSQL sync peak RSS at --big rows vs at --rows"
    if postgres is None:
        return not_run("4c", label, GROWTH_GOAL, "PostgreSQL")
    if s.big:
        return _growth("4c", "PostgreSQL", postgres, s)
    small = _peaks(postgres, ("full", "nochange"))
    shown = ", ".join(f"{SYNC_NAMES[k]} {v:.0f}" for k, v in small.items())
    figure = f"at {s.rows:,} rows: {max(small.values()):.0f} MB ({shown})" if small else "not measured"
    return row("4c", label, figure, "not run (--big)", GROWTH_GOAL)


def _floor(numbers: tuple[str, str], warehouse: str, steps: Steps) -> list[dict[str, Any]]:
    """5a/5b (DuckDB), 5c/5d (PostgreSQL): the full sync's wall and CPU (whole process)
    against the bare script's best wall and best CPU (whole process, best of its thread counts)."""
    full = steps.get("full")
    floors = [st for key, st in steps.items() if key.startswith("floor_") and usable(st) and st.cpu_s]
    labels = (
        f"{warehouse} full sync wall vs the bare script",
        f"{warehouse} full sync CPU vs the bare script",
    )
    goals_ = (f"<= {FLOOR_WALL_MAX}x", f"<= {FLOOR_CPU_MAX}x")
    if not (usable(full) and floors) or full is None or full.wall is None or full.cpu_s is None:
        return [failed(n, label, goal) for n, label, goal in zip(numbers, labels, goals_, strict=True)]
    wall = min(floors, key=lambda st: st.wall or math.inf)
    cpu = min(floors, key=lambda st: st.cpu_s or math.inf)
    assert wall.wall is not None and cpu.cpu_s is not None

    def threads(st: Step) -> str:
        return st.name.rsplit(", ", 1)[-1]

    wall_ratio, cpu_ratio = full.wall / wall.wall, full.cpu_s / cpu.cpu_s
    return [
        row(
            numbers[0],
            labels[0],
            f"{full.wall:.1f} s (own {num(own(full), '.1f')} s)",
            f"{wall.wall:.1f} s ({threads(wall)})",
            goals_[0],
            *(wall_ratio, wall_ratio <= FLOOR_WALL_MAX, full.wall),
        ),
        row(
            numbers[1],
            labels[1],
            f"{full.cpu_s:.1f} s CPU",
            f"{cpu.cpu_s:.1f} s CPU ({threads(cpu)})",
            goals_[1],
            *(cpu_ratio, cpu_ratio <= FLOOR_CPU_MAX, full.cpu_s),
        ),
    ]


def _floor_not_run(numbers: tuple[str, str], warehouse: str) -> list[dict[str, Any]]:
    return [
        not_run(
            numbers[0], f"{warehouse} full sync wall vs the bare script", f"<= {FLOOR_WALL_MAX}x", warehouse
        ),
        not_run(
            numbers[1], f"{warehouse} full sync CPU vs the bare script", f"<= {FLOOR_CPU_MAX}x", warehouse
        ),
    ]


def _soak(soak: Step | None) -> dict[str, Any]:
    """6: over the kill soak, records received / records needed."""
    label, goal = "soak: records received / records needed", f"<= {SOAK_RATIO_MAX}"
    if soak is None:
        return not_run("6", label, goal, "--no-soak")
    ratio = soak.extra.get("ratio")
    if soak.exit_code != 0 or ratio is None:
        return failed("6", label, goal)
    got = soak.extra
    exact = "exact" if got.get("exact") else "NOT exact"
    figure = f"{got.get('received', 0):,} / {got.get('needed', 0):,} ({exact}, {got.get('kills')} kills)"
    passed = ratio <= SOAK_RATIO_MAX and bool(soak.extra.get("exact"))
    return row("6", label, figure, f"{SOAK_RATIO_MAX}", goal, ratio, passed, ratio)


def size_goals(per_size: dict[int, Steps]) -> list[dict[str, Any]]:
    """--rows-list: 4a at each size, 4b the largest size against the smallest."""
    out = [_peak("4a", "DuckDB syncs", steps, ("full", "nochange"), n) for n, steps in per_size.items()]
    if len(per_size) > 1:
        small, big = min(per_size), max(per_size)
        label = f"DuckDB peak RSS at {big:,} rows vs at {small:,}"
        peaks = {n: _peaks(per_size[n], ("full", "nochange")) for n in (small, big)}
        if all(len(p) == 2 for p in peaks.values()):
            low, high = max(peaks[small].values()), max(peaks[big].values())
            ratio = high / low
            out.append(
                row(
                    "4b",
                    label,
                    f"{high:.0f} MB",
                    f"{low:.0f} MB",
                    GROWTH_GOAL,
                    ratio,
                    ratio <= 1 + BIG_RSS_GROWTH,
                    high,
                )
            )
        else:
            out.append(failed("4b", label, GROWTH_GOAL, "not measured"))
    return out
