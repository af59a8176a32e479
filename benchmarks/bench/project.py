"""The benchmark's work folder: its copies of the dbt project, the emulator's data file."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .config import FIELD_TYPES, MARKER, PROJECT_TEMPLATE, BenchError


def prepare_workdir(path: str | None, script: str = "bench_sync.py") -> Path:
    """A new temp folder (path None), else `path` emptied: new, empty, or a benchmark's."""
    if path is None:
        workdir = Path(tempfile.mkdtemp(prefix="dbt-pendo-bench-"))
    else:
        workdir = Path(path).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            if not (workdir / MARKER).exists():
                raise BenchError(
                    f"--workdir {workdir} is not empty and not a benchmark workdir; "
                    "give an empty or new folder"
                )
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text(f"created by benchmarks/{script}; rewritten on each run\n")
    return workdir


def write_emulator_data(data_file: Path) -> None:
    """The emulator's data file: every visitor known, the model's fields in the schema."""
    schema = {"visitor": {"custom": {name: {"Type": t} for name, t in FIELD_TYPES.items()}}}
    data = {"visitors": "all", "accounts": [], "schema": schema, "values": {}}
    data_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def make_project(project: Path, batch_size: int, overlay: Path | None = None) -> Path:
    """A copy of the bench project at `project` (with `overlay`'s files over it), batch size set."""
    ignore = shutil.ignore_patterns("target", "logs", "*.duckdb*")
    shutil.copytree(PROJECT_TEMPLATE, project, ignore=ignore)
    if overlay is not None:
        shutil.copytree(overlay, project, ignore=ignore, dirs_exist_ok=True)
    props = project / "models" / "_bench.yml"
    text, count = re.subn(
        r"(?m)^(\s*batch_size:) \d+", rf"\g<1> {batch_size}", props.read_text(encoding="utf-8")
    )
    if count != 1:
        raise BenchError(f"cannot set batch_size in {props}")
    props.write_text(text, encoding="utf-8")
    limit = bench_memory_limit()
    if overlay is None and limit:  # the DuckDB profile's output is the file's last lines
        with (project / "profiles.yml").open("a", encoding="utf-8") as profile:
            profile.write(f"      settings:\n        memory_limit: {json.dumps(limit)}\n")
    return project


def bench_memory_limit() -> str | None:
    """BENCH_DUCKDB_MEMORY_LIMIT: the memory_limit the benchmark profile sets; None (unset
    or 0) when it sets none."""
    value = os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "")
    return None if value in ("", "0") else value


def duckdb_memory_limit() -> str:
    """The benchmark profile's DuckDB memory_limit, for the report's header."""
    value = bench_memory_limit()
    if value is None:
        return "none in the profile: the sync's own bound (the builds: DuckDB's default, 80% of RAM)"
    return f"{value} (BENCH_DUCKDB_MEMORY_LIMIT)"
