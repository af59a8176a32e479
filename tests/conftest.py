"""Real parts for every test: dbt projects built with real dbt, a real PostgreSQL server,
and the project's own Pendo emulator on 127.0.0.1. Nothing here mocks Pendo or dbt."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dbt_pendo_sync.emulator import EmulatorData, PendoEmulator

from .support.fakesnow import FakesnowServer, start_fakesnow
from .support.postgres import PostgresServer, start_postgres
from .support.projects import (
    BIN as BIN,
)
from .support.projects import (
    DbtProject as DbtProject,
)
from .support.projects import (
    Run as Run,
)
from .support.projects import (
    base_env as base_env,
)
from .support.projects import (
    dbt as dbt,
)
from .support.projects import (
    dbt_pendo as dbt_pendo,
)
from .support.projects import (
    emulator_key as emulator_key,
)
from .support.projects import (
    emulator_track_secret as emulator_track_secret,
)
from .support.projects import (
    make_emulator as make_emulator,
)
from .support.projects import (
    run as run,
)
from .support.redshift import RedshiftRelay, relay_to
from .support.spark import SparkWarehouse

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_project"
TYPED = ROOT / "tests" / "fixtures" / "typed_project"
_IGNORE = shutil.ignore_patterns("target", "logs", "*.duckdb", "*.wal", ".user.yml", "dbt_packages")

# Custom fields the typed fixture maps to, as a Pendo admin would have created them.
TYPED_VISITOR_FIELDS = {
    "nickname": "string",
    "c_text": "string",
    "c_bool": "boolean",
    "c_int": "integer",
    "c_bigint": "integer",
    "c_numeric": "float",
    "c_double": "float",
    "c_date": "time",
    "c_ts": "time",
    "c_tstz": "time",
}


@pytest.fixture
def emulator() -> Iterator[PendoEmulator]:
    """The emulator with its default data (the sample project's visitors and accounts)."""
    with make_emulator() as em:
        yield em


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., PendoEmulator]]:
    """Start emulators, PendoEmulator(key, **options); every one is stopped at teardown."""
    started: list[PendoEmulator] = []

    def start(key: str, **options: Any) -> PendoEmulator:
        started.append(PendoEmulator(key, **options).start())
        return started[-1]

    yield start
    for em in started:
        em.stop()


def typed_emulator_data() -> EmulatorData:
    data = EmulatorData.default()
    for name, typ in TYPED_VISITOR_FIELDS.items():
        data.schema["visitor"]["custom"][name] = {"Type": typ, "DisplayName": name}
    return data


@pytest.fixture
def typed_emulator() -> Iterator[PendoEmulator]:
    """The emulator, with the custom fields the typed fixture project maps to."""
    with make_emulator(typed_emulator_data()) as em:
        yield em


P = TypeVar("P", bound=DbtProject)


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=_IGNORE)
    return dest


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """sample_project built once on DuckDB (tests copy it before changing anything)."""
    path = _copy(SAMPLE, tmp_path_factory.mktemp("sample") / "sample_project")
    project = DbtProject(path, base_env(DBT_PENDO_SAMPLE_DB="sample.duckdb"))
    project.dbt("build")
    return project


def _clone_built(built: P, dest: Path) -> P:
    """A private copy of a project built (or parsed) once per session: its warehouse file and
    target/ as dbt left them (copied with their times: the manifest stays newer than the
    sources). A DuckDB file is named relative to the project's folder, where its commands run,
    so every copy's profile is the same and dbt's partial parse holds in it (a changed profile
    would make dbt parse the whole project again)."""
    path = dest / built.path.name
    shutil.copytree(built.path, path, ignore=shutil.ignore_patterns("logs"))
    return replace(built, path=path, env=dict(built.env))


