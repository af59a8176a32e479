"""A dbt project of a few files on DuckDB, parsed by real dbt, for the unit tests of the
parts between the warehouse and Pendo (pipeline, delivery, ledger): its manifest, and a
Warehouse on the user's own adapter path (compat.build_adapter from the manifest's macros).

The models are never built: a test writes each relation's rows itself (`fill`), and a test
that needs a relation of its own copies a parsed model under another name (`TinyProject.model`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from dbt_pendo_sync.dbt.artifacts import Manifest, ModelNode, load_manifest
from dbt_pendo_sync.dbt.compat import DbtTarget, build_adapter
from dbt_pendo_sync.dbt.warehouse import Warehouse

from ..conftest import base_env, dbt

NAME = "tiny"


@dataclass(frozen=True)
class TinyProject:
    path: Path
    manifest: Manifest

    @property
    def target(self) -> DbtTarget:
        return DbtTarget(self.path, self.path)

    @contextmanager
    def connected(self) -> Iterator[Warehouse]:
        """A Warehouse through a fresh adapter (its macros from the manifest: no parse), its
        connection open inside the block (an in-memory database lives as long)."""
        w = Warehouse(build_adapter(self.target, self.manifest.path))
        with w.connection():
            yield w

    def node(self, name: str) -> ModelNode:
        (found,) = [m for m in self.manifest.models if m.name == name]
        return found

    def model(self, name: str, like: str) -> ModelNode:
        """A model of its own relation (`name`), otherwise as the parsed model `like`."""
        return replace(self.node(like), name=name, alias=name, unique_id=f"model.{NAME}.{name}")


def tiny_project(path: Path, database: str, blocks: Mapping[str, Mapping[str, Any] | None]) -> TinyProject:
    """A project at `path` on the DuckDB `database` (':memory:' or a file), with a model per
    name of `blocks` (its pendo block, or none), parsed with `dbt parse`."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dbt_project.yml").write_text(
        yaml.safe_dump({"name": NAME, "version": "1.0.0", "config-version": 2, "profile": NAME})
    )
    profile = {"type": "duckdb", "path": database, "threads": 1}
    (path / "profiles.yml").write_text(yaml.safe_dump({NAME: {"target": "dev", "outputs": {"dev": profile}}}))
    models = path / "models"
    models.mkdir(exist_ok=True)
    properties = []
    for name, block in blocks.items():
        (models / f"{name}.sql").write_text("{{ config(materialized='table') }}\nselect 1 as id\n")
        properties.append({"name": name, "config": {"meta": {"pendo": dict(block)}} if block else {}})
    (models / "_models.yml").write_text(yaml.safe_dump({"version": 2, "models": properties}))
    dbt(["parse", "--project-dir", str(path), "--profiles-dir", str(path)], base_env(), path)
    return TinyProject(path, load_manifest(path / "target" / "manifest.json"))


def fill(w: Warehouse, node: ModelNode, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Make the model's relation a table of these text columns and rows (None: null)."""
    relation = w.relation(node)
    typed = ", ".join(f"{c} varchar" for c in columns)
    statements = [f"create or replace table {relation} ({typed})"]
    if rows:
        values = ", ".join(
            "(" + ", ".join("null" if v is None else w.literal(str(v)) for v in row) + ")" for row in rows
        )
        statements.append(f"insert into {relation} values {values}")
    w.execute(*statements)
