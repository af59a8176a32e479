"""One sync of a model at a time, across processes and machines."""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable

from ..dbt.artifacts import ModelNode
from ..dbt.warehouse import Warehouse
from ..errors import LockError
from .store import Ledger

HEARTBEAT_SECONDS = 5.0
HOST = socket.gethostname()


def _died_here(owner: str) -> bool:
    """Whether a claim's owner (host:pid:nonce) was a process of this machine that is gone
    (or a zombie: killed, not yet reaped)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class LedgerLock:
    """One sync of a model at a time, across processes and machines: the lock is a row in
    the state schema, kept alive by a heartbeat.

    To acquire, a run commits its claim, then reads the claims: alone, it holds the lock;
    otherwise it withdraws and tries again until `wait` runs out. Of two runs that claim at
    once, at least one sees the other (each commits before it reads), so both can never
    hold it. A claim belongs to a run that died, and is removed, when its owner (host:pid)
    is a process of this machine that is gone, or when its heartbeat is older than
    `stale_after` seconds (an owner on another machine). A claim that will be stale before
    `wait` runs out is waited for, and `say` tells the user so.
    """

    def __init__(
        self,
        store: Ledger,
        model: ModelNode,
        *,
        wait: float,
        stale_after: float,
        say: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._store = store
        self._model = model
        self._wait = wait
        self._stale_after = stale_after
        self._say = say
        self._said: set[str] = set()
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _where(self, w: Warehouse) -> str:
        return f"model_id = {w.literal(self._model.unique_id)}"

    def acquire(self) -> LedgerLock:
        """Hold the lock, or raise LockError after waiting."""
        w = self._store.warehouse
        deadline = time.monotonic() + self._wait
        while True:
            w.execute(
                f"insert into {self._store.lock} (model_id, owner, heartbeat) values "
                f"({w.literal(self._model.unique_id)}, {w.literal(self.owner)}, {int(time.time())})"
            )
            others = self._live_others(w)
            if not others:
                return self
            self.release()
            self._tell_wait(others, deadline)
            if time.monotonic() > deadline:
                owner, beat = others[0]
                raise LockError(
                    f"model {self._model.name} is being synced by another run ({owner}, last "
                    f"heartbeat {int(time.time() - beat)} s ago; lock table {self._store.lock}); "
                    f"waited {self._wait:.0f} s. Try again when it ends; the lock of a run that "
                    f"died is taken over after {self._stale_after:.0f} s without a heartbeat"
                )
            time.sleep(random.uniform(0.2, 0.6))

    def _live_others(self, w: Warehouse) -> list[tuple[str, int]]:
        # A claim may have a row per heartbeat (dialect.py): its latest counts.
        rows = w.query(
            f"select owner, max(heartbeat) from {self._store.lock} where {self._where(w)} group by owner"
        )
        now = time.time()
        others = [(str(o), int(h)) for o, h in rows if o != self.owner]
        stale = [o for o, h in others if now - h > self._stale_after or _died_here(o)]
        if stale:
            names = ", ".join(w.literal(o) for o in stale)
            self._store.dialect.delete(w, self._store.lock, f"{self._where(w)} and owner in ({names})")
        return [(o, h) for o, h in others if o not in stale]

    def _tell_wait(self, others: list[tuple[str, int]], deadline: float) -> None:
        """Say once per claim that the run waits for it to go stale, when it will within
        the wait (a run on another machine, killed without a word, keeps its claim)."""
        for owner, beat in others:
            stale_in = self._stale_after - (time.time() - beat)
            if owner not in self._said and time.monotonic() + stale_in <= deadline:
                self._said.add(owner)
                self._say(
                    f"{self._model.name}: the lock is held by {owner} (last heartbeat "
                    f"{int(time.time() - beat)} s ago); waiting up to {stale_in:.0f} s for it to end "
                    f"or go stale (--lock-stale-after {self._stale_after:g})"
                )

    @property
    def beat_every(self) -> float:
        """Seconds between heartbeats: well inside the stale time, and not on every write."""
        return min(HEARTBEAT_SECONDS, self._stale_after / 4)

    def heartbeat(self, w: Warehouse) -> None:
        """Refresh the claim (from the thread whose connection `w` is on)."""
        self._store.dialect.heartbeat(
            w, self._store.lock, w.literal(self._model.unique_id), w.literal(self.owner), int(time.time())
        )

    def release(self) -> None:
        """Withdraw the claim."""
        w = self._store.warehouse
        self._store.dialect.delete(
            w, self._store.lock, f"{self._where(w)} and owner = {w.literal(self.owner)}"
        )
