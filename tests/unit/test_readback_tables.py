"""The read-back's tables on a real dbt-duckdb adapter: any text goes in and comes back as it
was, through the bulk loader and through `insert ... values`; Pendo's copy cut into ranges of
ids compares every record exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_pendo_sync.dbt.loaders import InsertLoader
from dbt_pendo_sync.dbt.warehouse import Warehouse
from dbt_pendo_sync.ledger.store import Ledger, LedgerLocation
from dbt_pendo_sync.readback.compare import Judged, Source, compare_all
from dbt_pendo_sync.readback.copy import IdList, PendoCopy, TextTable
from dbt_pendo_sync.targets.base import ReadBack, ReadBackField

from .tinyproject import TinyProject, fill, tiny_project

AWKWARD = [
    ("a,b", 'say "hi"', None),
    ("line\nbreak", "", "back\\slash"),
    ("ünïcødé ✓", "'quoted'", "null"),
    ('"', ",", "\r\n"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyProject:
    path: Path = tmp_path_factory.mktemp("tables")
    return tiny_project(
        path, str(path / "tables.duckdb"), {"visitors": {"object": "visitor", "id_column": "id"}}
    )


@pytest.fixture
def ledger(tiny: TinyProject) -> Iterator[Ledger]:
    with tiny.connected() as w:
        location = LedgerLocation(tiny.node("visitors").database, "main")
        yield Ledger(w, location)


def _rows(w: Warehouse, table: TextTable) -> list[tuple]:
    return sorted(w.query(f"select * from {table.table}"), key=repr)


@pytest.mark.parametrize("loader", ["bulk", "insert"])
def test_any_text_and_nulls_load_unchanged(ledger: Ledger, loader: str) -> None:
    table = TextTable(ledger, "pendo_sync_read_awkward", 3)
    table.create()
    try:
        if loader == "bulk":
            assert table.load(AWKWARD) == len(AWKWARD)
        else:
            assert InsertLoader().load(ledger.warehouse, str(table.table), AWKWARD) == len(AWKWARD)
        assert _rows(ledger.warehouse, table) == sorted(AWKWARD, key=repr)
    finally:
        table.drop()


def _field() -> ReadBackField:
    return ReadBackField("plan", "custom", "plan", str, clears=False, pendo_type="string")


def test_a_copy_cut_into_ranges_compares_every_record_once(tiny: TinyProject, ledger: Ledger) -> None:
    w, node = ledger.warehouse, tiny.node("visitors")
    ids = [f"u-{i:04d}" for i in range(1, 996)] + ["Zed", "ärger", "o'hara", "", "a\nb"]
    fill(w, node, ["id", "plan"], [(rid, "pro") for rid in ids])
    copy = PendoCopy(ledger, node, [_field()], part_rows=100)
    copy.create()
    equal = IdList(ledger, node, "adopt_")
    try:
        pages = [[(rid, {"custom": {"plan": "pro" if i % 7 else "free"}}) for i, rid in enumerate(ids)]]
        copy.add(pages)
        assert len(copy.ranges()) >= 5
        read = ReadBack("visitor", "id", (_field(),))
        recent = ids[::20]  # synced a moment ago: not judged
        source = Source(str(w.relation(node)), _state(w, recent), 60)
        tally = compare_all(w, copy, read, source, Judged(equal=equal))
        assert (tally.records, tally.recent, tally.compared, tally.absent) == (1000, 50, 950, 0)
        judged = [(i, rid) for i, rid in enumerate(ids) if rid not in recent]
        held_equal = {rid for i, rid in judged if i % 7}
        assert (tally.equal, tally.drifted) == (len(held_equal), len(judged) - len(held_equal))
        equal.load_spooled()
        assert {r for (r,) in w.query(f"select __rid from {equal.table}")} == held_equal
    finally:
        copy.drop()
        equal.drop()


def _state(w: Warehouse, ids: list[str]) -> str:
    """SQL of state rows of these ids, synced now."""
    rows = " union all ".join(
        f"select {w.literal(rid)} as record_id, current_timestamp as synced_at" for rid in ids
    )
    return rows
