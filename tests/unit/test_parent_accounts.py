"""Parent accounts' pure parts: the block as a spec of Pendo's parentAccount kind, the parent
column of account blocks, and records rekeyed when Pendo wants accountId."""

from __future__ import annotations

import json

import pytest

from dbt_pendo_sync.config import spec_for
from dbt_pendo_sync.errors import ConfigError
from dbt_pendo_sync.targets import registry
from dbt_pendo_sync.targets.parent_accounts import PARENT_ACCOUNTS, rekeyed

from .test_config import _model


def test_a_parent_account_block_is_metadata_of_pendos_parent_account_kind():
    spec = spec_for(_model({"object": "parent_account", "id_column": "org_id", "nulls": "clear"}))
    assert (spec.object, spec.kind, spec.id_key) == ("parent_account", "parentAccount", "parentAccountId")
    assert registry.for_spec(spec) is PARENT_ACCOUNTS
    assert PARENT_ACCOUNTS.field_schemas(spec) == [("parentAccount", "custom")]


def test_the_parent_column_is_not_sent_as_a_field_unless_mapped():
    spec = spec_for(_model({"object": "account", "id_column": "id", "parent_account_id_column": "ORG"}))
    _, mapping, problems = spec.match_columns(["id", "org", "plan"])
    assert (mapping, problems) == ({"plan": "plan"}, [])
    _, _, problems = spec.match_columns(["id", "plan"])
    assert [p.problem.split(" (")[0] for p in problems] == [
        "parent_account_id_column 'ORG' is not a column of the built relation"
    ]
    mapped = {
        "object": "account",
        "id_column": "id",
        "parent_account_id_column": "org",
        "fields": {"org": "org"},
    }
    assert spec_for(_model(mapped)).match_columns(["id", "org"])[1] == {"org": "org"}


@pytest.mark.parametrize("kind", ["visitor", "parent_account"])
def test_only_account_blocks_take_a_parent_column(kind):
    with pytest.raises(ConfigError) as caught:
        spec_for(_model({"object": kind, "id_column": "id", "parent_account_id_column": "org"}))
    (problem,) = caught.value.problems
    assert problem.problem == f"pendo.parent_account_id_column: a {kind} block has no parent account"


def test_records_are_rekeyed_as_dicts_and_as_the_warehouses_text():
    built = [
        {"parentAccountId": "org-1", "values": {"region": "eu"}},
        '{"parentAccountId":"org-2","values":{"arr":12.5}}',
    ]
    assert rekeyed(built, "parentAccountId") is built
    first, second = rekeyed(built, "accountId")
    assert first == {"accountId": "org-1", "values": {"region": "eu"}}
    assert isinstance(second, str) and json.loads(second) == {"accountId": "org-2", "values": {"arr": 12.5}}
