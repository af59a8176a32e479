"""A click option that takes several values after one flag, as dbt's `--select a b` does."""

from __future__ import annotations

from typing import Any

import click


class ManyValues(click.Option):
    """A repeatable option whose flag also takes the words after it, up to the next option:
    `-s a b -s c` gives ("a", "b", "c"), as dbt's own --select and --exclude read them (dbt's
    MultiOption). A word starting with "-" is the next option, so `-s a b --exclude c` ends
    the list at `--exclude`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        # click's parser keeps one entry per option, under each of its flags; its process()
        # stores one value. Ours stores that value and each word after it.
        entry = next(parser._long_opt.get(n) or parser._short_opt.get(n) for n in self.opts)
        store_one = entry.process

        def store_many(value: Any, state: Any) -> None:
            store_one(value, state)
            while state.rargs and not state.rargs[0].startswith("-"):
                store_one(state.rargs.pop(0), state)

        setattr(entry, "process", store_many)  # noqa: B010 (a method of click's own object)
