"""Every import of dbt's Python internals lives here, and nowhere else.

dbt's internals are not a public API: this module keeps what we use of them small, and
turns dbt's exceptions into ours. dbtRunner resets the registered adapters on every
invoke, so callers run dbt commands first and build the adapter afterwards.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DbtError, UsageError, one_line

# The dbt package name of the macros this package ships (macros/ledger.sql).
PACKAGE_MACROS = "dbt_pendo_sync"


@dataclass(frozen=True)
class DbtTarget:
    """Where dbt finds the project and profile, as a dbt command line would say it."""

    project_dir: Path
    profiles_dir: Path | None = None
    target: str | None = None
    vars: Mapping[str, Any] | None = None

    def cli_args(self) -> list[str]:
        """These settings as dbt command-line flags."""
        import json

        args = ["--project-dir", str(self.project_dir)]
        if self.profiles_dir is not None:
            args += ["--profiles-dir", str(self.profiles_dir)]
        if self.target:
            args += ["--target", self.target]
        if self.vars:
            args += ["--vars", json.dumps(dict(self.vars))]
        return args


def run_dbt(
    command: list[str],
    target: DbtTarget,
    manifest_path: Path | None = None,
    warnings: list[str] | None = None,
) -> Any:
    """Run a dbt command (e.g. ["parse"]) in-process, silently; its result, or DbtError.

    With `manifest_path`, dbt uses that manifest instead of parsing the project. dbt's
    warning messages are appended to `warnings`, when given: not "No nodes selected!", which
    the caller words better, nor deprecations (codes D...), which concern the project, not
    this command. dbt keeps the deprecations it met in the process and, from dbt-core 1.10,
    ends every command with their summary: the one of a `dbt parse` before would come back
    at the end of the `dbt ls` after it.
    """
    from dbt.cli.main import dbtRunner

    def collect(event: Any) -> None:
        info = event.info
        if (
            warnings is not None
            and info.level == "warn"
            and info.name != "NoNodesSelected"
            and not info.code.startswith("D")
        ):
            warnings.append(info.msg)

    runner = dbtRunner(
        manifest=_load_manifest_object(manifest_path) if manifest_path else None, callbacks=[collect]
    )
    result = runner.invoke([*command, *target.cli_args(), "--log-level", "none"])
    if not result.success:
        detail = _indented(result.exception) if result.exception else "dbt reported a failure"
        failed = f"`dbt {command[0]}` failed for the project in {target.project_dir}"
        raise _parse_problem(result.exception, failed, detail, target.project_dir) or DbtError(
            f"{failed}:\n{detail}"
        )
    return result.result


def _parse_problem(
    exc: BaseException | None, failed: str, detail: str, project_dir: Path
) -> ConfigError | None:
    """A ConfigError (exit 2, as dbt's own) when dbt could not parse the project, naming
    the YAML file that does not load; None for other failures."""
    from dbt.exceptions import ParsingError, YamlLoadError

    if isinstance(exc, YamlLoadError) and exc.path:
        where = _project_file(project_dir, exc.path)
        return ConfigError(f"{failed}: {where} is not valid YAML; fix that file:\n{detail}")
    if isinstance(exc, ParsingError):
        return ConfigError(f"{failed}: the project does not parse; fix what dbt reports:\n{detail}")
    return None


def _project_file(project_dir: Path, relative: str) -> str:
    """The file of the project dbt names by its path inside a resource folder
    (`staging/_models.yml` for models/staging/_models.yml), relative to the project; the
    name as dbt gave it when no single file matches."""
    skip = {"target", "dbt_packages", "logs"}
    found = [
        p
        for p in project_dir.rglob(Path(relative).name)
        if p.as_posix().endswith("/" + relative) and not skip & set(p.relative_to(project_dir).parts)
    ]
    return found[0].relative_to(project_dir).as_posix() if len(found) == 1 else relative


def _load_manifest_object(path: Path) -> Any:
    from dbt.contracts.graph.manifest import Manifest, WritableManifest
    from dbt_common.exceptions import DbtBaseException

    try:
        return Manifest.from_writable_manifest(WritableManifest.read_and_check_versions(str(path)))
    except (DbtBaseException, OSError, ValueError) as exc:
        raise DbtError(f"cannot load {path} as a dbt manifest: {one_line(exc)}") from None


def list_models(
    args: list[str], target: DbtTarget, artifacts: Path, manifest_path: Path | None = None
) -> tuple[list[str], list[str]]:
    """unique_ids of the models `dbt ls <args>` selects, and dbt's warnings (a criterion that
    matches no node); a selection dbt cannot read is a UsageError."""
    import json

    warnings: list[str] = []
    try:
        lines = (
            run_dbt(
                [
                    "ls",
                    *args,
                    "--output",
                    "json",
                    "--output-keys",
                    "unique_id",
                    "--target-path",
                    str(artifacts),
                ],
                target,
                manifest_path,
                warnings=warnings,
            )
            or []
        )
    except DbtError as exc:  # the project parsed before: what fails here is the selection
        detail = str(exc).split("\n", 1)[-1]
        raise UsageError(
            "dbt cannot use this selection (--select, --exclude, --selector):\n"
            f"{detail}\n  (see dbt's node selection syntax)"
        ) from None
    return [json.loads(line)["unique_id"] for line in lines], warnings


def build_adapter(target: DbtTarget, manifest_path: Path | None = None) -> Any:
    """The user's own dbt adapter, built from their profile (no dbt command may run after).

    Its macros come from `manifest_path` when given (the manifest the run read, written for
    this adapter: parsing every macro file again costs about a second), else from the project."""
    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.config.runtime import RuntimeConfig
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.contracts.graph.manifest import MacroManifest
    from dbt.flags import set_from_args
    from dbt.mp_context import get_mp_context
    from dbt.parser.manifest import ManifestLoader
    from dbt_common.context import set_invocation_context
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.event_manager_client import cleanup_event_logger
    from dbt_common.exceptions import DbtBaseException

    args = Namespace(
        project_dir=str(target.project_dir),
        profiles_dir=str(target.profiles_dir) if target.profiles_dir else _default_profiles_dir(target),
        target=target.target,
        vars=dict(target.vars or {}),
        profile=None,
        threads=None,
    )
    # dbt's fallback logger prints its events on stdout (e.g. "Unable to do partial parsing"
    # while the macros load); as `--log-level none` does for run_dbt, nothing of dbt's is
    # printed: our own output (JSON lines above all) is the only thing on stdout.
    cleanup_event_logger()
    try:
        set_invocation_context(os.environ)  # env_var() in profiles.yml renders against it
        set_from_args(args, None)
        config = RuntimeConfig.from_args(args)
        # dbt keeps the first adapter registered for a type: one built earlier in this
        # process (another project, target or profile) would be handed back instead.
        reset_adapters()
        register_adapter(config, get_mp_context(), adapter_registered_log_level=EventLevel.DEBUG)
        adapter = get_adapter(config)
        # Macros make the adapter's own SQL (columns, types, hashing) available, including
        # the project's overrides of dispatched macros.
        macros = _macros_of(manifest_path) if manifest_path else None
        if macros is None:
            macros = dict(ManifestLoader.load_macros(config, adapter.connections.set_query_header).macros)
        adapter.set_macro_resolver(MacroManifest({**macros, **_package_macros()}))
        adapter.set_macro_context_generator(generate_runtime_macro_context)
        return adapter
    except DbtBaseException as exc:
        raise DbtError(f"dbt could not load the project or profile: {one_line(exc)}") from None


def release_adapter(adapter: Any) -> None:
    """Close every connection the adapter holds, so the warehouse is free for the next process
    (DuckDB allows one per file) while this one goes on, as a Python caller's does."""
    adapter.cleanup_connections()
    # dbt-duckdb keeps its database open for the process's life (`keep_open`), in a class
    # attribute that only its close_all_connections drops (the file closes with it).
    close_all = getattr(adapter.connections, "close_all_connections", None)
    if close_all is not None:
        close_all()


