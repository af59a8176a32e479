"""One measured step, the figures kept of it, and how figures print."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .procs import Reaped


def num(value: float | None, fmt: str) -> str:
    """A figure as text ("-" when it was not measured)."""
    return "-" if value is None else format(value, fmt)


def print_table(header: str, lines: Iterable[str]) -> None:
    """A header, a rule as wide, and the lines."""
    print(header)
    print("-" * len(header))
    for line in lines:
        print(line)


@dataclass
class Step:
    """One measured (or informational) step."""

    name: str
    wall: float | None = None
    rows_sent: int | None = None
    rows_read: int | None = None  # model_finished's to_send: rows read into Python
    rows_written: int | None = None  # the results' counts.frozen: rows written to the snapshot
    rss_mb: float | None = None
    cpu_s: float | None = None  # user + system CPU seconds of the child process
    jvm_rss_mb: float | None = None  # the JVM it left behind (Spark: pyspark's)
    jvm_cpu_s: float | None = None
    emulator_cpu_s: float | None = None
    exit_code: int | None = None
    check: str = ""
    ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float | None:
        if not self.rows_sent or not self.wall:
            return None
        return self.rows_sent / self.wall

    def record(self, reaped: Reaped) -> None:
        """The figures of the step's process, and of the JVM it left behind. The other
        processes left behind (multiprocessing's resource tracker: a fork and exec of Python,
        its peak RSS the forked parent's) are only listed in extra."""
        self.rss_mb, self.cpu_s, self.exit_code = reaped.rss_mb, reaped.cpu_s, reaped.exit_code
        if reaped.left_behind:
            self.extra["left_behind"] = [asdict(r) for r in reaped.left_behind]
        jvms = [r for r in reaped.left_behind if r.name == "java"]
        if jvms:
            self.jvm_rss_mb = max(r.rss_mb for r in jvms)
            self.jvm_cpu_s = sum(r.cpu_s for r in jvms)


def best(runs: list[Step], name: str) -> Step:
    """The fastest of runs of one step (a failed run never), named `name`, every wall noted."""
    found = min(runs, key=lambda st: st.wall if st.ok and st.wall is not None else float("inf"))
    found.name = name
    found.extra["walls"] = [None if r.wall is None else round(r.wall, 3) for r in runs]
    walls = ", ".join(num(r.wall, ".2f") for r in runs)
    found.check = (found.check + "; " if found.check else "") + f"best of {walls} s"
    return found


def own(step: Step | None) -> float | None:
    """A sync's own work: its model's `seconds` in the results file."""
    return None if step is None else step.extra.get("model_seconds")


def usable(*steps: Step | None) -> bool:
    return all(st is not None and st.ok and st.wall is not None for st in steps)
