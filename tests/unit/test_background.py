"""Reads made ahead in a background thread (background.py): answers in order, and after a
failure no further read (the run would have stopped at it)."""

from __future__ import annotations

import threading

import pytest

from dbt_pendo_sync.background import in_background
from dbt_pendo_sync.errors import PendoError


def test_answers_come_out_where_they_are_needed_from_another_thread():
    threads: list[str] = []

    def read(answer: str) -> str:
        threads.append(threading.current_thread().name)
        return answer

    first, second = in_background([lambda: read("visitor"), lambda: read("account")], name="reads")
    assert (first.result(), second.result()) == ("visitor", "account")
    assert threads == ["reads", "reads"]


def test_after_a_failed_read_the_later_ones_fail_with_its_error_unmade():
    made: list[str] = []

    def unreachable() -> str:
        made.append("visitor")
        raise PendoError("Pendo could not be reached")

    def account() -> str:
        made.append("account")
        return "account"

    first, second = in_background([unreachable, account], name="reads")
    for future in (first, second):
        with pytest.raises(PendoError, match="could not be reached"):
            future.result()
    assert made == ["visitor"]
