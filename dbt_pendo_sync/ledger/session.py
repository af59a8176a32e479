"""How a run uses the ledger around one model's send: a sync records, a dry run only looks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..dbt.artifacts import ModelNode
from .journal import Journal
from .lock import LedgerLock
from .snapshot import ModelSnapshot
from .store import Ledger


class DiscardedProgress:
    """The journal of a dry run: progress is noted nowhere (the engine's ProgressJournal)."""

    def record(self, batch: int, lo: str, hi: str, skipped: Sequence[str]) -> None:
        """Nothing was sent, so nothing is confirmed."""

    def intend(self, keys: Sequence[str]) -> None:
        """Nothing is sent."""

    def withdraw(self, keys: Sequence[str]) -> None:
        """Nothing was sent."""


@contextmanager
def recording(
    store: Ledger, model: ModelNode, snapshot: ModelSnapshot, *, lock: LedgerLock
) -> Iterator[Journal]:
    """A sync: the lock held, a crashed run's progress recovered, then the journal that the
    block fills; at the end what Pendo confirmed is merged into the state, even when the
    block stops early. Dropped records are forgotten only after a complete pass; a failed
    merge leaves journal and snapshot for the next run to recover."""
    store.ensure()
    lock.acquire()
    try:
        journal = Journal(store, model, lock)
        completed = False
        try:
            store.recover(model, snapshot.table, only_new=snapshot.immutable)
            yield journal
            completed = True
        finally:
            try:
                journal.close()
            finally:
                if store.warehouse.table_exists(snapshot.table):
                    store.merge(
                        model,
                        snapshot.table,
                        replace_all=snapshot.full_resync and completed,
                        forget_dropped=completed and not snapshot.immutable,
                        only_new=snapshot.immutable,
                    )
                    snapshot.drop()
                    if snapshot.keep_since is not None:
                        store.prune(model, snapshot.keep_since)
    finally:
        lock.release()


@contextmanager
def previewing(snapshot: ModelSnapshot) -> Iterator[DiscardedProgress]:
    """A dry run: the same snapshot and diff, no lock, nothing recorded, the snapshot dropped."""
    try:
        yield DiscardedProgress()
    finally:
        snapshot.drop()
