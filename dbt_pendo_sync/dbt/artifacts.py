"""dbt's artifacts (manifest.json, run_results.json) read leniently, as plain JSON, into small records.

The artifacts are the contract with dbt: every field is read with a default, and fields
this tool does not know are ignored, so dbt patch releases that add fields change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DbtError


@dataclass(frozen=True)
class ColumnNode:
    """A column as declared in a model's properties YAML."""

    name: str
    data_type: str | None
    meta: Mapping[str, Any]

    def pendo_block(self) -> Any:
        """The column's `pendo:` block, or None when it has none."""
        return self.meta.get("pendo")


@dataclass(frozen=True)
class ModelNode:
    """The parts of a manifest model node this tool needs."""

    unique_id: str
    name: str
    package_name: str
    database: str | None
    schema: str | None
    alias: str
    relation_name: str | None
    materialized: str
    enabled: bool
    meta: Mapping[str, Any]
    columns: Mapping[str, ColumnNode]
    tags: tuple[str, ...]
    original_file_path: str
    patch_path: str | None
    version: str | int | float | None = None  # of a versioned model (`ref(name, v=...)`)
    group: str | None = None

    @property
    def properties_file(self) -> str:
        """The YAML file that declares the model's properties (else its SQL file)."""
        if self.patch_path:
            return self.patch_path.split("://", 1)[-1]
        return self.original_file_path

    def pendo_block(self) -> Any:
        """The model's `pendo:` block, or None when it has none."""
        return self.meta.get("pendo")


@dataclass(frozen=True)
class Manifest:
    """The models of one manifest.json, enabled and disabled."""

    path: Path
    generated_at: str | None
    invocation_id: str | None
    adapter_type: str | None
    project_name: str | None
    models: tuple[ModelNode, ...]
    disabled_models: tuple[ModelNode, ...] = field(default=())
    group_owners: Mapping[str, Any] = field(default_factory=dict)  # dbt group name -> owner
    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # node -> depends_on.nodes

    def pendo_models(self) -> list[ModelNode]:
        """Enabled models that carry a `pendo:` block, in name order."""
        return sorted((m for m in self.models if m.pendo_block() is not None), key=lambda m: m.name)

    def disabled_pendo_models(self) -> list[ModelNode]:
        """Disabled models that carry a `pendo:` block (reported, never synced)."""
        return sorted((m for m in self.disabled_models if m.pendo_block() is not None), key=lambda m: m.name)


def _merged_meta(node: Mapping[str, Any]) -> dict[str, Any]:
    """`meta` and `config.meta` merged, config winning (dbt copies top-level meta into config)."""
    config = node.get("config") or {}
    return {**(node.get("meta") or {}), **(config.get("meta") or {})}


def _column(raw: Mapping[str, Any]) -> ColumnNode:
    return ColumnNode(
        name=str(raw.get("name", "")),
        data_type=raw.get("data_type"),
        meta=_merged_meta(raw),
    )


def _model(raw: Mapping[str, Any]) -> ModelNode:
    config = raw.get("config") or {}
    return ModelNode(
        unique_id=str(raw.get("unique_id", "")),
        name=str(raw.get("name", "")),
        package_name=str(raw.get("package_name", "")),
        database=raw.get("database"),
        schema=raw.get("schema"),
        alias=str(raw.get("alias") or raw.get("name", "")),
        relation_name=raw.get("relation_name"),
        materialized=str(config.get("materialized", "view")),
        enabled=bool(config.get("enabled", True)),
        meta=_merged_meta(raw),
        columns={name: _column(col) for name, col in (raw.get("columns") or {}).items()},
        tags=tuple(raw.get("tags") or ()),
        original_file_path=str(raw.get("original_file_path", "")),
        patch_path=raw.get("patch_path"),
        version=raw.get("version"),
        group=config.get("group") or raw.get("group"),
    )