def _macros_of(manifest_path: Path) -> dict[str, Any] | None:
    """{unique_id: Macro} from manifest.json's macros; None when they cannot be read (a
    manifest of another dbt version, say), and the caller parses the project's instead."""
    import json

    from dbt.contracts.graph.nodes import Macro

    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))["macros"]
        return {uid: Macro.from_dict(macro) for uid, macro in raw.items()}
    except Exception:  # any shape dbt's own classes refuse: fall back to parsing
        return None


def _package_macros() -> dict[str, Any]:
    """{unique_id: Macro} of the macros this package ships (macros/*.sql), as the package
    `dbt_pendo_sync`, so that `adapter.dispatch(name, 'dbt_pendo_sync')` finds them."""
    from importlib.resources import files

    from dbt.contracts.graph.nodes import Macro
    from dbt_common.clients.jinja import BlockTag, extract_toplevel_blocks

    macros = {}
    for source in sorted(files("dbt_pendo_sync").joinpath("macros").iterdir(), key=lambda f: f.name):
        if not source.name.endswith(".sql"):
            continue
        path = f"macros/{source.name}"
        blocks = extract_toplevel_blocks(
            source.read_text(encoding="utf-8"), allowed_blocks={"macro"}, collect_raw_data=False
        )
        for block in blocks:
            if not isinstance(block, BlockTag):  # text between the macros
                continue
            unique_id = f"macro.{PACKAGE_MACROS}.{block.block_name}"
            macros[unique_id] = Macro.from_dict(
                {
                    "name": block.block_name,
                    "resource_type": "macro",
                    "package_name": PACKAGE_MACROS,
                    "path": path,
                    "original_file_path": path,
                    "unique_id": unique_id,
                    "macro_sql": block.full_block,
                }
            )
    return macros


def _default_profiles_dir(target: DbtTarget) -> str:
    """dbt's own rule: profiles.yml in the project dir if present, else ~/.dbt."""
    if (target.project_dir / "profiles.yml").exists():
        return str(target.project_dir)
    return str(Path.home() / ".dbt")


def _indented(exc: BaseException) -> str:
    lines = [line.rstrip() for line in str(exc).strip().splitlines() if line.strip()]
    return "\n".join(f"  {line.strip()}" for line in lines) or f"  {type(exc).__name__}"