@pytest.fixture
def sample(built_sample: DbtProject, tmp_path: Path) -> DbtProject:
    """A private, built copy of sample_project."""
    return _clone_built(built_sample, tmp_path)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session."""
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redshift_relay(postgres: PostgresServer) -> Iterator[RedshiftRelay]:
    """dbt-redshift's way into the session's PostgreSQL server (support/redshift.py)."""
    with relay_to(postgres) as relay:
        yield relay


@pytest.fixture(scope="session")
def fakesnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakesnowServer]:
    """A real fakesnow server (Snowflake's protocol over DuckDB) for the whole session."""
    server = start_fakesnow(tmp_path_factory.mktemp("fakesnow"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkWarehouse]:
    """This worker's Spark: one metastore and JVM, shared by its Spark tests."""
    spark = SparkWarehouse(tmp_path_factory.mktemp("spark"))
    yield spark
    spark.release()


@pytest.fixture(scope="session")
def built_typed_duckdb(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    path = _copy(TYPED, tmp_path_factory.mktemp("typed_duck") / "typed_project")
    project = DbtProject(path, base_env(TYPED_DUCKDB_PATH="typed.duckdb"), "duckdb")
    project.dbt("build")
    return project


@pytest.fixture(scope="session")
def built_typed_postgres(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> DbtProject:
    path = _copy(TYPED, tmp_path_factory.mktemp("typed_pg") / "typed_project")
    project = DbtProject(path, base_env(**postgres.env("TYPED_PG_")), "postgres")
    project.dbt("build")
    return project


@pytest.fixture(params=["duckdb", "postgres"])
def typed(request: pytest.FixtureRequest, tmp_path: Path) -> DbtProject:
    """A private, built copy of the typed fixture project, on DuckDB and on PostgreSQL."""
    if request.param == "duckdb":
        return _clone_built(request.getfixturevalue("built_typed_duckdb"), tmp_path)
    project = _clone_built(request.getfixturevalue("built_typed_postgres"), tmp_path)
    project.env["DBT_PENDO_STATE_SCHEMA"] = f"state_{secrets.token_hex(4)}"  # shared server
    return project


EVENTS = ROOT / "tests" / "fixtures" / "events_project"
INCREMENTAL = ROOT / "tests" / "fixtures" / "incremental_project"
INCREMENTAL_FIELDS = {"plan": "string", "score": "integer", "is_active": "boolean", "vip": "string"}


def incremental_emulator_data(known: set[str] | None = None) -> EmulatorData:
    """Every visitor known (or only `known`), with the fixture's custom fields."""
    data = EmulatorData.default()
    data.visitors = "all" if known is None else set(known)
    for name, typ in INCREMENTAL_FIELDS.items():
        data.schema["visitor"]["custom"][name] = {"Type": typ, "DisplayName": name}
    return data


def agent_emulator_data() -> EmulatorData:
    """incremental_emulator_data with the fixture's fields in the visitor agent group (a
    model with `group: agent` writes them there)."""
    data = incremental_emulator_data()
    for name, spec in list(data.schema["visitor"]["custom"].items()):
        data.schema["visitor"]["agent"][name] = spec
        del data.schema["visitor"]["custom"][name]
    return data


@dataclass
class IncrementalProject(DbtProject):
    """The incremental fixture on one warehouse, with SQL access for checking state."""

    postgres: PostgresServer | None = None
    fakesnow: FakesnowServer | None = None
    spark: SparkWarehouse | None = None
    schema: str = "main"

    def build(self, **values: object) -> None:
        """`dbt build` with the fixture's FX_<NAME> environment variables set from `values`
        (the others at their defaults): see tests/fixtures/incremental_project/README.md."""
        self.start_spark()
        fixture_env = {
            f"FX_{name.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for name, v in values.items()
        }
        dbt(["build", *self.args()], {**self.env, **fixture_env}, self.path)

    def sync(self, *args: str, **kwargs: Any) -> Run:
        self.start_spark()
        return super().sync(*args, **kwargs)

    def sync_process(self, *args: str, **env: str) -> Run:
        if self.spark is not None:  # Derby: one process at a time opens the metastore
            self.spark.release()
        return super().sync_process(*args, **env)

    def start_sync(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        if self.spark is not None:
            self.spark.release()
        return super().start_sync(*args, **kwargs)

    def start_spark(self) -> None:
        """dbt and dbt-pendo in this process find this process's quiet SparkSession running."""
        if self.spark is not None:
            self.spark.session()

    def query(self, sql: str) -> list[tuple]:
        if self.spark is not None:
            return self.spark.query(sql)
        if self.fakesnow is not None:
            con = self.fakesnow.connect(database=self.env["INCR_SF_DATABASE"])
            try:
                cur = con.cursor()
                cur.execute(sql)
                return [tuple(row) for row in cur.fetchall()]
            finally:
                con.close()
        if self.postgres is None:
            import duckdb

            con = duckdb.connect(str(self.path / self.env["INCR_DUCKDB_PATH"]), read_only=True)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        import psycopg2

        con = psycopg2.connect(self.postgres.dsn())
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()

    def state_ids(self) -> set[str]:
        return {r[0] for r in self.query(f"select record_id from {self.schema}.pendo_sync_state")}

    def model_values(self) -> dict[str, dict]:
        rows = self.query(f"select visitor_id, plan, score, is_active from {self.schema}.visitor_scores")
        return {r[0]: {"plan": r[1], "score": r[2], "is_active": r[3]} for r in rows}


def snowflake_incremental(path: Path, server: FakesnowServer, database: str = "") -> IncrementalProject:
    """A fixture project copied at `path`, on fakesnow, in `database`, else one of its own
    (the server is shared by the session); not built yet."""
    database = database or f"incr_{secrets.token_hex(4)}"
    env = base_env(**server.env("INCR_SF_"), INCR_SF_DATABASE=database, INCR_SF_SCHEMA="incr")
    return IncrementalProject(path, env, "snowflake", fakesnow=server, schema="incr")


# The incremental fixture's warehouses; tests that also run on Spark parametrize it with
# ON_SPARK added (test_incremental.py), as one xdist group: the JVM starts once per worker.
INCREMENTAL_WAREHOUSES = ["duckdb", "postgres", "snowflake"]
ON_SPARK = pytest.param("spark", marks=pytest.mark.xdist_group("spark"))


@pytest.fixture(params=INCREMENTAL_WAREHOUSES)
def incremental(request: pytest.FixtureRequest, tmp_path: Path) -> IncrementalProject:
    """A fresh copy of the incremental fixture, built, on DuckDB, PostgreSQL and Snowflake
    (fakesnow; these two with the parse of fixture_on)."""
    if request.param == "duckdb":
        return request.getfixturevalue("duck")
    if request.param == "spark":
        spark = request.getfixturevalue("spark_warehouse")
        schema = f"incr_{secrets.token_hex(4)}"  # one metastore per worker
        env = base_env(INCR_SPARK_DIR=str(spark.dir), INCR_SPARK_SCHEMA=schema)
        path = _copy(INCREMENTAL, tmp_path / "incremental_project")
        project = IncrementalProject(path, env, "spark", spark=spark, schema=schema)
        spark.session()  # started quiet, before dbt starts it with Spark's console logging
    else:
        project = fixture_on(request, INCREMENTAL, tmp_path)
    project.build()
    return project


@pytest.fixture(scope="session")
def built_incremental_duckdb(tmp_path_factory: pytest.TempPathFactory) -> IncrementalProject:
    """The incremental fixture built once on DuckDB; tests get private copies (`duck`, and
    `incremental` on duckdb)."""
    path = _copy(INCREMENTAL, tmp_path_factory.mktemp("incr_duck") / "incremental_project")
    project = IncrementalProject(path, base_env(INCR_DUCKDB_PATH="incr.duckdb"), "duckdb")
    project.build()
    return project


@pytest.fixture
def duck(built_incremental_duckdb: IncrementalProject, tmp_path: Path) -> IncrementalProject:
    """The incremental fixture (2,000 visitors, batches of 100) built on DuckDB alone, for
    tests whose point is Pendo's side or the process, not the warehouse."""
    return _clone_built(built_incremental_duckdb, tmp_path)


@pytest.fixture(scope="session")
def parsed_fixtures() -> dict[tuple[str, str], IncrementalProject]:
    """The fixture projects parsed in this session (this xdist worker), by folder name and
    warehouse: fixture_on clones them."""
    return {}


def _parsed_on(request: pytest.FixtureRequest, fixture: Path, warehouse: str) -> IncrementalProject:
    """A copy of `fixture` on `warehouse`, parsed, not built. Its
    profile is the same for every clone (else dbt parses each in full): the DuckDB file
    fixture.duckdb in the project's folder, or on PostgreSQL (this worker's own server, one
    test at a time) the schema named after the fixture, on Snowflake the database."""
    base = request.getfixturevalue("tmp_path_factory").mktemp(f"parsed_{warehouse}")
    path = _copy(fixture, base / fixture.name)
    schema = fixture.name.removesuffix("_project")
    if warehouse == "duckdb":
        project = IncrementalProject(path, base_env(INCR_DUCKDB_PATH="fixture.duckdb"), "duckdb")
    elif warehouse == "snowflake":
        project = snowflake_incremental(path, request.getfixturevalue("fakesnow"), database=schema)
    else:  # postgres, or redshift: dbt-redshift on the same server through its relay
        server = request.getfixturevalue("postgres")
        env = base_env(**server.env("INCR_PG_"), INCR_PG_SCHEMA=schema)
        if warehouse == "redshift":
            env["INCR_RS_PORT"] = str(request.getfixturevalue("redshift_relay").port)
        project = IncrementalProject(path, env, warehouse, postgres=server, schema=schema)
    project.dbt("parse")
    return project


def fixture_on(
    request: pytest.FixtureRequest, fixture: Path, tmp_path: Path, warehouse: str | None = None
) -> IncrementalProject:
    """A private copy of a fixture project (its profile reads the INCR_ variables) on the
    `warehouse` (else the one `request.param` names), not built: duckdb, or postgres or
    snowflake in a schema emptied for this test. Its target/ holds the parse of a copy made once per
    session, so its first dbt command parses only the files the test changed."""
    warehouse = warehouse or request.param
    parsed = request.getfixturevalue("parsed_fixtures")
    key = (fixture.name, warehouse)
    if key not in parsed:
        parsed[key] = _parsed_on(request, fixture, warehouse)
    project = _clone_built(parsed[key], tmp_path)
    if project.postgres is not None:
        project.postgres.execute(f"drop schema if exists {project.schema} cascade")
    elif project.fakesnow is not None:
        project.query(f"drop schema if exists {project.schema} cascade")
    return project


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll `condition` (another process or thread makes it true) until it holds; fails,
    naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


def kill_when(proc: subprocess.Popen, reached: Callable[[], bool], timeout: float = 120) -> None:
    """SIGKILL a running sync once `reached()` holds (polled); fails if the sync ended first."""
    wait_until(lambda: reached() or proc.poll() is not None, "the point of the kill", timeout)
    assert proc.poll() is None, "the sync ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
