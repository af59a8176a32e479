"""Sources in another database, models in DuckDB: DuckDB attaches MariaDB (its `mysql`
extension) or PostgreSQL (its `postgres` extension), dbt builds the models from the attached
tables, and the sync runs as on DuckDB. tests/fixtures/attach_project is the README's recipe:
the extension comes from its wheel (dbt_pendo_sync.dbt.duckdb_extensions) with DuckDB's
downloads turned off, and the source's password lives in a DuckDB secret."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import (
    ROOT,
    DbtProject,
    Run,
    _copy,
    base_env,
    emulator_key,
    incremental_emulator_data,
    make_emulator,
)
from ..support.mariadb import MariaDbServer, start_mariadb
from ..support.postgres import PostgresServer
from ..support.processes import free_port

ATTACH = ROOT / "tests" / "fixtures" / "attach_project"
N = 300  # visitors in the source table
K = 7  # of them changed in the source


@dataclass
class Source:
    """A source database the fixture's profile attaches (its output `target`), with the
    ATTACH_* variables that profile reads and a way to run SQL in it."""

    target: str
    env: dict[str, str]
    execute: Callable[[str], object]

    @property
    def password(self) -> str:
        return self.env["ATTACH_PASSWORD"]


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDbServer]:
    """A real MariaDB server for the whole session (tests/support/mariadb.py)."""
    server = start_mariadb(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()


def _mariadb_source(server: MariaDbServer) -> Source:
    env = {"ATTACH_PASSWORD": server.password, "ATTACH_USER": server.user, "ATTACH_DATABASE": server.database}
    return Source("mysql", _connection(server, env), server.execute)


def _postgres_source(server: PostgresServer) -> Source:
    """The tests' PostgreSQL (trust authentication: it takes any password, and the profile
    gives one, which must not show either)."""
    server.execute("create schema if not exists crm")
    env = {"ATTACH_PASSWORD": "pg-" + secrets.token_urlsafe(12), "ATTACH_USER": server.user}
    return Source("postgres", _connection(server, {**env, "ATTACH_DATABASE": server.dbname}), server.execute)


def _connection(server: MariaDbServer | PostgresServer, env: dict[str, str]) -> dict[str, str]:
    return {"ATTACH_HOST": server.host, "ATTACH_PORT": str(server.port), **env}


def _seed(source: Source) -> None:
    """The source table crm.visitors, afresh: N visitors, u-000001's score 10, ..."""
    rows = ", ".join(
        f"('u-{i:06d}', '{'pro' if i % 3 == 0 else 'free'}', {i * 10}, {i % 2 == 0})" for i in _range(N)
    )
    source.execute("drop table if exists crm.visitors")
    source.execute(
        "create table crm.visitors (visitor_id varchar(20) primary key, plan varchar(10),"
        " score integer, is_active boolean)"
    )
    source.execute(f"insert into crm.visitors values {rows}")


def _range(n: int) -> range:
    return range(1, n + 1)


def _ids(n: int) -> list[str]:
    return [f"u-{i:06d}" for i in _range(n)]


@pytest.fixture(scope="session")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where DuckDB keeps the extensions the plugin installs from their wheels (not ~/.duckdb)."""
    return tmp_path_factory.mktemp("duckdb_extensions")


@pytest.fixture(params=["mariadb", "postgres"])
def source(request: pytest.FixtureRequest) -> Source:
    """The source database, seeded: MariaDB (this session's) or the tests' PostgreSQL."""
    if request.param == "mariadb":
        found = _mariadb_source(request.getfixturevalue("mariadb"))
    else:
        found = _postgres_source(request.getfixturevalue("postgres"))
    _seed(found)
    return found


@pytest.fixture
def attached(source: Source, extension_dir: Path, tmp_path: Path) -> DbtProject:
    """The fixture project built in DuckDB from the attached source."""
    path = _copy(ATTACH, tmp_path / "attach_project")
    env = base_env(ATTACH_DUCKDB_PATH="attach.duckdb", ATTACH_EXTENSION_DIR=str(extension_dir), **source.env)
    project = DbtProject(path, env, source.target)
    project.dbt("build")
    return project


@pytest.fixture
def emulator():
    with make_emulator(incremental_emulator_data()) as em:
        yield em


def _sync(project: DbtProject, emulator, runs: list[Run]) -> dict:
    result = project.sync("--debug", emulator=emulator)
    runs.append(result)
    assert result.code == 0, result.output
    return project.results()["models"][0]["counts"]


def _sent_ids(emulator) -> list[str]:
    return sorted(rec["visitorId"] for r in emulator.request_log() if r.method == "POST" for rec in r.body)


def test_first_sync_then_no_change_then_k_changes_in_the_source(source, attached, emulator):
    runs: list[Run] = []
    first = _sync(attached, emulator, runs)
    assert first["new"] == N and first["updated"] == N
    assert {vid: v["score"] for vid, v in emulator.all_values("visitor").items()} == {
        vid: i * 10 for i, vid in enumerate(_ids(N), start=1)
    }

    emulator.reset_log()
    second = _sync(attached, emulator, runs)
    assert second["sent"] == 0 and second["unchanged"] == N
    assert emulator.write_calls() == 0

    changed = ", ".join(f"'{vid}'" for vid in _ids(K))
    source.execute(f"update crm.visitors set score = score + 1000000 where visitor_id in ({changed})")
    runs.append(attached.dbt("build"))
    emulator.reset_log()
    third = _sync(attached, emulator, runs)
    assert third["changed"] == K and third["sent"] == K and third["updated"] == K
    assert _sent_ids(emulator) == _ids(K)
    assert emulator.values("visitor", "u-000001")["score"] == 1000010
    _assert_password_absent(source.password, runs, attached.path)


def test_a_view_over_the_source_is_read_through_the_attachment_at_sync_time(source, attached, emulator):
    """The sync's connection attaches the source too: a model built as a view reads the
    source when the sync reads it, so a change there is sent without a new `dbt build`."""
    attached.env["ATTACH_MATERIALIZED"] = "view"
    runs = [attached.dbt("build")]
    assert _sync(attached, emulator, runs)["sent"] == N
    source.execute("update crm.visitors set plan = 'gold' where visitor_id = 'u-000002'")
    emulator.reset_log()
    assert _sync(attached, emulator, runs)["sent"] == 1
    assert emulator.values("visitor", "u-000002")["plan"] == "gold"
    _assert_password_absent(source.password, runs, attached.path)


def test_the_sync_stops_before_sending_when_the_source_is_unreachable(source, attached, emulator):
    """The sync reads only the models DuckDB built, but the profile attaches the source on
    every connection the adapter opens: an unreachable source stops it, with our error. A
    process of its own: what DuckDB's drivers might write to its stderr shows too."""
    pendo = {"PENDO_BASE_URL": emulator.url, "PENDO_INTEGRATION_KEY": emulator_key(emulator)}
    result = attached.sync_process(ATTACH_PORT=str(free_port()), **pendo)
    assert result.code != 0
    errors = result.stderr.strip().splitlines()  # ours alone, no driver's line
    assert len(errors) == 1 and errors[0].startswith("Error: cannot connect to the warehouse"), result.output
    assert emulator.write_calls() == 0
    _assert_password_absent(source.password, [result], attached.path)


def _assert_password_absent(password: str, runs: list[Run], project: Path) -> None:
    """Not in what the commands printed, nor in any file of the project (target/, logs/,
    the DuckDB file)."""
    for done in runs:
        assert password not in done.output
    for path in project.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
