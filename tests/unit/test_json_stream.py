"""An answer's array read item by item as its bytes arrive (pendo/jsonstream.py): the same items
as json.loads whatever the chunks, both answer shapes, and a clear error for anything else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from dbt_pendo_sync.pendo.jsonstream import MalformedJson, array_items

ROWS = [
    {"visitorId": "v1", "f0": "pro", "f1": 1700000000123},
    {"visitorId": 'q"uote\\ ,]}', "f0": None, "f1": -1.5e3},
    {"visitorId": "é日本", "f0": ["a", {"b": [1, 2]}], "f1": True},
    12345,
    "text",
]


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"results": ROWS}),
        json.dumps(ROWS),
        json.dumps({"startTime": 1, "meta": {"results": "not this"}, "results": ROWS, "after": [1]}),
        json.dumps({"results": ROWS}, indent=2, ensure_ascii=False),
    ],
    ids=["results", "bare-array", "other-members-first", "pretty-utf8"],
)
def test_items_are_the_same_whatever_the_chunks(text):
    data = text.encode()
    for size in (1, 2, 3, 7, 64, len(data)):
        assert list(array_items(chunked(data, size))) == ROWS, size


def test_empty_arrays_and_empty_chunks():
    assert list(array_items([b'{"results": []}'])) == []
    assert list(array_items([b"", b"[", b"", b" ]", b""])) == []
    assert list(array_items([b"[1", b"", b"0, 2", b"]"])) == [10, 2]  # a number whole only once ended


def test_items_come_before_the_answer_ends():
    """The first item is handed on while the rest has not arrived: memory holds one item."""
    sent: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        for piece in (b'{"results": [{"id": 1},', b' {"id": 2}]}'):
            sent.append(piece)
            yield piece

    items = array_items(chunks())
    assert next(items) == {"id": 1} and len(sent) == 1
    assert list(items) == [{"id": 2}] and len(sent) == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "expected an array"),
        (b'"results"', "expected an array"),
        (b'{"total": 3}', 'without "results"'),
        (b'{"results": {"a": 1}}', "expected '['"),
        (b'{"results": [1, 2', "expected ']'"),
        (b'{"results": [1 2]}', "expected ']'"),
        (b'{"results": [{"a": }]}', "Expecting value"),
        (b'{"results": [{"a": 1}', "expected ']'"),
        (b'{"total" 3, "results": []}', "expected ':'"),
        (b'{"total": 3 "results": []}', "expected ','"),
        (b'[{"a": "\xff"}]', "not UTF-8"),
        (b'[{"a": "\xc3', "not UTF-8"),  # cut inside a character
    ],
)
def test_malformed_answers(data, message):
    for size in (1, len(data) or 1):
        with pytest.raises(MalformedJson, match=re.escape(message)):
            list(array_items(chunked(data, size)))
