"""--select / --exclude / --selector answered by dbt's own selection engine (`dbt ls`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .compat import DbtTarget, list_models


@dataclass(frozen=True)
class Selection:
    """What the user selected, in dbt's syntax."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    selector: str | None = None

    @property
    def everything(self) -> bool:
        """True when nothing narrows the selection."""
        return not (self.select or self.exclude or self.selector)


def selected_ids(selection: Selection, target: DbtTarget, artifacts: Path,
                 manifest_path: Path | None) -> set[str] | None:
    """unique_ids of the selected models, or None when nothing narrows the selection."""
    if selection.everything:
        return None
    args = ["--resource-type", "model"]
    for flag, values in (("--select", selection.select), ("--exclude", selection.exclude)):
        if values:
            args += [flag, *values]
    if selection.selector:
        args += ["--selector", selection.selector]
    return set(list_models(args, target, artifacts, manifest_path))
