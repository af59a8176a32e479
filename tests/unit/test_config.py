"""pendo blocks into target specs, and their problems as records a person can act on."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_pendo_sync.config import spec_for
from dbt_pendo_sync.dbt.artifacts import ColumnNode, ModelNode
from dbt_pendo_sync.errors import ConfigError
from dbt_pendo_sync.vocab import NullPolicy


def _model(block: Any, columns: dict[str, dict] | None = None) -> ModelNode:
    return ModelNode(
        unique_id="model.p.people",
        name="people",
        package_name="p",
        database="db",
        schema="main",
        alias="people",
        relation_name='"db"."main"."people"',
        materialized="table",
        enabled=True,
        meta={"pendo": block},
        columns={n: ColumnNode(n, None, {"pendo": b}) for n, b in (columns or {}).items()},
        tags=(),
        original_file_path="models/people.sql",
        patch_path="p://models/people.yml",
    )


def test_a_valid_block_becomes_a_typed_spec():
    spec = spec_for(_model({"object": "account", "id_column": "org_id", "nulls": "clear"}))
    assert spec.object == "account" and spec.id_key == "accountId"
    assert spec.nulls is NullPolicy.CLEAR and spec.batch_size == 500


def test_every_problem_of_a_block_is_a_record_with_model_file_and_fix():
    with pytest.raises(ConfigError) as caught:
        spec_for(_model({"object": "visitors", "id_column": "id", "fileds": {}}))
    problems = caught.value.problems
    assert {p.model for p in problems} == {"people"} and {p.file for p in problems} == {"models/people.yml"}
    assert any("did you mean 'fields'" in p.problem for p in problems)
    assert any(p.fix == "use one of: visitor, account, parent_account, event, segment" for p in problems)


def test_columns_are_matched_case_insensitively_and_every_mismatch_is_reported():
    spec = spec_for(_model({"object": "visitor", "id_column": "ID"}, {"ghost": {"field": "g"}}))
    _, mapping, problems = spec.match_columns(["id", "first-name", "Plan"])
    assert mapping == {"first-name": "first-name", "Plan": "Plan"}
    assert [p.problem.split(" ")[0:2] for p in problems] == [
        ["column", "'ghost'"],
        ["column", "'first-name'"],
    ]
    assert "rename it with `pendo: {field: first_name}`" in problems[1].fix


def test_a_fields_mapping_written_the_wrong_way_round_is_named_with_the_right_one():
    spec = spec_for(_model({"object": "visitor", "id_column": "id", "fields": {"company_plan": "plan_tier"}}))
    _, _, problems = spec.match_columns(["id", "plan_tier"])
    (problem,) = problems
    assert problem.problem.startswith("mapped column 'company_plan' is not a column of the built relation")
    assert problem.fix == (
        "reversed? write {plan_tier: company_plan}: `fields` maps column -> Pendo field "
        "(else fix the pendo block or rebuild the model)"
    )
    # A key that is no column, and a value that is none either: no such guess.
    _, _, problems = spec.match_columns(["id", "plan"])
    assert problems[0].fix == "fix the pendo block or rebuild the model"


def test_two_columns_on_one_event_property_are_named():
    block = {"object": "event", "event": "E", "visitor_id_column": "v", "timestamp_column": "t"}
    with pytest.raises(ConfigError) as caught:
        spec_for(_model({**block, "properties": {"plan": "tier", "plan_name": "tier"}}))
    (problem,) = caught.value.problems
    assert problem.problem == "columns 'plan' and 'plan_name' both map to event property 'tier'"
