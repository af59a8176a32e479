"""Deterministic fault injection (``Fault``): the faults an emulator holds and how they change
the answer to a numbered call."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .answers import Answer, Incoming, json_answer
from .segments import OPERATIONS, SEGMENT_PATH

FAULT_KINDS = frozenset({"status", "drop", "delay", "malformed", "cut", "partial", "bad_rows", "multistatus"})
DROPPED = Answer(0)
MALFORMED = Answer(200, b'{"total": 1, "updated": 1, "fai', "application/json")


@dataclass
class Fault:
    """One deterministic fault; see the field comments for what each kind does.

    Numbered calls are metadata write POSTs, track POSTs, segment uploads and segment PATCHes,
    each family numbered on its own (``requests={2}`` aimed at "/api/v1/segment" hits the 2nd
    upload and the 2nd PATCH; ``method`` or ``path_prefix="/api/v1/segment/upload"`` tells
    them apart). Aim a fault at track calls with ``path_prefix="/data/track"``, at segment calls
    with ``path_prefix="/api/v1/segment"``. "partial" and "bad_rows" act on metadata writes only:
    other calls ignore them. "multistatus" acts on segment PATCHes only: the named operation of
    the call gets ``status`` and a message in its multistatus entry inside a 200, and its ids
    are not applied, while the call's other operation applies (a call without that operation
    is answered normally).
    """

    # "status" | "drop" | "delay" | "malformed" | "cut" (half the answer, then the connection
    # dropped) | "partial" | "bad_rows" | "multistatus"
    kind: str
    status: int = 500  # for "status"; for "multistatus": the failed operation's entry status
    retry_after: str | None = None  # for "status": Retry-After header value
    delay: float = 0.0  # for "delay": seconds to sleep before answering normally
    ids: frozenset[str] = frozenset()  # for "bad_rows" (400 whole batch) and "partial" (errors)
    requests: frozenset[int] | None = None  # only these call numbers (1-based)
    first: int | None = None  # only the first N matching numbered calls
    rate: float | None = None  # only with this probability, drawn from Random(seed)
    seed: int = 0
    # None: "/api/v1/segment" for "multistatus", else "/api/v1/metadata/"
    path_prefix: str | None = None
    operation: str = "add"  # for "multistatus": the PATCH operation that fails, "add" or "remove"
    method: str | None = None  # only requests with this HTTP method ("multistatus": PATCH)
    _prefix: str = field(default="", init=False, repr=False, compare=False)
    _matched: int = field(default=0, init=False, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.operation not in OPERATIONS:
            raise ValueError(f'operation must be "add" or "remove", not {self.operation!r}')
        if self.method is not None:
            self.method = self.method.upper()
        if self.kind == "multistatus":
            if self.method not in (None, "PATCH"):
                raise ValueError("a multistatus fault acts on PATCH calls only")
            self.method = "PATCH"
        default_prefix = SEGMENT_PATH if self.kind == "multistatus" else "/api/v1/metadata/"
        self._prefix = default_prefix if self.path_prefix is None else self.path_prefix
        self.ids = frozenset(self.ids)
        if self.requests is not None:
            self.requests = frozenset(self.requests)
        self._rng = random.Random(self.seed)

    def _fires(self, method: str, path: str, call: int | None) -> bool:
        """Whether this fault hits a request; advances its counter and random draws."""
        if not path.startswith(self._prefix) or self.method not in (None, method):
            return False
        if self.requests is not None or self.first is not None:
            if call is None or (self.requests is not None and call not in self.requests):
                return False
        if self.first is not None:
            self._matched += 1
            if self._matched > self.first:
                return False
        return self.rate is None or self._rng.random() < self.rate


class FaultPlan:
    """The faults an emulator applies, evaluated in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Add a fault after the existing ones."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def due(self, method: str, path: str, call: int | None) -> list[Fault]:
        """The faults that hit a request (call: its number in its family, None if unnumbered)."""
        with self._lock:
            return [f for f in self._faults if f._fires(method, path, call)]


def faulted(req: Incoming, faults: list[Fault], route: Callable[[Incoming], Answer]) -> Answer:
    """The answer to a call hit by `faults` (in the order added): each "delay" waits, a "status"
    or a "drop" answers instead of `route`; else what `route` answers with the ids and operations
    the "partial", "bad_rows" and "multistatus" faults name set on `req`, broken off halfway
    by a "cut" fault, replaced by a malformed body when a "malformed" fault is among them."""
    for fault in faults:
        if fault.kind == "delay":
            time.sleep(fault.delay)
        elif fault.kind == "status":
            retry = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            return json_answer(fault.status, {"error": f"injected fault: HTTP {fault.status}"}, retry)
        elif fault.kind == "drop":
            return DROPPED
    req.fail_ids = frozenset().union(*(f.ids for f in faults if f.kind == "partial"))
    req.reject_ids = frozenset().union(*(f.ids for f in faults if f.kind == "bad_rows"))
    req.failed_operations = {f.operation: f.status for f in faults if f.kind == "multistatus"}
    answer = route(req)
    if any(f.kind == "cut" for f in faults):
        answer = replace(answer, cut=True)
    return MALFORMED if any(f.kind == "malformed" for f in faults) else answer
