"""A Spark warehouse for the tests: the process's own SparkSession (pyspark, a JVM of its own),
with its metastore (Derby) and table files in one directory.

One per pytest worker, reused by every Spark test there (the JVM starts once: several
seconds). Derby lets one process at a time open the metastore, so before a `dbt-pendo sync`
runs as a process of its own, this process's JVM is stopped (`release`); the next query starts
it again, once that process's JVM has let go of the metastore.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path
from typing import Any

from dbt_pendo_sync.dbt.readers import spark_session


class SparkWarehouse:
    """The metastore and warehouse directory the incremental fixture's `spark` target uses."""

    def __init__(self, root: Path) -> None:
        self.dir = root

    def parameters(self) -> dict[str, str]:
        """The profile's server_side_parameters (tests/fixtures/incremental_project/profiles.yml)."""
        return {
            "spark.sql.warehouse.dir": f"{self.dir}/warehouse",
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={self.dir}/metastore_db;create=true"
            ),
            "spark.driver.extraJavaOptions": (
                f"-Dderby.system.home={self.dir} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
            ),
            "spark.sql.codegen.wholeStage": "false",
            "spark.ui.enabled": "false",
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "1",
        }

    def session(self) -> Any:
        """This process's SparkSession, started (quiet, as dbt-pendo starts it) when none runs."""
        from pyspark import SparkContext

        if SparkContext._active_spark_context is None:
            self._wait_for_metastore()
        return spark_session(self.parameters())

    def query(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.session().sql(sql).collect()]

    def release(self) -> None:
        """Stop this process's JVM, so that another process can open the metastore."""
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        context = SparkContext._active_spark_context
        gateway = SparkContext._gateway
        if context is not None:
            context.stop()
        if gateway is not None:
            gateway.shutdown()
            proc = getattr(gateway, "proc", None)
            if proc is not None:  # the JVM exits when its stdin closes (PythonGatewayServer)
                proc.stdin.close()
                proc.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None

    def _wait_for_metastore(self, timeout: float = 60) -> None:
        """Until no other process's JVM holds Derby's lock on the metastore (the JVM of a
        `dbt-pendo sync` process outlives it by a moment: it exits when its stdin closes)."""
        lock = self.dir / "metastore_db" / "dbex.lck"
        if not lock.exists():
            return
        deadline = time.monotonic() + timeout
        with lock.open("a") as f:
            while True:
                try:
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another process still holds {lock}") from None
                    time.sleep(0.1)  # polls the lock's state; the condition is the lock itself
                    continue
                fcntl.lockf(f, fcntl.LOCK_UN)
                return
