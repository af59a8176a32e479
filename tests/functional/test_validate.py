"""`dbt-pendo validate` lists every problem a sync would meet, each with its fix, from the
blocks, the built relations and Pendo's fields; it is clean on sample_project."""

from __future__ import annotations

import shutil

import pytest

from dbt_pendo_sync.emulator import EmulatorData

from ..conftest import (
    ROOT,
    DbtProject,
    base_env,
    emulator_key,
    emulator_track_secret,
    make_emulator,
)

FIXTURE = ROOT / "tests" / "fixtures" / "bad_config_project"
READ_ONLY_KEY = "pk-read-only-validate"

# One expected fragment per kind of problem (model -> problem, fix), in the table's words.
KINDS = {
    "typo_key": ("unknown key 'fileds'", "allowed keys:"),
    "bad_object": ("'visitors' is not allowed", "use one of: visitor, account"),
    "no_id_column": ("'id_column' is a required property", "add it"),
    "bad_field_name": ("'plan-tier' is not a Pendo field name", "try 'plan_tier'"),
    "bad_timezone": ("'Mars/Olympus' is not an IANA time zone", "America/New_York"),
    "duplicate_field": ("both map to Pendo field 'plan'", "map one of them to another field"),
    "string_batch_size": ("'500' must be of type integer", "correct that value"),
    "missing_id_column": ("id_column 'user_id' is not a column of the built relation", "fix the pendo block"),
    "missing_mapped_column": ("mapped column 'plann' is not a column", "fix the pendo block"),
    "not_built": ("does not exist in the warehouse", "dbt build"),
    "ephemeral_model": ("ephemeral models are not built", "materialize it as a table or view"),
    "nested_column": ("column 'prefs' (STRUCT", "flatten it into scalar columns"),
    "missing_field": ("Pendo has no custom visitor field 'plan_name'", "--create-fields"),
    "type_conflict": (
        "column 'flag' (BOOLEAN) can never be a value of Pendo visitor field 'events_30d'",
        "map another column to it",
    ),
    "binary_column": ("column 'avatar' (BLOB) holds binary values", "cast it to text in the model"),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> DbtProject:
    path = tmp_path_factory.mktemp("validate") / "bad_config_project"
    shutil.copytree(FIXTURE, path)
    project = DbtProject(
        path,
        base_env(
            BAD_DUCKDB_PATH=str(path / "bad.duckdb"),
        ),
    )
    project.dbt("build", "--exclude", "not_built")
    return project


def validate(project: DbtProject, *args: str, **env: str):
    return project.command("validate", *args, **env)


def rows(output: str) -> dict[str, str]:
    """model -> its table rows' text (a model may have several problems)."""
    found: dict[str, list[list[str]]] = {}
    last = None
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 4 or cells[0] == "model":
            continue
        if cells[0]:  # a new row; wrapped text continues on lines with an empty model cell
            last = [[], [], [], []]
            found.setdefault(cells[0], []).append(last)
        for parts, cell in zip(last, cells, strict=True):
            parts.append(cell)
    return {
        model: "\n".join(" | ".join(" ".join(p) for p in row) for row in model_rows)
        for model, model_rows in found.items()
    }


def test_broken_project_shows_every_kind_of_problem_with_its_fix(broken):
    with make_emulator(read_only_keys=[READ_ONLY_KEY]) as emulator:
        result = validate(broken, PENDO_BASE_URL=emulator.url, PENDO_INTEGRATION_KEY=READ_ONLY_KEY)
        writes = [r for r in emulator.request_log() if r.method == "POST"]
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    found = rows(result.stdout)
    for model, (problem, fix) in KINDS.items():
        assert model in found, f"no row for {model}:\n{result.stdout}"
        assert problem in found[model] and fix in found[model], found[model]
    assert "integration key is read-only" in found["(all)"]  # the key check, a kind of its own
    assert writes == []  # validate never writes to Pendo
    assert READ_ONLY_KEY not in result.output


def test_offline_checks_blocks_and_warehouse_but_not_pendo(broken):
    result = validate(broken, "--offline", "--select", "missing_field nested_column typo_key")
    assert result.code == 1, result.output
    found = rows(result.stdout)
    assert set(found) == {"nested_column", "typo_key"}  # the missing field needs Pendo


def test_sample_project_is_clean_online_even_without_the_verify_endpoint(sample):
    with make_emulator(EmulatorData.default(), verify_endpoint=False) as emulator:
        result = validate(
            sample,
            PENDO_BASE_URL=emulator.url,
            PENDO_INTEGRATION_KEY=emulator_key(emulator),
            PENDO_TRACK_SECRET=emulator_track_secret(emulator),
        )
    assert result.code == 0, result.output
    assert "no problems found" in result.stdout


def test_sample_project_is_clean_offline_and_usage_errors_exit_two(sample):
    assert validate(sample, "--offline").code == 0
    bad = validate(sample, "--no-such-flag")
    assert bad.code == 2 and "Traceback" not in bad.output


def test_a_selection_without_pendo_models_says_nothing_was_checked(sample):
    result = validate(sample, "--offline", "--select", "stg_users")
    assert result.code == 0 and "nothing to check" in result.stdout, result.output


def test_every_problem_of_a_model_in_one_run_and_nothing_false_about_unbuilt_ones(broken):
    with make_emulator() as emulator:
        result = validate(
            broken,
            "--select",
            "many_problems not_built",
            PENDO_BASE_URL=emulator.url,
            PENDO_INTEGRATION_KEY=emulator_key(emulator),
        )
    assert result.code == 1, result.output
    found = rows(result.stdout)
    many = found["many_problems"]
    for fragment in (
        "'first-name' would be sent as field 'first-name'",  # a name Pendo cannot use
        "column 'ghost' of a column-level pendo block is not a column",
        "column 'prefs' (STRUCT",
        "column 'avatar' (BLOB) holds binary values",
        "Pendo has no custom visitor field 'loyalty_tier'",
    ):
        assert fragment in many, many
    assert len(many.splitlines()) == 5
    assert "create it in Pendo" not in "".join(
        line for line in many.splitlines() if "avatar" in line or "prefs" in line
    )
    # not_built declares two of its columns: undeclared is not missing
    assert found["not_built"].count("\n") == 0 and "not built" in found["not_built"]
    assert "declared" not in found["not_built"]


def test_binary_columns_get_no_field_and_their_rows_say_to_cast_or_exclude(broken):
    with make_emulator() as emulator:
        result = broken.sync("--select", "binary_column", "--create-fields", emulator=emulator)
        created = emulator.fields("visitor")
    assert result.code == 1, result.output
    assert "avatar" not in created
    [row] = broken.rejected()
    assert row["category"] == "invalid" and "binary values" in row["reason"]
    assert "cast it to text" in row["reason"]
