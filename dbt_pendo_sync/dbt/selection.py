"""--select / --exclude / --selector answered by dbt's own selection engine (`dbt ls`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
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


def selected_ids(
    selection: Selection, target: DbtTarget, artifacts: Path, manifest_path: Path | None
) -> tuple[set[str] | None, list[str]]:
    """unique_ids of the selected models (None when nothing narrows the selection), and
    dbt's warnings about criteria that match nothing.

    A selection that matches no model at all while dbt warns that a criterion matches no
    node (a typo, most likely) is a UsageError carrying dbt's warning.
    """
    if selection.everything:
        return None, []
    args = ["--resource-type", "model"]
    for flag, values in (("--select", selection.select), ("--exclude", selection.exclude)):
        if values:
            args += [flag, *values]
    if selection.selector:
        args += ["--selector", selection.selector]
    ids, warnings = list_models(args, target, artifacts, manifest_path)
    if not ids and warnings:
        raise UsageError(
            "the selection matches no node: "
            + "; ".join(warnings)
            + " (check the names, or list them with `dbt ls`)"
        )
    return set(ids), warnings
