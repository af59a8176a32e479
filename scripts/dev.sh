#!/usr/bin/env bash
# One entry point for the README's commands:
#   scripts/dev.sh demo    set up what the demo needs (dbt-pendo-sync with dbt-duckdb), build
#                          sample_project on DuckDB, sync it into the local Pendo emulator, print
#                          the summary
#   scripts/dev.sh test    set up everything (the [dev] extra: every adapter, pyspark, the test and
#                          lint tools), make sure PostgreSQL, MariaDB, Java and unixODBC are installed, check format,
#                          lint and types (ruff, mypy), run the whole test suite
#   scripts/dev.sh bench   set up everything (PostgreSQL too), run the benchmark (benchmarks/README in the main README)
#   scripts/dev.sh setup [EXTRA]   only set up, with EXTRA (default dev)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false PIP_DISABLE_PIP_VERSION_CHECK=1

python_bin() {
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  echo "Python 3.10+ is needed (3.11 recommended)" >&2; exit 2
}

# One line per package pip collects, and one when it installs them (its whole output is in the log).
pip_steps() {
  awk '/^Collecting /{print "  collecting " $2; fflush()}
       /^Installing collected packages/{print "  installing the collected packages"; fflush()}'
}

setup() {  # setup EXTRA: .venv with dbt-pendo-sync[EXTRA]; a venv that has more keeps it
  local extra="${1:-dev}" log="$VENV/install.log" stamp="$VENV/installed-extras" wanted
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV" >&2
    "$(python_bin)" -m venv "$VENV"
  fi
  # The install is editable: it needs doing again only for another EXTRA or when the
  # dependencies change (pyproject.toml, constraints.txt); each install done is one line here.
  wanted="$extra $(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && grep -qxF "$wanted" "$stamp"; then
    echo "dbt-pendo-sync[$extra] is installed in .venv, with these dependencies" >&2
    return
  fi
  # constraints.txt keeps our own installs on dbt-core<1.12 (see README). pip's whole output
  # goes to the log, shown when the install fails.
  : >"$log"
  echo "installing dbt-pendo-sync[$extra] into .venv (pip's log: $log)" >&2
  # (unbuffered: pip's lines reach the pipe as it writes them)
  if ! { PYTHONUNBUFFERED=1 "$VENV/bin/python" -m pip install --upgrade pip &&
         PYTHONUNBUFFERED=1 "$VENV/bin/python" -m pip install -c "$ROOT/constraints.txt" -e "$ROOT[$extra]"; } 2>&1 |
       tee -a "$log" | pip_steps >&2; then
    cat "$log" >&2; echo "installing dbt-pendo-sync failed (log: $log)" >&2; exit 1
  fi
  "$VENV/bin/dbt-pendo" --version
  echo "$wanted" >>"$stamp"
}

apt_install() {  # apt_install PACKAGE FOR: Debian's PACKAGE, which FOR needs (as root), or say so and stop
  local package="$1" needed_for="$2"
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $package for $needed_for" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  else
    echo "$needed_for needs Debian's '$package' package: install it" >&2
    exit 2
  fi
}

ensure_postgres() {  # the tests start PostgreSQL servers of their own
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    return
  fi
  apt_install postgresql "the test suite (PostgreSQL's server binaries)"
}

ensure_mariadb() {  # the tests attach a MariaDB server to DuckDB (its mysql extension)
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server "the test suite (MariaDB's server)"
  fi
}

ensure_java() {  # Spark (dbt-spark's session method, pyspark) runs on a JVM
  if ! command -v java >/dev/null 2>&1; then
    apt_install openjdk-17-jre-headless "the Spark tests (Java 17)"
  fi
}

ensure_odbc() {  # pyodbc (dbt-sqlserver, dbt-fabric, dbt-synapse) loads unixODBC's libodbc.so.2 on import
  local lib
  for lib in /usr/lib/*/libodbc.so.2 /usr/lib/libodbc.so.2 /lib/*/libodbc.so.2; do
    if [ -e "$lib" ]; then
      return
    fi
  done
  apt_install libodbc2 "the SQL Server, Synapse and Fabric tests (unixODBC's library)"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

demo() {
  setup duckdb
  local port key="demo-key" secret="demo-track-secret" db="$ROOT/sample_project/sample.duckdb"
  port="$(free_port)"
  PENDO_INTEGRATION_KEY="$key" PENDO_TRACK_SECRET="$secret" "$VENV/bin/dbt-pendo" emulator --port "$port" &
  EMULATOR_PID=$!
  trap 'kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
  cd "$ROOT/sample_project"
  echo "building sample_project on DuckDB (dbt build)" >&2
  DBT_PENDO_SAMPLE_DB="$db" "$VENV/bin/dbt" build --profiles-dir . --quiet
  "$VENV/bin/python" - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 15
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the emulator did not start")
        time.sleep(0.05)
PY
  # Each demo starts a fresh emulator, which knows nothing of what earlier demos sent, while
  # the sync state in sample.duckdb remembers them: --full-resync sends every metadata row
  # again (events are sent once: a later demo sends only the events that are new since).
  DBT_PENDO_SAMPLE_DB="$db" PENDO_INTEGRATION_KEY="$key" PENDO_TRACK_SECRET="$secret" \
    PENDO_BASE_URL="http://127.0.0.1:$port" \
    "$VENV/bin/dbt-pendo" sync --profiles-dir . --full-resync
}

run_tests() {
  setup
  ensure_postgres
  ensure_mariadb
  ensure_java
  ensure_odbc
  cd "$ROOT"
  echo "ruff format --check, ruff check, mypy" >&2
  "$VENV/bin/ruff" format --check --quiet dbt_pendo_sync tests benchmarks
  "$VENV/bin/ruff" check --quiet dbt_pendo_sync tests benchmarks
  "$VENV/bin/mypy"
  # loadgroup: the Spark tests share one worker (one JVM and one metastore). Three workers on
  # two cores: much of a test is waiting on a child process, a server or the JVM (with two
  # workers the cores were 82% busy; three take the suite from 11 min 46 s to 7 min 48 s).
  "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-3}" --dist loadgroup "$@"
}

bench() {
  setup
  ensure_postgres  # its PostgreSQL steps start a server as the tests do
  cd "$ROOT"
  "$VENV/bin/python" benchmarks/bench_sync.py "$@"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  demo) demo "$@" ;;
  test) run_tests "$@" ;;
  bench) bench "$@" ;;
  setup) setup "$@" ;;
  *) echo "usage: scripts/dev.sh demo|test|bench|setup" >&2; exit 2 ;;
esac
