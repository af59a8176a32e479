"""Only what built: models whose last dbt build failed or was skipped are not synced.

dbt records what its last command did to each node in run_results.json, next to the
manifest. A model that errored, or that dbt skipped because something upstream failed, still
has whatever an earlier build left in the warehouse (or nothing): syncing it would push stale
rows while the run looks green. Those models are reported as skipped with the reason;
`--all` syncs them anyway. Models the last command did not touch are synced as usual, as are
models whose build succeeded (including a microbatch model's "partial success").

When is a run_results.json the record of the build behind *this* manifest? dbt writes both
files in one `dbt build` / `dbt run`, with the same `metadata.invocation_id`; but commands
that build nothing (`dbt parse`, `dbt ls`, and this tool's own parse of a changed project)
write a new manifest.json with a new invocation id and leave run_results.json alone, and the
warehouse still holds what that build left. So the rule is:

1. The file must come from a command that builds models (`args.which` is build, run, retry or
   clone; a file that does not say is taken as one). After `dbt compile`, `dbt test`,
   `dbt docs generate` or `dbt seed`, run_results.json says nothing about the models' tables
   (and that command has replaced the build's record): it is ignored, with a note.
2. It belongs to the manifest when its invocation id is the manifest's (one command wrote
   both), or when it is not newer than the manifest (`generated_at`): the manifest is then a
   later parse of the project, taken after that build. A run_results.json newer than a
   manifest of another invocation was written by a dbt command whose manifest is not this
   one (files copied together from different runs): it is ignored, with a note. When either
   time is missing the file is given the benefit of the doubt, as it sits next to the manifest.
3. A result speaks for a model only when its unique_id is the model's and, when both record
   one, its relation_name is the model's in the manifest: a build against another target
   (another database or schema) says nothing about the relation this sync reads.

A model dbt skipped is reported with what failed upstream of it (the manifest's depends_on):
a node it depends on, directly or not, that errored, or a failed test of such a node (`dbt
build` skips what is downstream of a failed test).

As with dbt's own `result:<status>` selectors, only the last command counts: after
`dbt build` failed a model and a later `dbt run -s that_model` succeeded, it is synced.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import Manifest, ModelNode, RunResults, load_run_results

RUN_RESULTS = "run_results.json"
BUILD_COMMANDS = frozenset({"build", "run", "retry", "clone"})
_HEADING = re.compile(r"^[A-Za-z ]*Error in [a-z_ ]+ \S+( \(.*\))?$")
_FIX = "fix it and rebuild, or pass --all to sync what the warehouse has"
_UPSTREAM_FIX = "fix what failed and rebuild, or pass --all to sync what the warehouse has"
FAILED = frozenset({"error", "fail"})  # a node's statuses that make dbt skip what depends on it


@dataclass(frozen=True)
class LastBuild:
    """The run_results.json that decides which models are synced (None: every one is)."""

    run_results: RunResults | None
    note: str | None = None  # why a run_results.json that exists was not used
    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the manifest's depends_on

    def problem(self, model: ModelNode) -> str | None:
        """Why the model is not synced, or None when it is."""
        if self.run_results is None:
            return None
        result = self.run_results.results.get(model.unique_id)
        if result is None or result.status not in ("error", "skipped"):
            return None
        if (
            result.relation_name
            and model.relation_name
            and not _same_relation(result.relation_name, model.relation_name)
        ):
            return None
        command = f"dbt {self.run_results.command or 'build'}"
        source = f"{RUN_RESULTS} of {_when(self.run_results.generated_at)}"
        if result.status == "skipped":
            failed = self.failed_upstream(model.unique_id)
            if not failed:
                return f"its last {command} skipped it, as something it depends on failed ({source}): {_FIX}"
            detail = _first_line(self.run_results.results[failed[0]].message) if len(failed) == 1 else ""
            return (
                f"its last {command} skipped it, as upstream {_listed([_node(uid) for uid in failed])} "
                f"failed ({detail + '; ' if detail else ''}{source}): {_UPSTREAM_FIX}"
            )
        detail = _first_line(result.message)
        return f"its last {command} failed ({detail + '; ' if detail else ''}{source}): {_FIX}"

    def failed_upstream(self, unique_id: str) -> list[str]:
        """The nodes whose failure made dbt skip `unique_id`, by id: those upstream of it that
        failed, and failed tests of those upstream (not of the node itself)."""
        if self.run_results is None:
            return []
        upstream: set[str] = set()
        todo = list(self.parents.get(unique_id, ()))
        while todo:
            node = todo.pop()
            if node not in upstream:
                upstream.add(node)
                todo += self.parents.get(node, ())

        def blocked(uid: str) -> bool:  # upstream, or a test of what is upstream
            tested = self.parents.get(uid, ())
            return uid in upstream or (
                uid.startswith("test.") and unique_id not in tested and any(p in upstream for p in tested)
            )

        return sorted(
            uid for uid, r in self.run_results.results.items() if r.status in FAILED and blocked(uid)
        )


def last_build(manifest: Manifest, path: Path | None = None) -> LastBuild:
    """The run_results.json next to the manifest (or at `path`), if it is of this manifest."""
    run_results = load_run_results(path or manifest.path.parent / RUN_RESULTS)
    if run_results is None:
        return LastBuild(None)
    where = f"{run_results.path} (dbt {run_results.command or '?'} of {_when(run_results.generated_at)})"
    if run_results.command is not None and run_results.command not in BUILD_COMMANDS:
        return LastBuild(None, f"{where} is not of a build: every selected model is synced")
    if not belongs_to(run_results, manifest):
        return LastBuild(
            None,
            f"{where} is newer than the manifest {manifest.path} and of "
            "another dbt invocation, so it does not tell what this manifest's models "
            "built: ignored, every selected model is synced",
        )
    return LastBuild(run_results, parents=manifest.parents)


def belongs_to(run_results: RunResults, manifest: Manifest) -> bool:
    """Rule 2 of the module docstring: the same invocation, or not newer than the manifest."""
    if run_results.invocation_id and run_results.invocation_id == manifest.invocation_id:
        return True
    ran, parsed = _time(run_results.generated_at), _time(manifest.generated_at)
    if ran is None or parsed is None:
        return True
    return ran <= parsed


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _when(value: str | None) -> str:
    """ "2024-05-06 07:08:09 UTC" for dbt's timestamps; the text as given otherwise."""
    parsed = _time(value)
    if parsed is None:
        return value or "unknown time"
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _same_relation(a: str, b: str) -> bool:
    return a.replace('"', "").replace("`", "").lower() == b.replace('"', "").replace("`", "").lower()


def _node(unique_id: str) -> str:
    """ "model stg_users" for model.pkg.stg_users ("test not_null_x" for a test's id)."""
    parts = unique_id.split(".")
    return f"{parts[0]} {parts[2]}" if len(parts) > 2 else unique_id


def _listed(names: list[str], limit: int = 3) -> str:
    """ "a", "a and b", "a, b and c", "a, b, c and 2 more"."""
    shown = names[:limit] + ([f"{len(names) - limit} more"] if len(names) > limit else [])
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _first_line(message: str | None, limit: int = 160) -> str:
    """The line of dbt's message that says what went wrong (past its "Runtime Error in model
    x (file)" heading)."""
    lines = [part.strip() for part in (message or "").splitlines() if part.strip()]
    if len(lines) > 1 and _HEADING.match(lines[0]):
        lines = lines[1:]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
