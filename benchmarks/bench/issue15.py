"""The earlier targets (issue 15) that still mean something, as info rows under the goals:
the 1% sync against the no-change one, the full sync against the bare client with prebuilt
payloads, and start-up. Their goal is shown; their result is "info"."""

from __future__ import annotations

from typing import Any

from .config import CLI_MAX_S, ONE_PCT_FULL_SHARE, TINY_BEYOND_LS_S, TINY_ROWS
from .step import Step, own, usable


def info(what: str, figure: str, compared: str, goal: str, ratio: float | None) -> dict[str, Any]:
    return {
        "number": "i15",
        "what": what,
        "figure": figure,
        "compared_with": compared,
        "ratio": ratio,
        "goal": goal,
        "result": "info",
        "value": None,
    }


def info_rows(steps: dict[str, Step]) -> list[dict[str, Any]]:
    return [*_one_pct(steps), *_bare_client(steps), *_startup(steps)]


def _one_pct(steps: dict[str, Step]) -> list[dict[str, Any]]:
    own1, own0, ownf = (own(steps.get(k)) for k in ("one_pct", "nochange", "full"))
    if own1 is None or own0 is None or ownf is None:
        return []
    bound = own0 + ONE_PCT_FULL_SHARE * ownf
    compared = f"{own0:.2f} + 2% x {ownf:.1f} = {bound:.2f} s"
    return [
        info("1% sync's own s vs no-change + 2x 1% of full", f"{own1:.2f} s", compared, "<= 1x", own1 / bound)
    ]


def _bare_client(steps: dict[str, Step]) -> list[dict[str, Any]]:
    full = steps.get("full")
    bare = [st for key, st in steps.items() if key.startswith("limit_") and usable(st) and st.cpu_s]
    if not bare or full is None or full.wall is None or full.cpu_s is None:
        return []
    wall = min(bare, key=lambda st: st.wall or float("inf"))
    cpu = min(bare, key=lambda st: st.cpu_s or float("inf"))
    assert wall.wall is not None and cpu.cpu_s is not None
    return [
        info(
            "full sync wall vs the bare client (prebuilt, sending only)",
            f"{full.wall:.1f} s",
            f"{wall.wall:.1f} s",
            "<= 1.3x",
            full.wall / wall.wall,
        ),
        info(
            "full sync CPU vs the bare client (prebuilt, sending only)",
            f"{full.cpu_s:.1f} s",
            f"{cpu.cpu_s:.1f} s",
            "<= 3x",
            full.cpu_s / cpu.cpu_s,
        ),
    ]


def _startup(steps: dict[str, Step]) -> list[dict[str, Any]]:
    out = []
    for key in ("help", "version"):
        st = steps.get(key)
        if usable(st):
            assert st is not None and st.wall is not None
            what = f"dbt-pendo --{key}, best of 5"
            out.append(
                info(what, f"{st.wall:.3f} s", f"{CLI_MAX_S} s", f"< {CLI_MAX_S} s", st.wall / CLI_MAX_S)
            )
    tiny, ls = steps.get("tiny_sync"), steps.get("dbt_ls")
    if usable(tiny, ls):
        assert tiny is not None and ls is not None and tiny.wall is not None and ls.wall is not None
        beyond = tiny.wall - ls.wall
        out.append(
            info(
                f"{TINY_ROWS}-row sync beyond `dbt ls`, best of 3",
                f"{tiny.wall:.2f} - {ls.wall:.2f} = {beyond:.2f} s",
                f"{TINY_BEYOND_LS_S:g} s",
                f"<= {TINY_BEYOND_LS_S:g} s",
                beyond / TINY_BEYOND_LS_S,
            )
        )
    return out