def _parents(nodes: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """{unique_id: the nodes it depends on} for every node (models, tests, seeds, snapshots)."""
    found = {}
    for uid, raw in nodes.items():
        depends_on = raw.get("depends_on") if isinstance(raw, dict) else None
        listed = depends_on.get("nodes") if isinstance(depends_on, dict) else None
        if isinstance(listed, list):
            found[str(uid)] = tuple(str(n) for n in listed)
    return found


def _is_model(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("resource_type") == "model"


def load_manifest(path: Path) -> Manifest:
    """Read a manifest.json; raise DbtError when it is missing or not a dbt manifest."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DbtError(f"manifest not found at {path}: run `dbt parse` or pass --manifest PATH") from None
    except (OSError, ValueError) as exc:
        raise DbtError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(data, dict) or "nodes" not in data:
        raise DbtError(f"{path} is not a dbt manifest.json (no 'nodes'): pass the file dbt wrote")
    metadata = data.get("metadata") or {}
    nodes = data.get("nodes") or {}
    disabled = [n for group in (data.get("disabled") or {}).values() for n in (group or [])]
    return Manifest(
        path=path,
        generated_at=metadata.get("generated_at"),
        invocation_id=metadata.get("invocation_id"),
        adapter_type=metadata.get("adapter_type"),
        project_name=metadata.get("project_name"),
        models=tuple(_model(n) for n in nodes.values() if _is_model(n)),
        disabled_models=tuple(_model(n) for n in disabled if _is_model(n)),
        group_owners={
            str(g.get("name")): g.get("owner")
            for g in (data.get("groups") or {}).values()
            if isinstance(g, dict) and g.get("name")
        },
        parents=_parents(nodes),
    )


@dataclass(frozen=True)
class NodeResult:
    """What the last dbt command did to one node (run_results.json `results` entry)."""

    status: str  # success, error, skipped, ...; lower case
    relation_name: str | None = None  # the relation it built (dbt >= 1.8 records it)
    message: str | None = None


@dataclass(frozen=True)
class RunResults:
    """One run_results.json: which dbt command wrote it, when, and what it did per node."""

    path: Path
    invocation_id: str | None
    generated_at: str | None
    command: str | None  # `args.which`: build, run, compile, test, ...
    results: Mapping[str, NodeResult] = field(default_factory=dict)  # by unique_id
    target: str | None = None  # `args.target`: the --target the command was given
    vars: Mapping[str, Any] = field(default_factory=dict)  # `args.vars`: its --vars

    @property
    def statuses(self) -> dict[str, str]:
        """{unique_id: status}."""
        return {uid: r.status for uid, r in self.results.items()}


def load_run_results(path: Path) -> RunResults | None:
    """Read a run_results.json; None when there is none, DbtError when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DbtError(
            f"cannot read {path}: {exc}. Delete it or run dbt again (or pass --all to "
            "sync every selected model whatever its last build did)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise DbtError(
            f"{path} is not a dbt run_results.json (no 'results' list): delete it, "
            "or pass --all to sync every selected model whatever its last build did"
        )
    metadata: dict[str, Any] = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    args: dict[str, Any] = data["args"] if isinstance(data.get("args"), dict) else {}
    results = {}
    for raw in data["results"]:
        if isinstance(raw, dict) and raw.get("unique_id"):
            message = raw.get("message")
            results[str(raw["unique_id"])] = NodeResult(
                status=str(raw.get("status") or "").lower(),
                relation_name=raw.get("relation_name") or None,
                message=str(message) if message is not None else None,
            )
    return RunResults(
        path=path,
        invocation_id=metadata.get("invocation_id"),
        generated_at=metadata.get("generated_at"),
        command=str(args["which"]) if args.get("which") else None,
        results=results,
        target=str(args["target"]) if args.get("target") else None,
        vars=args["vars"] if isinstance(args.get("vars"), dict) else {},
    )
