"""Names that go into SQL: the rule for a schema this tool creates (the state schema), the
check of a relation name's parts, and identifiers quoted with their quote character escaped.

dbt writes relation names into SQL as they are: inside the adapter's quote characters where
the project's `quoting:` says so, but never escaped, and its catalog macros also put them in
string literals (`where table_schema = '...'`). So a relation whose database, schema or name
holds a quote character, `'` or `\\` (or, unquoted, anything but a plain name) is refused
before any SQL runs. Column names go only into SQL of our own, where they are escaped.
"""

from __future__ import annotations

import re

SCHEMA_NAME_RULE = "letters, digits, _ and $, not starting with a digit"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_UNQUOTED_PART = re.compile(r"[\w$]+")  # letters (any script), digits, _ and $


def schema_name_problem(name: str) -> str | None:
    """Why `name` cannot be a state schema (one this tool creates and writes), or None."""
    if _SCHEMA_NAME.fullmatch(name):
        return None
    return f"{name!r} is not a schema name dbt-pendo-sync accepts ({SCHEMA_NAME_RULE})"


def relation_part_problem(name: str, *, quoted: bool, quote_char: str) -> str | None:
    """Why one part of a relation name (its database, schema or identifier) cannot go into
    dbt's SQL safely, or None: quoted, it must hold neither the character that ends its quotes
    (`quote_char`: `"`, a backtick, T-SQL's `]`) nor `'` or `\\`; unquoted (the project's
    `quoting:`), it must be a plain name."""
    if not quoted:
        if _UNQUOTED_PART.fullmatch(name):
            return None
        return (
            f"{name!r} is not quoted (the adapter's default, or the project's `quoting:` config) "
            "and is not a plain name (letters, digits, _ and $), so dbt's SQL cannot hold it"
        )
    unsafe = sorted({c for c in name if c in (quote_char, "'", "\\")})
    if not unsafe:
        return None
    shown = " ".join(unsafe)
    return f"{name!r} holds {shown}, which dbt writes into SQL without escaping"


def quote_identifier(
    name: str, quote_char: str, *, close: str | None = None, backslash_escapes: bool = False
) -> str:
    """`name` as a quoted identifier, between `quote_char` and `close` (T-SQL's `[` and `]`;
    by default `quote_char` again): the closing character inside it doubled (standard SQL,
    Spark's backticks, T-SQL's `]]`), or, where quoted identifiers take backslash escapes
    (BigQuery), the quote character and backslashes escaped with a backslash."""
    end = close or quote_char
    if backslash_escapes:
        body = name.replace("\\", "\\\\").replace(end, "\\" + end)
    else:
        body = name.replace(end, end * 2)
    return f"{quote_char}{body}{end}"
