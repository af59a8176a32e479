"""The user's warehouse through their own dbt adapter: column lookups and streaming reads.

Rows stream through the adapter connection's DB-API cursor with `fetchmany`, so memory
stays flat whatever the table size. Drivers that support server-side cursors (psycopg2 and
its kin take a `name`) use one, since their plain cursors load the whole result on execute.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import ConfigError, WarehouseError, one_line
from ..sqlnames import quote_identifier, relation_part_problem
from .artifacts import ModelNode
from .compat import release_adapter
from .loaders import Row, loader_for
from .readers import reader_for

FETCH_ROWS = 10_000
# Adapters whose warehouse folds unquoted identifiers to upper case, as standard SQL does:
# a model's `select 1 as plan` makes a column PLAN there (elsewhere `plan` stays `plan`).
_FOLDS_TO_UPPER = frozenset({"snowflake", "oracle", "db2", "exasol", "firebird"})
_UNQUOTED = re.compile(r"[A-Z_][A-Z0-9_$]*")
# Adapters whose quoted identifiers take backslash escapes (`\``), as their literals do.
_BACKSLASH_QUOTED = frozenset({"bigquery"})
_ERROR_CHARS = 500  # of a driver's error in our message


@dataclass(frozen=True)
class WarehouseColumn:
    """A column of a built relation, with the adapter's name for its type.

    `name` is the real name (what SQL must quote); `written` is the name as the model's SQL
    wrote it when the warehouse folded it to upper case (PLAN was `plan`), else the real
    name. Blocks, field names and messages use `written`; SQL uses `name`.
    """

    name: str
    data_type: str
    written: str = ""

    def __post_init__(self) -> None:
        if not self.written:
            object.__setattr__(self, "written", self.name)


class Warehouse:
    """Reads built models through one dbt adapter connection (main thread only)."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self._reader = reader_for(
            adapter.type(), getattr(getattr(adapter, "config", None), "credentials", None)
        )
        self._quote_escape: str | None = None
        # How the connection was readied, for the debug log (DuckDB's memory limit), once open.
        self.session_note: str | None = None

    @property
    def adapter_type(self) -> str:
        """dbt's name of the adapter (duckdb, postgres, snowflake...)."""
        return self._adapter.type()

    @contextmanager
    def connection(self) -> Iterator[Warehouse]:
        """Hold one named adapter connection open for the reads inside the block; it is
        opened now (dbt opens connections lazily), so a warehouse that cannot be reached
        stops the run before any model starts. Every connection of the adapter is closed when
        the block ends, so a Python caller's next `dbt build` can open the warehouse (DuckDB
        allows one process per file)."""
        try:
            with self._adapter.connection_named("dbt-pendo-sync"):
                try:
                    handle = self._adapter.connections.get_thread_connection().handle  # opens it
                    self.session_note = self._reader.prepare(handle)
                except Exception as exc:  # driver errors have no common base class
                    raise WarehouseError(
                        f"cannot connect to the warehouse: {one_line(exc, _ERROR_CHARS)}"
                    ) from None
                yield self
        finally:
            release_adapter(self._adapter)

    def relation(self, model: ModelNode) -> Any:
        """The adapter's Relation for a model's built table or view, quoted as the project's
        `quoting:` config says (as dbt quoted it when it built the model); ConfigError when
        a part of its name cannot go into SQL (sqlnames.py)."""
        return self._create(
            self._quote_policy(), database=model.database, schema=model.schema, identifier=model.alias
        )

    def _create(self, policy: dict[str, bool], **parts: Any) -> Any:
        """A Relation of these parts (and `type`), each checked: dbt renders them into SQL
        unescaped, so a part that could end its quotes or its literal is a ConfigError."""
        close = self._quotes[1]
        for kind in ("database", "schema", "identifier"):
            name = parts.get(kind)
            if name is None:
                continue
            why = relation_part_problem(name, quoted=policy.get(kind, False), quote_char=close)
            if why:
                raise ConfigError(f"{'table name' if kind == 'identifier' else kind} {why}")
        return self._adapter.Relation.create(**parts, quote_policy=policy)

    def _quote_policy(self, *, own_identifier: bool = False) -> dict[str, bool]:
        """The adapter's default quote policy, overridden by the project's `quoting:` (as
        dbt's Relation.create_from does); with `own_identifier`, for a table of ours: its
        database and schema named as dbt names them, its name as the adapter's default
        (so the state is found again whatever the project's identifier quoting)."""
        default = self._adapter.Relation.get_default_quote_policy().to_dict(omit_none=True)
        quoting = getattr(getattr(self._adapter, "config", None), "quoting", None) or {}
        policy = {**default, **{k: bool(v) for k, v in quoting.items() if k in default}}
        if own_identifier and "identifier" in default:
            policy["identifier"] = default["identifier"]
        return policy

    def _schema(self, database: str | None, schema: str) -> Any:
        return self._create(self._quote_policy(own_identifier=True), database=database, schema=schema)

    def relation_columns(self, model: ModelNode) -> list[WarehouseColumn]:
        """The model's real columns ([] when it was never built), each with its written name."""
        relation = self.relation(model)
        try:
            cols = self._columns_of(relation, f"model {model.name}: ")
        except WarehouseError:
            # The adapter took a missing relation for a failed lookup (see column_types).
            self._rollback()
            if not self.table_exists(relation):
                return []
            raise
        if self.adapter_type not in _FOLDS_TO_UPPER:
            return cols
        folded = [c.name.lower() if _UNQUOTED.fullmatch(c.name) else c.name for c in cols]
        alike = Counter(folded)  # PLAN beside a quoted "plan": both keep their real names
        return [
            WarehouseColumn(c.name, c.data_type, w if alike[w] == 1 else c.name)
            for c, w in zip(cols, folded, strict=True)
        ]

    def columns(self, model: ModelNode) -> list[WarehouseColumn]:
        """The model's real columns; raise WarehouseError when it was never built."""
        relation = self.relation(model)
        cols = self.relation_columns(model)
        if not cols:
            raise WarehouseError(
                f"model {model.name}: relation {relation} does not exist in the warehouse; "
                "run `dbt build` (or `dbt run`) for it first"
            )
        return cols

    def _columns_of(self, relation: Any, context: str) -> list[WarehouseColumn]:
        try:
            cols = self._adapter.get_columns_in_relation(relation)
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(
                f"{context}cannot read columns of {relation}: {one_line(exc, _ERROR_CHARS)}"
            ) from None
        return [WarehouseColumn(c.name, str(c.data_type)) for c in cols]

    def table(self, database: str | None, schema: str, identifier: str) -> Any:
        """A Relation for a table of ours (state, journal, snapshot); ConfigError when a part
        of its name cannot go into SQL."""
        return self._create(
            self._quote_policy(own_identifier=True),
            database=database,
            schema=schema,
            identifier=identifier,
            type="table",
        )

    def macro(self, name: str, **kwargs: Any) -> str:
        """The SQL one of dbt's (dispatched) macros renders for this adapter: dbt's own, the
        project's, or this package's (macros/ledger.sql)."""
        return str(self.call_macro(name, **kwargs)).strip()

    def statements(self, name: str, **kwargs: Any) -> list[str]:
        """The SQL statements a macro returns as a list."""
        return [str(sql).strip() for sql in self.call_macro(name, **kwargs)]

    def call_macro(self, name: str, **kwargs: Any) -> Any:
        """What a macro returns (its `return(...)` value), or its rendered text."""
        try:
            return self._adapter.execute_macro(name, kwargs=kwargs)
        except Exception as exc:  # dbt raises its own types; any failure means no SQL
            raise WarehouseError(f"dbt macro {name} failed: {one_line(exc, _ERROR_CHARS)}") from None

    def literal(self, text: str) -> str:
        """A SQL string literal, escaped as the adapter's escape_single_quotes macro does.

        Where that escape is a backslash (BigQuery, Spark, Snowflake, MySQL), the backslash
        is an escape character in literals, so the text's own backslashes are doubled too:
        `a\\b` must stay `a\\b`, not become `a` and a backspace."""
        if self._quote_escape is None:  # rendered once: the macro only rewrites quotes
            self._quote_escape = self.macro("escape_single_quotes", expression="'")
        if self._quote_escape.startswith("\\"):
            text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", self._quote_escape) + "'"

    def execute(self, *statements: str) -> None:
        """Run statements in one transaction on this thread's connection, and commit."""

        def run(handle: Any) -> None:
            for sql in statements:
                self._adapter.execute(sql, auto_begin=False, fetch=False)

        self.in_transaction(run, statements[0])

    def in_transaction(self, work: Callable[[Any], None], what: str) -> None:
        """Call `work` with this thread's driver handle inside one transaction, and commit;
        a failure rolls back and names `what` (the statement)."""
        try:
            connection = self._adapter.connections.get_thread_connection()
            # dbt's own lookups (columns, relations) may have left a transaction open.
            if not connection.transaction_open:
                self._adapter.connections.begin()
            work(connection.handle)
            self._adapter.connections.commit()
        except Exception as exc:  # driver errors have no common base class
            self._rollback()
            raise WarehouseError(
                f"statement failed: {one_line(exc, _ERROR_CHARS)}\n  SQL: {what[:300]}"
            ) from None

    @property
    def in_process(self) -> bool:
        """Whether the warehouse runs in this process (DuckDB), so its memory is the sync's."""
        return self._reader.in_process

    def load(self, table: Any, width: int, rows: Iterable[Row]) -> int:
        """Rows of text into a table of ours whose `width` columns are all text, in bounded
        chunks (loaders.py); how many."""
        return loader_for(self.adapter_type, self.in_process, width).load(self, str(table), rows)

    def _commit_open(self) -> None:
        """Commit the transaction dbt's macros may have begun on this thread's connection."""
        if self._adapter.connections.get_thread_connection().transaction_open:
            self._adapter.connections.commit()

    def _rollback(self) -> None:
        try:
            self._adapter.connections.rollback_if_open()
        except Exception:  # the statement's own error is the one worth reporting
            pass

    def create_schema(self, database: str | None, schema: str) -> None:
        """Create a schema if it does not exist (dbt's create_schema macro)."""
        try:
            self._adapter.create_schema(self._schema(database, schema))
            self._commit_open()
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"cannot create schema {schema}: {one_line(exc, _ERROR_CHARS)}") from None

    def schema_exists(self, database: str | None, schema: str) -> bool:
        """Whether a schema exists (False when the warehouse cannot tell)."""
        try:
            found = self._adapter.check_schema_exists(database, schema)
            self._commit_open()
        except Exception:  # driver errors have no common base class; the caller has its own
            self._rollback()
            return False
        return bool(found)

    def drop_table(self, relation: Any) -> None:
        """Drop a table of ours if it exists."""
        try:
            self._adapter.drop_relation(relation)
            self._commit_open()
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"cannot drop {relation}: {one_line(exc, _ERROR_CHARS)}") from None

    def rename_table(self, relation: Any, to: Any) -> None:
        """Rename a table of ours (dbt's rename_relation)."""
        try:
            self._adapter.rename_relation(relation, to)
            self._commit_open()
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"cannot rename {relation} to {to}: {one_line(exc, _ERROR_CHARS)}") from None

    def table_exists(self, relation: Any) -> bool:
        """Whether a table exists (see table_names)."""
        return relation.identifier.lower() in self.table_names(relation.database, relation.schema)

    def table_names(self, database: str | None, schema: str) -> set[str]:
        """The lower-cased names of a schema's tables and views, in one listing: asks the
        warehouse, not dbt's relation cache, which does not know tables made by our own SQL."""
        relation = self._schema(database, schema)
        try:
            found = self._adapter.list_relations_without_caching(relation)
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(
                f"cannot list the tables of {relation}: {one_line(exc, _ERROR_CHARS)}"
            ) from None
        return {(r.identifier or "").lower() for r in found}

    @contextmanager
    def worker_connection(self, name: str) -> Iterator[Warehouse]:
        """A connection of the calling thread (for work beside the main thread's reads)."""
        with self._adapter.connection_named(name):
            yield self

    @cached_property
    def _quotes(self) -> str:
        """The characters that open and close a quoted name in the adapter's relations: `""`,
        a pair of backticks, or `[]` (dbt-fabric's relations quote as T-SQL does, whatever
        their `quote_character` says)."""
        return str(self._adapter.Relation.create().quoted(""))

    def quote(self, identifier: str) -> str:
        """An identifier (a column's real name) in the quotes of the adapter's relations, the
        closing character inside it escaped, so that no name can end its quotes."""
        return quote_identifier(
            identifier,
            self._quotes[0],
            close=self._quotes[1],
            backslash_escapes=self.adapter_type in _BACKSLASH_QUOTED,
        )

    def stream(self, sql: str, fetch_rows: int = FETCH_ROWS) -> Iterator[Sequence[tuple]]:
        """Run a query and yield its rows in chunks of at most `fetch_rows` (readers.py)."""
        handle = self._adapter.connections.get_thread_connection().handle
        try:
            yield from self._reader.stream(handle, sql, fetch_rows)
        except WarehouseError:
            raise
        except Exception as exc:  # driver errors have no common base class
            raise WarehouseError(f"query failed: {one_line(exc, _ERROR_CHARS)}\n  SQL: {sql[:500]}") from None

    def query(self, sql: str) -> list[tuple]:
        """Run a query with a small result and return all of its rows."""
        return [row for chunk in self.stream(sql) for row in chunk]
