"""A dbt-duckdb plugin that loads DuckDB extensions from their Python wheels, never from the
network.

The package index carries DuckDB's extensions as wheels: `duckdb-extension-mysql` holds
`duckdb_extension_mysql/extensions/v1.5.5/mysql.duckdb_extension`, built for one duckdb
version. dbt-duckdb's own `extensions:` setting installs from DuckDB's download server. This
plugin installs each named extension from its wheel's file instead, into the extension
directory of the connection about to open, before DuckDB opens it: the profile's `secrets:`
and `attach:` of that type then find it there (dbt-duckdb creates them before the plugins
configure the connection, and DuckDB loads an installed extension on first use). Once the
connection is open, the plugin loads each one itself too.

In profiles.yml (each name is the package's name after `duckdb-extension-`):

    plugins:
      - module: dbt_pendo_sync.dbt.duckdb_extensions
        config: {extensions: [mysql]}

The README's "MySQL and PostgreSQL sources through DuckDB" has the whole recipe.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

MODULE = __name__
# What an extension's name may be: it goes into INSTALL and LOAD statements.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The connect options that say where DuckDB keeps installed extensions.
_LOCATION_OPTIONS = ("extension_directory", "home_directory")


class ExtensionError(RuntimeError):
    """An extension the profile names that cannot be loaded from a wheel; dbt-duckdb reports
    a RuntimeError from opening its database as dbt's database error (the sync, as
    `cannot connect to the warehouse`)."""


class Plugin(BasePlugin):
    """dbt-duckdb calls `initialize` once with the plugin's `config:`, then, for each
    database it opens, `update_connection_config` before it opens and
    `configure_connection` after."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        names = plugin_config.get("extensions")
        if not isinstance(names, list) or not names:
            raise ExtensionError(f"plugin {MODULE}: its config needs `extensions`, e.g. [mysql]")
        self.files = {name: extension_file(name) for name in names}

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        install(self.files.values(), {k: config[k] for k in _LOCATION_OPTIONS if k in config})

    def configure_connection(self, conn: Any) -> None:
        for name in self.files:
            conn.execute(f"LOAD {name}")


def extension_file(name: object) -> Path:
    """The extension file that the wheel duckdb-extension-NAME ships for this duckdb."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ExtensionError(
            f"plugin {MODULE}: {name!r} is not a DuckDB extension's name "
            "(lower-case letters, digits and _, as in the package duckdb-extension-NAME)"
        )
    package, version = f"duckdb-extension-{name}", duckdb.__version__
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise ExtensionError(
            f"plugin {MODULE}: the package {package} is not installed: pip install {package}=={version}"
        )
    shipped = Path(spec.origin).parent / "extensions"
    path = shipped / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        built_for = ", ".join(sorted(p.parent.name for p in shipped.glob(f"*/{name}.duckdb_extension")))
        raise ExtensionError(
            f"plugin {MODULE}: the installed {package} is for DuckDB {built_for or 'no version'}, "
            f"this DuckDB is v{version}: pip install {package}=={version}"
        )
    return path


def install(files: Iterable[Path], location: dict[str, Any]) -> None:
    """INSTALL each extension file where a connection with these `location` options looks
    for extensions (a no-op for one installed already)."""
    with duckdb.connect(":memory:", config=location) as con:
        for path in files:
            quoted = str(path).replace("'", "''")
            con.execute(f"INSTALL '{quoted}'")
