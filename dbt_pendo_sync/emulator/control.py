"""The emulator's own control surface under /_emulator/: the values and segments it holds,
values changed as a Pendo admin would by hand, faults added and cleared, its stats. No key,
never faulted, not delayed and not recorded in the request log."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .answers import NOT_FOUND, Answer, Incoming, Routes, json_answer, text_answer
from .data import GROUPS, ID_FIELDS
from .faults import Fault

if TYPE_CHECKING:
    from .server import PendoEmulator


class Control:
    """The /_emulator/ endpoints of one emulator."""

    def __init__(self, emulator: PendoEmulator) -> None:
        self._emulator = emulator
        self.routes: Routes = [
            ("GET", re.compile(r"/_emulator/values/([^/]+)"), self._values),
            ("POST", re.compile(r"/_emulator/values"), self._set_values),
            ("GET", re.compile(r"/_emulator/segments"), self._segments),
            ("POST", re.compile(r"/_emulator/faults"), self._add_fault),
            ("DELETE", re.compile(r"/_emulator/faults"), self._clear_faults),
            ("GET", re.compile(r"/_emulator/stats"), self._stats),
        ]

    def _values(self, req: Incoming, kind: str) -> Answer:
        group = req.query.get("group", "custom")
        if kind not in ID_FIELDS or group not in GROUPS:
            return NOT_FOUND
        return json_answer(200, self._emulator.all_values(kind, group))

    def _set_values(self, req: Incoming) -> Answer:
        """{"kind": "visitor"|"account"|"parentAccount", "group": "custom"|"agent" (default
        custom), "id": ..., "values": {field: value}}: set as by hand in Pendo, unchecked (null
        clears a field)."""
        problem = _edit_problem(req.body)
        if problem:
            return text_answer(400, problem)
        body = req.body
        self._emulator.set_values(body["kind"], body["id"], body["values"], body.get("group", "custom"))
        return json_answer(200, {})

    def _segments(self, req: Incoming) -> Answer:
        return json_answer(200, self._emulator.segments())

    def _add_fault(self, req: Incoming) -> Answer:
        try:
            fault = Fault(**req.body)
        except (TypeError, ValueError) as exc:
            return text_answer(400, f"invalid fault: {exc}")
        self._emulator.faults.add(fault)
        return json_answer(200, {})

    def _clear_faults(self, req: Incoming) -> Answer:
        self._emulator.faults.clear()
        return json_answer(200, {})

    def _stats(self, req: Incoming) -> Answer:
        return json_answer(200, self._emulator.stats())


def _edit_problem(body: Any) -> str | None:
    """What is wrong with the body of POST /_emulator/values, as the text of a 400."""
    shape = (
        '{"kind": "visitor"|"account"|"parentAccount", "group": "custom"|"agent", "id": ..., "values": {...}}'
    )
    if not isinstance(body, dict) or set(body) - {"kind", "group", "id", "values"}:
        return f"body must be a JSON object {shape}"
    if body.get("kind") not in ID_FIELDS or body.get("group", "custom") not in GROUPS:
        return f"kind must be {', '.join(ID_FIELDS)}; group custom or agent: {shape}"
    if not isinstance(body.get("id"), str) or not body["id"] or not isinstance(body.get("values"), dict):
        return f'"id" must be a non-empty string and "values" an object: {shape}'
    return None
