"""ReportBus: each report event goes to the handlers of its exact type, listener by listener
in the order given; the report and the rejected file each take only their types."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from dbt_pendo_sync.outputs import RejectedFile
from dbt_pendo_sync.report import make_report
from dbt_pendo_sync.report_events import (
    Debug,
    Message,
    ModelStarted,
    Note,
    ReportBus,
    ReportEvent,
    RowUndelivered,
    RunWarning,
)
from dbt_pendo_sync.targets.segments import SegmentSpec
from dbt_pendo_sync.vocab import Undelivered

SPEC = SegmentSpec("vips", "model.p.vips", "m.yml", "VIPs", "id")


class Kept:
    """A listener of `kinds` that keeps what it gets, as (its name, the event)."""

    def __init__(self, name: str, kinds: tuple[type[ReportEvent], ...], log: list) -> None:
        self.name, self.kinds, self.log = name, kinds, log

    def listen(self, bus: ReportBus) -> None:
        for kind in self.kinds:
            bus.on(kind, self.keep)

    def keep(self, event: ReportEvent) -> None:
        self.log.append((self.name, event))


class Failing:
    """A listener whose handler of notes raises."""

    def listen(self, bus: ReportBus) -> None:
        bus.on(Note, self.fail)

    def fail(self, event: Note) -> None:
        raise OSError(f"no room for {event.message}")


def test_each_event_goes_to_the_listeners_of_its_type_in_the_order_given():
    log: list = []
    fire = ReportBus(
        Kept("first", (Note, ModelStarted), log), Kept("second", (Note,), log), Kept("third", (Debug,), log)
    ).fire
    note, started, warning = Note("hi"), ModelStarted(SPEC, "rel"), RunWarning("careful")
    fire(note)
    fire(started)
    fire(warning)  # no listener of warnings: it goes nowhere
    assert log == [("first", note), ("second", note), ("first", started)]


def test_a_type_goes_to_its_exact_listeners_not_to_those_of_its_base():
    log: list = []
    fire = ReportBus(Kept("messages", (Message,), log), Kept("notes", (Note,), log)).fire
    note = Note("hi", {"paths": ["a"]})
    fire(note)
    fire(Debug("set up"))
    assert log == [("notes", note)]


def test_a_listeners_error_reaches_the_firer_and_stops_that_event_only():
    log: list = []
    fire = ReportBus(Kept("before", (Note,), log), Failing(), Kept("after", (Note, Debug), log)).fire
    note, debug = Note("full"), Debug("then")
    with pytest.raises(OSError, match="no room for full"):
        fire(note)
    fire(debug)
    assert log == [("before", note), ("after", debug)]


def test_the_report_and_the_rejected_file_each_take_only_their_events(tmp_path: Path):
    out = io.StringIO()
    report = make_report(Console(file=out), "json")
    rejected = RejectedFile(tmp_path / "rejected.jsonl", "run-1")
    fire = ReportBus(report, rejected).fire
    fire(Note("wrote it", {"paths": ["x"]}))
    fire(RowUndelivered(SPEC, Undelivered.REJECTED, "u-1", "Pendo refused it", {"visitorId": "u-1"}))
    rejected.publish()

    (line,) = out.getvalue().splitlines()  # the row undelivered is not the log's
    assert {k: v for k, v in json.loads(line).items() if k not in ("ts", "invocation_id")} == {
        "event": "note",
        "level": "info",
        "msg": "wrote it",
        "paths": ["x"],
    }
    (row,) = (tmp_path / "rejected.jsonl").read_text().splitlines()  # the note is not the file's
    assert json.loads(row) == {
        "model": "vips",
        "id": "u-1",
        "category": "rejected",
        "reason": "Pendo refused it",
        "payload": {"visitorId": "u-1"},
    }
