"""The closed vocabularies of a sync, as str enums: each member is its own JSON and text
form ("success", not "ModelStatus.SUCCESS"), so files and logs read as plain strings."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A str enum whose str() and format() are the value (as Python 3.11's StrEnum)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


class ModelStatus(StrEnum):
    """How one model's sync ended."""

    SUCCESS = "success"
    PARTIAL = "partial"  # some rows invalid, rejected or failed
    ERROR = "error"
    SKIPPED = "skipped"
    PLANNED = "planned"  # a dry run
    INTERRUPTED = "interrupted"  # the run was stopped (Ctrl-C, SIGTERM) while the model synced


class RunStatus(StrEnum):
    """How a whole run ended (the results file's top-level `status`)."""

    SUCCESS = "success"  # every model synced
    FAILED = "failed"  # the run ended, some model did not sync
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C or SIGTERM
    ERROR = "error"  # stopped by an error that concerns the whole run


class Undelivered(StrEnum):
    """Why a row did not reach Pendo (the rejected file's `category`)."""

    MISSING = "missing"  # Pendo has no record with this id (update-only)
    INVALID = "invalid"  # never sent: its id or a value cannot be sent
    REJECTED = "rejected"  # Pendo refused it
    FAILED = "failed"  # no usable answer after retries


class ChangeKind(StrEnum):
    """A row of the snapshot against the sync state."""

    NEW = "new"
    CHANGED = "changed"
    SAME = "same"
    REMOVED = "removed"  # synced before, no longer in the model (on_remove: clear)
    DROPPED = "dropped"  # synced before, no longer in the model, not sent: its state is forgotten
    ADOPTED = "adopted"  # new, and Pendo holds it equal already (--adopt): recorded, not sent


class OnRemove(StrEnum):
    """What happens in Pendo to a record that leaves its model."""

    KEEP = "keep"  # Pendo keeps the last values; the state forgets the record
    CLEAR = "clear"  # every field the model wrote is set to null, once


class NullPolicy(StrEnum):
    """What a null value does: `skip` leaves Pendo's value, `clear` sends null."""

    SKIP = "skip"
    CLEAR = "clear"


class OutputMode(StrEnum):
    """How a run's report events are shown (from --log-format and the terminal)."""

    RICH = "rich"  # progress bars on an interactive terminal
    TEXT = "text"  # timestamped plain lines
    JSON = "json"  # one JSON object per report event
