"""Acceptance: --select, --exclude and --selector pick exactly the models `dbt ls` picks
(restricted to the models with a pendo block), on sample_project and on a graph fixture.

Each project is compared once through both entry points (`dbt-pendo ls --output json` by its
main(), in this process, and `dbt ls --resource-type model --output name` as a process); the
other comparisons run both commands in this process (the dbt-pendo CLI through click, dbt
through its own dbtRunner), which is the same code without a 3-second start-up per call, on a
thread of their own (support/inprocess.py: dbt makes an adapter faster there).
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest
from click.testing import CliRunner

from dbt_pendo_sync.cli import cli

from ..conftest import BIN, ROOT, DbtProject, base_env, dbt_pendo, run
from ..support.inprocess import on_a_thread_of_its_own

GRAPH = ROOT / "tests" / "fixtures" / "graph_project"
GRAPH_PENDO = {"user_metrics", "account_metrics", "account_health", "visitor_export"}
SAMPLE_PENDO = {"pendo_accounts", "pendo_product_events", "pendo_visitors"}


@pytest.fixture(scope="session")
def graph_project(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """graph_project copied once (selection needs no build: dbt ls reads the parsed project)."""
    path = tmp_path_factory.mktemp("graph") / "graph_project"
    shutil.copytree(GRAPH, path, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return DbtProject(path, base_env(GRAPH_DUCKDB_PATH=str(path / "graph.duckdb")))


def use_env(monkeypatch: pytest.MonkeyPatch, project: DbtProject) -> None:
    """This process's environment and working directory as the project's, for the
    in-process runs."""
    monkeypatch.chdir(project.path)
    for name in list(os.environ):
        if name.startswith(("DBT_", "PENDO_")):
            monkeypatch.delenv(name)
    for name, value in project.env.items():
        if name.startswith(("DBT_", "GRAPH_")):
            monkeypatch.setenv(name, value)


def ours(project: DbtProject, *selection: str) -> set[str]:
    """Models `dbt-pendo ls --output json` lists, run in this process through click."""
    args = ["ls", *project.args(), "--output", "json", *selection]
    result = on_a_thread_of_its_own(lambda: CliRunner().invoke(cli, args))
    assert result.exit_code == 0, (result.output, result.exception)
    return {row["model"] for row in json.loads(result.output)}


_PARSED: dict[str, Any] = {}


def dbt_ls(project: DbtProject, pendo: set[str], *selection: str) -> set[str]:
    """The models real `dbt ls` picks (dbt's own runner, in this process), with a pendo block.

    The project is parsed by dbt once per test session; each `dbt ls` then gets that manifest
    (dbtRunner(manifest=...), dbt's way to run many commands on one parse), so dbt's own
    selection runs for every case without parsing the project again."""
    from dbt.cli.main import dbtRunner

    key = str(project.path)
    if key not in _PARSED:
        parsed = on_a_thread_of_its_own(lambda: dbtRunner().invoke(["--quiet", "parse", *project.args()]))
        assert parsed.success, parsed.exception
        _PARSED[key] = parsed.result
    args = ["--quiet", "ls", "--resource-type", "model", "--output", "name", *selection, *project.args()]
    result = on_a_thread_of_its_own(lambda: dbtRunner(manifest=_PARSED[key]).invoke(args))
    assert result.success, result.exception
    return {line.split(".")[-1] for line in result.result} & pendo


def ours_cli(project: DbtProject, *selection: str) -> set[str]:
    done = dbt_pendo(["ls", *project.args(), "--output", "json", *selection], project.env)
    assert done.code == 0, done.output
    return {row["model"] for row in json.loads(done.stdout)}


def dbt_ls_cli(project: DbtProject, pendo: set[str], *selection: str) -> set[str]:
    done = run(
        [
            str(BIN / "dbt"),
            "--quiet",
            "ls",
            "--resource-type",
            "model",
            "--output",
            "name",
            *selection,
            *project.args(),
        ],
        project.env,
    )
    assert done.code == 0, done.output
    return {line.strip().split(".")[-1] for line in done.stdout.splitlines() if line.strip()} & pendo


def test_sample_project_selection_matches_dbt_ls(sample: DbtProject, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sample)
    # Both console scripts, once: the selector from sample_project/selectors.yml.
    selector = ("--selector", "pendo_accounts_only")
    assert ours_cli(sample, *selector) == dbt_ls_cli(sample, SAMPLE_PENDO, *selector) == {"pendo_accounts"}

    cases = {
        ("--select", "tag:pendo,config.materialized:table"): SAMPLE_PENDO,
        ("--select", "tag:pendo", "--exclude", "pendo_visitors"): {"pendo_accounts", "pendo_product_events"},
        ("--exclude", "pendo_accounts"): {"pendo_product_events", "pendo_visitors"},
        ("--select", "+pendo_visitors"): {"pendo_visitors"},
        selector: {"pendo_accounts"},
    }
    for selection, expected in cases.items():
        assert ours(sample, *selection) == dbt_ls(sample, SAMPLE_PENDO, *selection) == expected, selection


GRAPH_CASES = {
    ("--select", "+account_health"): {"user_metrics", "account_metrics", "account_health"},
    ("--select", "user_metrics+"): {"user_metrics", "account_health", "visitor_export"},
    ("--select", "+account_metrics+"): {"account_metrics", "account_health", "visitor_export"},
    ("--select", "@account_metrics"): GRAPH_PENDO,  # adds user_metrics: a parent of a child
    ("--select", "1+visitor_export"): {"visitor_export", "account_health", "user_metrics"},
    ("--select", "account_metrics+1"): {"account_metrics", "account_health"},
    ("--select", "tag:pendo,config.materialized:table"): {"account_metrics", "visitor_export"},
    ("--select", "tag:pendo"): {"account_metrics", "account_health", "visitor_export"},  # not stg_users
    ("--select", "+visitor_export", "--exclude", "tag:health"): {
        "user_metrics",
        "account_metrics",
        "visitor_export",
    },
    ("--select", "tag:pendo user_metrics", "--exclude", "config.materialized:view"): {
        "user_metrics",
        "account_metrics",
        "visitor_export",
    },
    ("--selector", "visitor_side"): {"user_metrics", "visitor_export"},
    # several values after one flag, as dbt reads them: up to the next option
    ("--select", "user_metrics", "account_metrics"): {"user_metrics", "account_metrics"},
    ("-s", "+account_health", "visitor_export", "--exclude", "user_metrics", "tag:health"): {
        "account_metrics",
        "visitor_export",
    },
}


def test_graph_operators_match_dbt_ls(graph_project: DbtProject, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, graph_project)
    first = ("--select", "@account_metrics")
    assert ours_cli(graph_project, *first) == dbt_ls_cli(graph_project, GRAPH_PENDO, *first) == GRAPH_PENDO
    for selection, expected in GRAPH_CASES.items():
        assert (
            ours(graph_project, *selection) == dbt_ls(graph_project, GRAPH_PENDO, *selection) == expected
        ), selection
