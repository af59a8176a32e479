"""The rows of a JSON answer read as its bytes arrive: the items of its array, one at a time.

Pendo's aggregation answers ``{"results": [rows]}`` (or, some clients report, the rows as a
bare array), and one answer may hold every visitor of a subscription. Parsing it whole would
hold all of it in memory; this reads the array item by item with the standard library's JSON
decoder, keeping only the item being read and the bytes not read yet (no dependency such as
ijson).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_NOT_SPACE = re.compile(r"[^ \t\n\r]")  # JSON's white space is these four
_DECODER = json.JSONDecoder()


class MalformedJson(ValueError):
    """The answer is not JSON, or not an array nor an object holding one under the key read."""


class _Text:
    """The text of a stream of UTF-8 bytes, read ahead only as far as asked."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.ended = False

    def _more(self) -> bool:
        """Read on (the text read so far is dropped); False at the end of the stream."""
        if self.ended:
            return False
        try:
            piece = next((text for text in map(self._utf8.decode, self._chunks) if text), None)
            if piece is None:
                piece, self.ended = self._utf8.decode(b"", final=True), True
        except UnicodeDecodeError as exc:
            raise MalformedJson(f"not UTF-8 text ({exc.reason})") from None
        self.text, self.pos = self.text[self.pos :] + piece, 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), not consumed."""
        while True:
            found = _NOT_SPACE.search(self.text, self.pos)
            if found is not None:
                self.pos = found.start()
                return self.text[self.pos]
            self.pos = len(self.text)
            if not self._more():
                return ""

    def take(self, char: str) -> None:
        """Consume `char`, the next character that is not white space."""
        found = self.peek()
        if found != char:
            raise MalformedJson(f"expected {char!r}, found {found or 'the end'!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, read on until it is whole (a number is whole only when
        something follows it)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.ended:
                    raise MalformedJson(f"{exc.msg} (at character {exc.pos})") from None
            else:
                if end < len(self.text) or self.ended:
                    self.pos = end
                    return value
            self._more()

    def drain(self) -> None:
        """Read the stream to its end, unparsed (so a kept-alive connection can serve again)."""
        for _ in self._chunks:
            pass
        self.ended = True


def array_items(chunks: Iterable[bytes], key: str = "results") -> Iterator[Any]:
    """The items of the JSON array the bytes hold: the whole text, or the member `key` of an
    object (its other members are read and dropped), as each is read. MalformedJson when the
    text is neither; what follows the array is not checked."""
    text = _Text(chunks)
    start = text.peek()
    if start == "{":
        text.take("{")
        _to_member(text, key)
    elif start != "[":
        raise MalformedJson(f'expected an array, or an object with "{key}", found {start or "nothing"!r}')
    text.take("[")
    if text.peek() == "]":
        text.drain()
        return
    while True:
        yield text.value()
        if text.peek() != ",":
            break
        text.take(",")
    text.take("]")
    text.drain()


def _to_member(text: _Text, key: str) -> None:
    """Read an object's members up to the value of `key`."""
    while text.peek() != "}":
        name = text.value()
        text.take(":")
        if name == key:
            return
        text.value()
        if text.peek() != "}":
            text.take(",")
    raise MalformedJson(f'the answer is an object without "{key}"')
