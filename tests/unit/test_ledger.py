"""The ledger on a real DuckDB (in memory, one connection for the module) through the dbt
adapter: its tables, a model's snapshot diffed against the state, what a sync's session
merges, a crashed run's journal recovered, a segment's id kept, and the lock between runs."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from dbt_pendo_sync.dbt.artifacts import ModelNode
from dbt_pendo_sync.dbt.warehouse import Warehouse
from dbt_pendo_sync.errors import LockError
from dbt_pendo_sync.ledger.journal import Journal
from dbt_pendo_sync.ledger.lock import HOST, LedgerLock
from dbt_pendo_sync.ledger.session import recording
from dbt_pendo_sync.ledger.snapshot import ModelSnapshot, SnapshotColumns
from dbt_pendo_sync.ledger.store import (
    JOURNAL_TABLE,
    LOCK_TABLE,
    STATE_TABLE,
    TARGETS_TABLE,
    Ledger,
    LedgerLocation,
)
from dbt_pendo_sync.rows import RowShape
from dbt_pendo_sync.vocab import ChangeKind

from .tinyproject import TinyProject, fill, tiny_project

_CASES = itertools.count()

# One worker runs the module, whose warehouse is made once (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("unit_ledger")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    return tiny_project(tmp_path_factory.mktemp("ledger") / "tiny", ":memory:", {"people": None})


@pytest.fixture(scope="module")
def warehouse(tiny: TinyProject) -> Iterator[Warehouse]:
    """One connection to the in-memory database for the whole module (it ends with it)."""
    with tiny.connected() as w:
        yield w


@dataclass
class Case:
    """One test's model (a relation of (id, plan) rows) and its state in a schema of its own."""

    w: Warehouse
    store: Ledger
    node: ModelNode

    def fill(self, *rows: tuple[str, str | None]) -> None:
        fill(self.w, self.node, ("id", "plan"), rows)

    def snapshot(self, departed: bool = False) -> ModelSnapshot:
        columns = SnapshotColumns(kind="test", id_column="id", mapping={"plan": "plan"}, departed=departed)
        return ModelSnapshot(
            self.store, self.node, columns, full_resync=False, state_exists=self.store.exists()
        )

    def lock(self, wait: float = 0.0, stale_after: float = 60.0, **kwargs) -> LedgerLock:
        return LedgerLock(self.store, self.node, wait=wait, stale_after=stale_after, **kwargs)

    def sync(self, skipped: Sequence[str] = ()) -> dict[ChangeKind, int]:
        """A sync's session around a snapshot whose rows all go in one batch, answered with
        `skipped` not confirmed; the snapshot's counts."""
        snapshot = self.snapshot()
        with recording(self.store, self.node, snapshot, lock=self.lock()) as journal:
            snapshot.create()
            counts = snapshot.counts()
            keys = [RowShape.key_of(row) for row in rows_of(snapshot)]
            if keys:
                journal.record(0, keys[0], keys[-1], skipped)
        return counts

    def state(self) -> set[str]:
        return {str(rid) for (rid,) in self.w.query(f"select record_id from {self.store.state}")}

    def journal_rows(self) -> int:
        return len(self.w.query(f"select kind from {self.store.journal}"))


def rows_of(snapshot: ModelSnapshot) -> list[tuple]:
    return [tuple(row) for chunk in snapshot.chunks() for row in chunk]


def counted(**counts: int) -> dict[ChangeKind, int]:
    """Every change kind's count: those given, 0 for the others."""
    return {kind: counts.get(kind.value, 0) for kind in ChangeKind}


@pytest.fixture
def case(tiny: TinyProject, warehouse: Warehouse) -> Case:
    n = next(_CASES)
    node = tiny.model(f"people_{n}", like="people")
    return Case(warehouse, Ledger(warehouse, LedgerLocation(node.database, f"state_{n}")), node)


def test_ensure_creates_the_ledger_tables_once(case):
    assert not case.store.exists()
    case.store.ensure()
    case.store.ensure()  # a second run finds them: no error, nothing lost
    assert case.store.exists()
    tables = case.w.table_names(case.store.location.database, case.store.location.schema)
    assert {STATE_TABLE, JOURNAL_TABLE, LOCK_TABLE, TARGETS_TABLE} <= tables
    assert case.state() == set() and not case.store.holds(case.node)


def test_a_snapshot_finds_new_changed_unchanged_and_removed_rows(case):
    case.fill(("a", "basic"), ("b", "pro"), ("c", "pro"))
    case.store.ensure()
    first = case.snapshot()
    first.create()
    assert first.counts() == counted(new=3) and first.frozen == 3
    shape = first.shape
    assert shape.fields == ("plan",) and not shape.change
    read = [(shape.id_of(r), tuple(shape.values_of(r))) for r in rows_of(first)]
    assert read == [("a", ("basic",)), ("b", ("pro",)), ("c", ("pro",))]  # in key order
    first.drop()
    case.sync()
    assert case.state() == {"a", "b", "c"}

    case.fill(("a", "basic"), ("b", "enterprise"), ("d", "free"))  # c left the model
    second = case.snapshot()
    second.create()
    assert second.counts() == counted(new=1, changed=1, same=1, dropped=1)
    assert [(second.shape.id_of(r), *second.shape.values_of(r)) for r in rows_of(second)] == [
        ("b", "enterprise"),
        ("d", "free"),
    ]  # only what is sent: not the unchanged row, nor the dropped one
    second.drop()

    removing = case.snapshot(departed=True)  # a target that clears what left the model
    removing.create()
    assert removing.counts() == counted(new=1, changed=1, same=1, removed=1)
    changes = {
        removing.shape.id_of(r) or RowShape.key_of(r): removing.shape.change_of(r) for r in rows_of(removing)
    }
    assert changes == {"b": ChangeKind.CHANGED, "c": ChangeKind.REMOVED, "d": ChangeKind.NEW}
    removing.drop()


