"""Whose lock claim is a dead run's: a process of this machine that is gone is known at once."""

from __future__ import annotations

import os
import subprocess
import sys

from dbt_pendo_sync.ledger.lock import HOST, _died_here


def test_a_claim_of_a_process_gone_from_this_machine_is_a_dead_runs():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = int(done.stdout)
    assert _died_here(f"{HOST}:{gone}:abcd1234")
    assert not _died_here(f"{HOST}:{os.getpid()}:abcd1234")  # alive
    assert not _died_here(f"elsewhere-{HOST}:{gone}:abcd1234")  # another machine: only staleness says
    assert not _died_here("an-owner-of-an-older-version")


def test_a_killed_process_not_yet_reaped_is_gone_too():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, still a zombie
    try:
        assert _died_here(f"{HOST}:{child.pid}:abcd1234")
    finally:
        child.wait()
