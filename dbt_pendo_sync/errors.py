"""Error types raised by dbt-pendo-sync, and the one table mapping them to exit codes.

Every error a user can cause carries a message that says what is wrong and how to fix it;
the CLI prints that message on one line, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing that stands in the way of a model's sync: the model, its YAML file, what is
    wrong, and the fix. `validate` lists these; a sync raises them in a ConfigError."""

    model: str
    file: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"model {self.model} ({self.file}): {self.problem}; {self.fix}"


class DbtPendoError(Exception):
    """Base of every error this tool raises on purpose."""


class UsageError(DbtPendoError):
    """The command line or environment asks for something impossible."""


class UnwritableFolderError(UsageError):
    """A file of the run cannot be written where it goes (a read-only folder, a path through
    a file, a full disk): the folder named, and how to write elsewhere."""

    def __init__(self, path: Path, error: OSError) -> None:
        folder = path.parent
        state = (
            f" (adding --state {folder} to sync the dbt run whose artifacts are there)"
            if (folder / "manifest.json").is_file()
            else ""
        )
        super().__init__(
            f"cannot write {path.name} in {folder}: {error.strerror or error}. Make that folder "
            f"writable, or point --target-path (DBT_TARGET_PATH) at a folder this user can write{state}"
        )


class ConfigError(DbtPendoError):
    """A `pendo:` block, project or profile is invalid; `problems` are the models' ones."""

    def __init__(self, message: str = "", problems: Sequence[Problem] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message or "\n".join(str(p) for p in self.problems))


def problems_of(check: Callable[[], object]) -> list[Problem]:
    """The problems a check raises as a ConfigError; [] when it passes."""
    try:
        check()
    except ConfigError as exc:
        return list(exc.problems)
    return []


class DbtError(DbtPendoError):
    """dbt itself failed (parse error, adapter could not be built)."""


class WarehouseError(DbtPendoError):
    """Reading the model's relation from the warehouse failed."""


class LockError(DbtPendoError):
    """Another run holds the sync lock of a model."""


class RemovalsError(DbtPendoError):
    """A model would clear or remove more of its synced records than a run may."""


class PendoError(DbtPendoError):
    """Pendo answered something the sync cannot go on with. `unsent`: the call that failed
    surely had no effect in Pendo (Pendo refused it, or it never reached Pendo), so it may
    be made again without doing twice what it does."""

    def __init__(self, message: str = "", *, unsent: bool = False) -> None:
        super().__init__(message)
        self.unsent = unsent


class PendoAuthError(PendoError):
    """Pendo answered 403: wrong key, read-only key, or another region's host."""


class SegmentGoneError(PendoError):
    """The segment no longer exists in Pendo (404): it was deleted there."""

    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment {segment_id} no longer exists in Pendo")
        self.segment_id = segment_id


class PendoKindRefusedError(PendoError):
    """Pendo answered 400 or 404 to a metadata kind's field schema: it has no such kind for
    this subscription (parent accounts, which Pendo support enables), or the host is wrong."""


class PendoUnreachableError(PendoError):
    """Pendo could not be reached, even after retries."""


class DbtCloudError(DbtPendoError):
    """dbt Cloud refused, lacked or could not serve the run or artifacts asked for."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, as CI cancels send): handled as Ctrl-C is,
    with its own exit code."""


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# The one place that knows exit codes: the most specific class listed first wins.
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (Terminated, 143),
    (KeyboardInterrupt, 130),
    (DbtPendoError, EXIT_FAILED),
)


def exit_code_for(error: BaseException) -> int:
    """The process exit code for an error (1 for anything unexpected)."""
    for kind, code in _EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_FAILED


# A password in a connection string that a driver's error quotes (DuckDB's mysql and postgres
# extensions quote the whole ATTACH string): `password=...` in key=value form, quoted or not,
# and the password of a URL's `user:password@`.
_PASSWORD = re.compile(
    r"""(?i)(\b(?:password|passwd|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s;'"]+)"""
    r"|(\w://[^/\s:@]*:)([^/\s@]+)(@)"
)


def one_line(words: object, limit: int | None = None) -> str:
    """A library's error (or other words) for one of our messages: on one line, its runs of
    whitespace made one space, any password in a connection string it quotes made `***`, cut
    at `limit` characters when given."""
    text = _PASSWORD.sub(_hidden, " ".join(str(words).split()))
    return text[:limit]


def _hidden(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}***"
    return f"{match.group(3)}***{match.group(5)}"
