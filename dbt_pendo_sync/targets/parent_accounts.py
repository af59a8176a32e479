"""Parent account metadata (`object: parent_account`): Pendo's `parentAccount` kind, which Pendo
support enables per subscription. A parent account block is a metadata block: its spec,
column and field checks, records and words are metadata's; its kind, its records' id key and
what becomes of Pendo's refusals are its own.

Pendo's documentation leaves two points open, and both are handled either way (README,
"Parent accounts"):

- Whether the subscription takes parent accounts at all: Pendo refusing the kind (400 or 404
  to its field schema, 404 to a write) stops the model with the fix, never the run.
- The id key of a record: records go keyed `parentAccountId` until Pendo's first answer
  settles it; a 400 that names `accountId` switches the model's run to `accountId` (once,
  said in a note) and the refused batch goes again. Its calls go unsplit until then, so a
  refusal of the key costs one call, not one per record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..dbt.artifacts import ModelNode
from ..errors import ConfigError, PendoKindRefusedError, Problem
from ..exposures import Exposure
from ..ledger.snapshot import ModelSnapshot, SnapshotColumns
from ..ledger.store import Ledger
from ..pendo.answers import BatchOutcome
from ..pendo.client import PendoClient
from ..records import Record, RecordJson
from ..report_events import Note, RunWarning
from .base import ModelRun, TargetSpec
from .metadata.spec import MetadataSpec, metadata_spec
from .metadata.target import MetadataSink, MetadataTarget

OBJECT = "parent_account"
KIND = "parentAccount"  # Pendo's name of the kind, in its schema and write URLs
ID_KEY, OTHER_KEY = "parentAccountId", "accountId"
_BUILT = "{" + json.dumps(ID_KEY) + ":"  # how every record's text starts (the warehouse's too)
_NAMES_OTHER_KEY = re.compile(r"(?<![A-Za-z])accountId")  # not the accountId of parentAccountId
ENABLE_FIX = (
    "parent accounts must be enabled for the subscription by Pendo support (or leave this model "
    "out of the selection)"
)


@dataclass(frozen=True)
class ParentAccountSpec(MetadataSpec):
    """A parent account block (`object: parent_account`): metadata of Pendo's parentAccount kind."""

    @property
    def kind(self) -> str:
        return KIND

    @property
    def id_key(self) -> str:
        """The key records are built with (the sender rekeys them after a switch)."""
        return ID_KEY


def refused_problem(spec: MetadataSpec, answer: str) -> Problem:
    """The problem of a model whose parent accounts Pendo refused (`answer`: what Pendo said)."""
    said = f" ({answer})" if answer else ""
    what = f"Pendo refused parent accounts{said}: this Pendo subscription does not have them"
    return spec.problem(what, ENABLE_FIX)


def rekeyed(records: Sequence[Record], key: str) -> Sequence[Record]:
    """The records keyed `key` (built keyed ID_KEY): dicts rebuilt, the warehouse's texts
    with their first key replaced."""
    if key == ID_KEY:
        return records
    start = "{" + json.dumps(key) + ":"
    return [
        start + r[len(_BUILT) :] if isinstance(r, RecordJson) else {key: r[ID_KEY], "values": r["values"]}
        for r in records
    ]


@dataclass
class IdKey:
    """The id key of one model's records in its run, shared by its sending threads."""

    current: str = ID_KEY
    settled: bool = False  # Pendo has answered records keyed `current`


@dataclass
class ParentAccountSender:
    """Parent account records through Pendo's bulk endpoint (kind parentAccount). Until the id
    key is settled a call is made unsplit: a 404 stops the model (no parent accounts), a 400
    naming accountId switches the key and sends the batch again, and any other 400 is sent
    again split, as every metadata write is, to isolate the records Pendo refuses."""

    client: PendoClient
    spec: MetadataSpec
    create: bool
    key: IdKey
    delivers: bool = True

    def send(self, records: Sequence[Record], ids: Sequence[str]) -> BatchOutcome:
        sent = self.key.current
        keyed, group = rekeyed(records, sent), self.spec.group
        if self.key.settled:
            return self.client.write_values(KIND, keyed, ids, self.create, group)
        answer = self.client.write_once(KIND, group, self.create, keyed, ids)
        if answer.status == 404:
            raise ConfigError(problems=[refused_problem(self.spec, f"404 to a write: {answer.text}")])
        if answer.status == 400 and sent == ID_KEY and _NAMES_OTHER_KEY.search(answer.text):
            self.key.current = OTHER_KEY
            return self.send(records, ids)
        if answer.status in (200, 400):
            self.key.settled = True
        if answer.status == 400 and len(records) > 1:
            return self.client.write_values(KIND, keyed, ids, self.create, group)
        return answer.outcome


class ParentAccountSink(MetadataSink):
    """One parent account model's sync: metadata's, with parent accounts' sender, and Pendo's
    refusal of the kind made the model's problem."""

    def __init__(self, spec: MetadataSpec, run: ModelRun) -> None:
        super().__init__(spec, run)
        self.key = IdKey()

    def read(self) -> SnapshotColumns:
        try:
            return super().read()
        except PendoKindRefusedError as exc:
            raise ConfigError(problems=[refused_problem(self.spec, str(exc))]) from None

    def frozen(self, snapshot: ModelSnapshot) -> None:
        """Parent accounts are not read back: with --adopt, every new row is sent."""
        if self.run.delivery.options.adopt:
            self.run.fire(
                RunWarning(
                    f"{self.spec.model}: parent accounts are not read back: --adopt sends every new row"
                )
            )

    def sender(self, client: PendoClient) -> ParentAccountSender:
        return ParentAccountSender(client, self.spec, self.run.delivery.options.create_missing, self.key)

    def after(self, ledger: Ledger) -> None:
        if self.key.current != ID_KEY:
            self.run.fire(
                Note(
                    f"{self.spec.model}: Pendo refused parent account records keyed {ID_KEY} and named "
                    f"{OTHER_KEY}: this run sent them keyed {OTHER_KEY} (the refused batch again)"
                )
            )


class ParentAccountsTarget(MetadataTarget):
    """Parent account metadata (`object: parent_account`), on metadata's block schema."""

    objects = (OBJECT,)

    def spec(self, model: ModelNode, block: Mapping[str, Any]) -> MetadataSpec:
        return metadata_spec(model, block, ParentAccountSpec)

    def refused(self, spec: MetadataSpec) -> Problem:
        return refused_problem(spec, "")

    def exposure(self, kind: str) -> Exposure:
        return Exposure(
            "pendo_parent_account_metadata", "Pendo parent account metadata", "Pendo parent account metadata"
        )

    def read_back(self, spec: TargetSpec, run: ModelRun) -> None:
        """Pendo's Aggregation API reads visitors and accounts only: parent accounts are not
        read back (audit skips them, --adopt sends every new row)."""
        return None

    def sink(self, spec: TargetSpec, run: ModelRun) -> ParentAccountSink:
        return ParentAccountSink(cast(MetadataSpec, spec), run)


PARENT_ACCOUNTS = ParentAccountsTarget()