def test_a_session_merges_only_what_pendo_confirmed(case):
    case.fill(("a", "basic"), ("b", "pro"), ("c", "pro"), ("d", "free"))
    assert case.sync(skipped=["b"]) == counted(new=4)
    assert case.state() == {"a", "c", "d"}  # b's batch was answered, b not confirmed
    assert case.journal_rows() == 0  # folded into the state
    again = case.snapshot()
    assert not case.w.table_exists(again.table)  # the session dropped its snapshot

    assert case.sync() == counted(new=1, same=3)  # b is found again, and sent
    assert case.state() == {"a", "b", "c", "d"}


def test_a_session_that_stops_early_keeps_what_was_confirmed(case):
    case.fill(("a", "basic"), ("b", "pro"), ("c", "pro"))
    snapshot = case.snapshot()
    with pytest.raises(RuntimeError), recording(case.store, case.node, snapshot, lock=case.lock()) as journal:
        snapshot.create()
        journal.record(0, "a", "a", [])  # the first batch answered, then the run stops
        raise RuntimeError("stopped")
    assert case.state() == {"a"}
    assert case.sync() == counted(new=2, same=1)


def test_a_crashed_runs_journal_is_recovered_by_the_next_session(case):
    case.fill(("a", "basic"), ("b", "pro"), ("c", "pro"), ("d", "free"))
    case.store.ensure()
    crashed = case.snapshot()
    crashed.create()
    journal = Journal(case.store, case.node, case.lock())
    journal.record(0, "a", "b", [])
    journal.close()  # written, then the run died: no merge, its snapshot left behind
    assert case.state() == set() and case.journal_rows() == 1

    snapshot = case.snapshot()
    with recording(case.store, case.node, snapshot, lock=case.lock()):
        assert case.state() == {"a", "b"} and case.journal_rows() == 0
        assert not case.w.table_exists(snapshot.table)  # the crashed run's, dropped
        snapshot.create()
        assert snapshot.counts() == counted(new=2, same=2)
    assert case.state() == {"a", "b"}  # nothing of this session was confirmed

    case.w.execute(
        f"insert into {case.store.journal} values ({case.w.literal(case.node.unique_id)}, 'range', 'c', 'd')"
    )
    case.store.recover(case.node, snapshot.table)  # a journal without its snapshot means nothing
    assert case.journal_rows() == 0 and case.state() == {"a", "b"}


def test_a_models_target_id_is_kept_replaced_and_forgotten(case):
    assert case.store.target_id(case.node) is None  # no tables yet
    case.fill(("a", "basic"))
    case.sync()
    assert case.store.target_id(case.node) is None
    case.store.keep_target_id(case.node, "seg-1")
    case.store.keep_target_id(case.node, "seg-2")
    assert case.store.target_id(case.node) == "seg-2"
    case.store.forget(case.node)  # its segment is gone in Pendo: start over
    assert case.store.target_id(case.node) is None and case.state() == set()


def test_a_second_lock_on_the_model_is_refused_while_the_first_holds_it(case):
    case.store.ensure()
    first = case.lock().acquire()
    with pytest.raises(LockError, match=f"model {case.node.name} is being synced by another run"):
        case.lock(wait=0).acquire()
    first.release()
    case.lock(wait=0).acquire().release()


def test_a_waiting_lock_is_taken_when_the_holder_releases_it(case):
    case.store.ensure()
    first = case.lock().acquire()
    told: list[str] = []
    waiting = threading.Event()
    acquired: list[LedgerLock] = []

    def second() -> None:
        with case.w.worker_connection("second-run"):
            lock = case.lock(wait=30, stale_after=20, say=lambda m: (told.append(m), waiting.set()))
            acquired.append(lock.acquire())
            lock.release()

    thread = threading.Thread(target=second)
    thread.start()
    assert waiting.wait(30), "the second run never said it waits"
    assert not acquired and "the lock is held by" in told[0]
    first.release()
    thread.join(30)
    assert acquired


def test_the_claim_of_a_run_that_died_is_taken_over(case):
    case.store.ensure()
    dead = subprocess.Popen(["true"])
    dead.wait()
    mid = case.w.literal(case.node.unique_id)
    case.w.execute(
        f"insert into {case.store.lock} values ({mid}, 'elsewhere:1:a', 0)",  # no heartbeat for ages
        f"insert into {case.store.lock} values ({mid}, '{HOST}:{dead.pid}:b', {int(time.time())})",
    )
    lock = case.lock(wait=0).acquire()
    owners = [o for (o,) in case.w.query(f"select owner from {case.store.lock}")]
    assert owners == [lock.owner]
    lock.release()
