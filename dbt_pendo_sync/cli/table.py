"""The tables `ls` and `validate` print."""

from __future__ import annotations

from typing import Literal


def print_table(
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    overflow: Literal["fold", "crop", "ellipsis", "ignore"] = "ellipsis",
) -> None:
    """A table on stdout, 200 columns wide when stdout is not a terminal (CI logs)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow=overflow)
    for row in rows:
        table.add_row(*row)
    Console(highlight=False, width=None if Console().is_terminal else 200).print(table)
