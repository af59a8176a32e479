"""The Limits table (issue 15): every target's figure, what it is compared with (measured in
the same run), the ratio and the verdict."""

from __future__ import annotations

import math
from typing import Any

from .config import (
    BIG_RSS_GROWTH,
    CLI_MAX_S,
    CPU_MAX,
    ONE_PCT_FULL_SHARE,
    RATE_LATENCY_MS,
    RATE_LIMIT,
    RATE_MAX,
    RSS_MAX_MB,
    SCAN_MAX,
    TINY_BEYOND_LS_S,
    TINY_ROWS,
    WALL_MAX,
    Settings,
)
from .step import Step, num, own, usable


def row(
    number: str,
    target: str,
    measured: str,
    compared: str,
    goal: str,
    ratio: float | None = None,
    passed: bool | None = None,
    value: float | None = None,
) -> dict[str, Any]:
    """One row of the table; passed None: not measured (or only informational)."""
    return {
        "number": number,
        "target": target,
        "measured": measured,
        "compared_with": compared,
        "ratio": ratio,
        "goal": goal,
        "pass": passed,
        "value": value,
    }


def failed(number: str, target: str, goal: str, why: str) -> dict[str, Any]:
    return row(number, target, why, "-", goal, passed=False)


def limits(steps: dict[str, Step], s: Settings) -> list[dict[str, Any]]:
    """The Limits table: every target's figure, what it is compared with, and the verdict."""
    return [
        _rate(steps.get("rate"), s),
        *_cpu_and_wall(steps, s.rows),
        *_scan(steps),
        _memory(steps, s.rows),
        _big_memory(steps, s),
        *_startup(steps),
    ]


def _rate(rate: Step | None, s: Settings) -> dict[str, Any]:
    """1. Pendo's rate under latency."""
    calls = math.ceil(s.rows / s.batch_size)
    floor = calls / RATE_LIMIT
    label = f"rate: full sync wall, {RATE_LATENCY_MS} ms + {RATE_LIMIT}/s"
    goal = f"<= {RATE_MAX}x"
    if not usable(rate):
        return failed("1", label, goal, "step failed")
    assert rate is not None and rate.wall is not None
    emu = rate.extra.get("emulator", {})
    send = emu.get("send_seconds")
    measured = (
        f"{rate.wall:.1f} s (own {num(own(rate), '.1f')} s; send phase "
        f"{num(calls / send if send else None, '.1f')} calls/s; throttled "
        f"{num(emu.get('throttled'), ',d')}, max in flight {num(emu.get('max_in_flight'), 'd')})"
    )
    compared = f"{floor:.1f} s = {calls:,} calls / {RATE_LIMIT}/s"
    ratio = rate.wall / floor
    return row("1", label, measured, compared, goal, ratio, ratio <= RATE_MAX, rate.wall)


def _cpu_and_wall(steps: dict[str, Step], rows: int) -> list[dict[str, Any]]:
    """2. one core's worth of Python: the full sync against the bare client."""
    full = steps.get("full")
    bare = [st for key, st in steps.items() if key.startswith("limit_") and usable(st)]
    if not (usable(full) and bare):
        return [failed("2", "CPU and wall: full sync vs bare client", f"<= {CPU_MAX:g}x", "step failed")]
    assert full is not None and full.wall is not None and full.cpu_s is not None
    cpu_best = min(bare, key=lambda st: st.cpu_s or float("inf"))
    wall_best = min(bare, key=lambda st: st.wall or float("inf"))
    assert cpu_best.cpu_s is not None and wall_best.wall is not None
    per_m = 1_000_000 / rows

    def threads(st: Step) -> str:
        return st.name.rsplit(", ", 1)[-1]

    def emulator_cpu(st: Step) -> float | None:  # during the step, per 1M rows
        during = st.extra.get("emulator", {}).get("cpu_during_s")
        return None if during is None else during * per_m

    cpu, wall = full.cpu_s / cpu_best.cpu_s, full.wall / wall_best.wall
    return [
        row(
            "2",
            "CPU: full sync (process) vs bare client",
            f"{full.cpu_s:.1f} s CPU",
            f"{cpu_best.cpu_s:.1f} s CPU (sending, {threads(cpu_best)})",
            f"<= {CPU_MAX:g}x",
            *(cpu, cpu <= CPU_MAX, full.cpu_s),
        ),
        row(
            "2",
            "wall: full sync (process) vs bare client",
            f"{full.wall:.1f} s (own {num(own(full), '.1f')} s)",
            f"{wall_best.wall:.1f} s (sending, {threads(wall_best)})",
            f"<= {WALL_MAX:g}x",
            *(wall, wall <= WALL_MAX, full.wall),
        ),
        row(
            "2",
            "CPU per 1M rows: ours | the emulator's",
            f"sync {full.cpu_s * per_m:.1f} s | emulator {num(emulator_cpu(full), '.1f')} s",
            f"bare {cpu_best.cpu_s * per_m:.1f} s | emulator {num(emulator_cpu(cpu_best), '.1f')} s",
            "info",
        ),
    ]


