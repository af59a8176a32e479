"""The dbt-duckdb plugin that loads DuckDB's extensions from their wheels, and the passwords
that DuckDB's connection errors quote (tests/functional/test_attached_sources.py runs both
through dbt and the sync)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dbt_pendo_sync.dbt.duckdb_extensions import ExtensionError, extension_file, install
from dbt_pendo_sync.errors import one_line

from ..support.processes import free_port

PASSWORD = "Pw-in-the-path-42"


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    """DuckDB with both extensions loaded from their wheels, downloads off."""
    where = {"extension_directory": str(tmp_path_factory.mktemp("extensions"))}
    install([extension_file("mysql"), extension_file("postgres_scanner")], where)
    con = duckdb.connect(config={**where, "autoinstall_known_extensions": False})
    con.execute("LOAD mysql")
    con.execute("LOAD postgres_scanner")
    yield con
    con.close()


@pytest.mark.parametrize(
    "kind, path",
    [
        ("mysql", "host=127.0.0.1 port={port} user=u password={pw} database=crm"),
        ("postgres", "host=127.0.0.1 port={port} user=u password='{pw} x' dbname=crm"),
        ("postgres", "postgresql://u:{pw}@127.0.0.1:{port}/crm"),
    ],
)
def test_a_password_in_the_attach_string_never_reaches_our_message(con, kind, path):
    attach = path.format(port=free_port(), pw=PASSWORD).replace("'", "''")
    with pytest.raises(duckdb.IOException) as failed:
        con.execute(f"ATTACH '{attach}' AS src (TYPE {kind})")
    assert PASSWORD in str(failed.value)  # DuckDB quotes the whole string
    message = one_line(failed.value)
    assert PASSWORD not in message and "***" in message
    assert "127.0.0.1" in message


def test_an_extension_not_installed_says_which_package_to_install():
    with pytest.raises(ExtensionError, match=rf"pip install duckdb-extension-nosuch=={duckdb.__version__}"):
        extension_file("nosuch")


@pytest.mark.parametrize("name", ["mysql; drop table x", "MySQL", "", 3])
def test_a_name_that_is_not_an_extensions_is_refused(name):
    with pytest.raises(ExtensionError, match="is not a DuckDB extension's name"):
        extension_file(name)


def test_a_wheel_for_another_duckdb_says_which_version_to_install(tmp_path: Path, monkeypatch):
    package = tmp_path / "duckdb_extension_elsewhen"
    (package / "extensions" / "v0.9.0").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "extensions" / "v0.9.0" / "elsewhen.duckdb_extension").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExtensionError) as failed:
        extension_file("elsewhen")
    assert f"is for DuckDB v0.9.0, this DuckDB is v{duckdb.__version__}" in str(failed.value)
    assert f"pip install duckdb-extension-elsewhen=={duckdb.__version__}" in str(failed.value)
