"""Running commands as a person would (`Run`, `run`, `dbt`, `dbt_pendo`), a built copy of a
fixture project (`DbtProject`), and emulators with fresh keys that syncs are pointed at
(`make_emulator`). Re-exported by tests/conftest.py."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dbt_pendo_sync.emulator import EmulatorData, PendoEmulator

from .inprocess import run_cli, run_dbt

BIN = Path(sys.executable).parent


@dataclass
class Run:
    """A finished command: exit code and everything it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENDO_", "DBT_"))}
    env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "COLUMNS": "200", **extra})
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, timeout: int = 300) -> Run:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def dbt_pendo(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    """`dbt-pendo ARGS`, run in this process (support/inprocess.py); `run([BIN / "dbt-pendo",
    ...])` where the process itself is the point."""
    return Run(*run_cli(args, env, cwd))


def dbt(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    """`dbt ARGS` in this process (dbtRunner), which must succeed."""
    result = Run(*run_dbt(args, env, cwd))
    assert result.code == 0, f"dbt {' '.join(args)} failed:\n{result.output}"
    return result


@dataclass
class DbtProject:
    """A copy of a fixture project, built, with the env its profile needs. Its commands run
    from its folder, as a person runs them (a relative warehouse path is relative to it)."""

    path: Path
    env: dict[str, str]
    target: str | None = None

    def args(self) -> list[str]:
        extra = ["--target", self.target] if self.target else []
        return ["--project-dir", str(self.path), "--profiles-dir", str(self.path), *extra]

    def sync(
        self, *args: str, emulator: PendoEmulator | None = None, key: str | None = None, **env: str
    ) -> Run:
        """`dbt-pendo sync` against this project (and the emulator, when given), in this process."""
        return self.command("sync", *args, emulator=emulator, key=key, **env)

    def command(
        self, name: str, *args: str, emulator: PendoEmulator | None = None, key: str | None = None, **env: str
    ) -> Run:
        """`dbt-pendo NAME` against this project (and the emulator, when given), in this process."""
        return dbt_pendo([name, *self.args(), *args], self.sync_env(emulator, key, **env), self.path)

    def sync_process(self, *args: str, **env: str) -> Run:
        """`dbt-pendo sync` as a process of its own (for what only a fresh process shows)."""
        return run([str(BIN / "dbt-pendo"), "sync", *self.args(), *args], self.sync_env(**env), self.path)

    def start_sync(
        self, *args: str, emulator: PendoEmulator, stdout: int = subprocess.PIPE, **env: str
    ) -> subprocess.Popen:
        """`dbt-pendo sync` as a process of its own, for tests that signal, kill or race it.
        Ctrl-C (SIGINT) acts on it as at a terminal, also when pytest itself was started in
        the background (where a shell makes its children ignore SIGINT)."""
        return subprocess.Popen(
            [str(BIN / "dbt-pendo"), "sync", *self.args(), *args],
            env=self.sync_env(emulator, **env),
            cwd=self.path,
            stdout=stdout,
            stderr=subprocess.PIPE if stdout == subprocess.PIPE else stdout,
            text=True,
            preexec_fn=_sigint_as_at_a_terminal,
        )

    def sync_env(
        self, emulator: PendoEmulator | None = None, key: str | None = None, **env: str
    ) -> dict[str, str]:
        """This project's env, pointed at the emulator with its key (or `key`)."""
        full_env = dict(self.env)
        if emulator is not None:
            full_env["PENDO_BASE_URL"] = emulator.url
            full_env["PENDO_INTEGRATION_KEY"] = key if key is not None else emulator_key(emulator)
            full_env["PENDO_TRACK_SECRET"] = emulator_track_secret(emulator)
        full_env.update(env)
        return full_env

    def dbt(self, *args: str) -> Run:
        return dbt([*args, *self.args()], self.env, self.path)

    def results(self, name: str = "pendo_sync_results.json") -> dict:
        return json.loads((self.path / "target" / name).read_text())

    def rejected(self) -> list[dict]:
        path = self.path / "target" / "pendo_sync_rejected.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_KEYS: dict[int, str] = {}
_TRACK_SECRETS: dict[int, str] = {}


def emulator_key(emulator: PendoEmulator) -> str:
    return _KEYS[id(emulator)]


def emulator_track_secret(emulator: PendoEmulator) -> str:
    return _TRACK_SECRETS[id(emulator)]


def make_emulator(data: EmulatorData | None = None, **switches) -> PendoEmulator:
    """An emulator with a fresh integration key and Track Event secret (syncs pointed at it
    get both: DbtProject.sync_env)."""
    key = "pk-" + secrets.token_hex(16)
    switches.setdefault("track_secret", "ts-" + secrets.token_hex(16))
    emulator = PendoEmulator(key, data=data, **switches)
    _KEYS[id(emulator)] = key
    _TRACK_SECRETS[id(emulator)] = switches["track_secret"]
    return emulator