def _scan(steps: dict[str, Step]) -> list[dict[str, Any]]:
    """3. the warehouse's scan: the no-change sync against it, the 1% sync against both."""
    scan, nochange, one_pct, full = (steps.get(k) for k in ("scan", "nochange", "one_pct", "full"))
    out = []
    label, goal = "no-change sync's own work vs fingerprint scan", f"<= {SCAN_MAX}x"
    own0 = own(nochange)
    if usable(scan, nochange) and own0 is not None:
        assert scan is not None and scan.wall is not None
        ratio = own0 / scan.wall
        out.append(
            row(
                "3", label, f"{own0:.2f} s", f"{scan.wall:.2f} s (scan)", goal, ratio, ratio <= SCAN_MAX, own0
            )
        )
    else:
        out.append(failed("3", label, goal, "step failed"))
    label = "1% sync's own work vs no-change + 2x 1% of full"
    own1, ownf = own(one_pct), own(full)
    if usable(one_pct, nochange, full) and own1 is not None and own0 is not None and ownf is not None:
        bound = own0 + ONE_PCT_FULL_SHARE * ownf
        compared = f"{own0:.2f} + 2% x {ownf:.1f} = {bound:.2f} s"
        ratio = own1 / bound
        out.append(row("3", label, f"{own1:.2f} s", compared, "<= 1x", ratio, ratio <= 1, own1))
    else:
        out.append(failed("3", label, "<= 1x", "step failed"))
    return out


def _memory(steps: dict[str, Step], rows: int) -> dict[str, Any]:
    """4. memory: the peak RSS of every sync at --rows."""
    syncs = {key: steps.get(key) for key in ("full", "nochange", "one_pct", "rate")}
    measured = {key: st.rss_mb for key, st in syncs.items() if st is not None and st.rss_mb is not None}
    label = f"peak RSS of every sync at {rows:,} rows"
    goal = f"<= {RSS_MAX_MB:.0f} MB"
    if not measured:
        return failed("4", label, goal, "no sync measured")
    peak = max(measured.values())
    shown = " ".join(f"{k} {v:.0f}" for k, v in measured.items())
    passed = peak <= RSS_MAX_MB and len(measured) == len(syncs)
    return row(
        "4", label, f"{peak:.0f} MB ({shown})", f"{RSS_MAX_MB:.0f} MB", goal, peak / RSS_MAX_MB, passed, peak
    )


def _big_memory(steps: dict[str, Step], s: Settings) -> dict[str, Any]:
    """4. memory: the peak at --big rows against the peak at --rows (full and no-change)."""
    label = "peak RSS at --big rows vs at --rows"
    goal = f"<= {1 + BIG_RSS_GROWTH:g}x"
    small = [st.rss_mb for k in ("full", "nochange") if (st := steps.get(k)) and st.rss_mb]
    big = [st.rss_mb for k in ("big_full", "big_nochange") if (st := steps.get(k)) and st.rss_mb]
    if not s.big:
        return row("4", label, "not run (--big)", "-", goal)
    if len(small) != 2 or len(big) != 2:
        return failed("4", label, goal, "step failed")
    ratio = max(big) / max(small)
    return row(
        "4",
        label.replace("--big", f"{s.big:,}").replace("--rows", f"{s.rows:,}"),
        f"{max(big):.0f} MB (full {big[0]:.0f}, no-change {big[1]:.0f})",
        f"{max(small):.0f} MB (full {small[0]:.0f}, no-change {small[1]:.0f})",
        goal,
        ratio,
        ratio <= 1 + BIG_RSS_GROWTH and usable(steps.get("big_full"), steps.get("big_nochange")),
        max(big),
    )


def _startup(steps: dict[str, Step]) -> list[dict[str, Any]]:
    """5. start-up: --help and --version, and the 10-row sync beyond `dbt ls`."""
    out = []
    for key in ("help", "version"):
        st = steps.get(key)
        label, goal = f"dbt-pendo --{key}, best of 5", f"< {CLI_MAX_S} s"
        if usable(st):
            assert st is not None and st.wall is not None
            ratio = st.wall / CLI_MAX_S
            out.append(
                row(
                    "5",
                    label,
                    f"{st.wall:.3f} s",
                    f"{CLI_MAX_S} s",
                    goal,
                    ratio,
                    st.wall < CLI_MAX_S,
                    st.wall,
                )
            )
        else:
            out.append(failed("5", label, goal, "step failed"))
    tiny, ls = steps.get("tiny_sync"), steps.get("dbt_ls")
    label, goal = f"{TINY_ROWS}-row sync beyond `dbt ls`, best of 3", f"<= {TINY_BEYOND_LS_S:g} s"
    if not usable(tiny, ls):
        return [*out, failed("5", label, goal, "step failed")]
    assert tiny is not None and ls is not None and tiny.wall is not None and ls.wall is not None
    beyond = tiny.wall - ls.wall
    shown = f"{tiny.wall:.2f} - {ls.wall:.2f} = {beyond:.2f} s"
    ratio = beyond / TINY_BEYOND_LS_S
    return [
        *out,
        row("5", label, shown, f"{TINY_BEYOND_LS_S:g} s", goal, ratio, beyond <= TINY_BEYOND_LS_S, beyond),
    ]


def size_limits(per_size: dict[int, dict[str, Step]]) -> list[dict[str, Any]]:
    """--rows-list: the memory targets, per size and the largest size against the smallest."""
    out = []
    peaks: dict[int, float] = {}
    goal = f"<= {RSS_MAX_MB:.0f} MB"
    for n, steps in per_size.items():
        measured = [st.rss_mb for k in ("full", "nochange") if (st := steps[k]).rss_mb is not None]
        label = f"peak RSS of every sync at {n:,} rows"
        if len(measured) != 2:
            out.append(failed("4", label, goal, "not measured"))
            continue
        peaks[n] = peak = max(measured)
        shown = f"{peak:.0f} MB (full {measured[0]:.0f}, no-change {measured[1]:.0f})"
        out.append(
            row("4", label, shown, f"{RSS_MAX_MB:.0f} MB", goal, peak / RSS_MAX_MB, peak <= RSS_MAX_MB, peak)
        )
    if len(per_size) > 1:
        small, big = min(per_size), max(per_size)
        label, growth = f"peak RSS at {big:,} rows vs at {small:,}", f"<= {1 + BIG_RSS_GROWTH:g}x"
        if small in peaks and big in peaks:
            ratio = peaks[big] / peaks[small]
            passed = ratio <= 1 + BIG_RSS_GROWTH
            out.append(
                row(
                    "4",
                    label,
                    f"{peaks[big]:.0f} MB",
                    f"{peaks[small]:.0f} MB",
                    growth,
                    ratio,
                    passed,
                    peaks[big],
                )
            )
        else:
            out.append(failed("4", label, growth, "not measured"))
    return out
