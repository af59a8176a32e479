"""`dbt-pendo emulator`: the local Pendo (`dbt_pendo_sync/emulator/`) as a command: its
options, its checks of them, and the server started and served until stopped."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from .params import DEBUG_ENVVARS, option

if TYPE_CHECKING:
    from ..emulator import EmulatorData

_DATA_FORMAT = (
    'Expected JSON like {"visitors": [ids] or "all", "accounts": '
    '[ids] or "all", "schema": {kind: {group: {field: {"Type": type}}}}, '
    '"values": {kind: {id: {field: value}}}}, every key optional; see '
    "'dbt-pendo emulator --help' and the README section \"The local Pendo emulator\""
)


@dataclass(frozen=True)
class EmulatorOptions:
    """`dbt-pendo emulator`'s options as click parsed them: a field per option, named as
    click names its parameter (--data is data_path, --dump dump_path)."""

    host: str
    port: int
    data_path: str | None
    accept_any_id: bool
    unknown_fields: str
    track_answer: str
    parent_accounts: str  # the id key of their writes, or "none"
    aggregation_answer: str
    aggregation_limit: str
    aggregation_times: str
    latency_ms: dict[str, int]  # per kind of call (_latency)
    latency_per_record_ms: float
    rate_limit: int
    keep_bodies: bool
    dump_path: str | None
    allow_non_loopback: bool
    debug: bool


def _switch(name: str, choices: list[str], text: str) -> Callable:
    """The option of one of the emulator's switches: one of `choices`, the first by default."""
    return option(name, type=click.Choice(choices), default=choices[0], show_default=True, help=text)


def _latency(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, int]:
    from ..emulator.latency import parse_latency

    try:
        return parse_latency(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="emulator", short_help="Run a local HTTP server that answers like Pendo's API.")
@option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: loopback only (127.0.0.1, localhost, ::1) unless --allow-non-loopback.",
)
@option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the URL is printed on stderr).",
)
@option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="JSON file of known visitor/account ids, field schema and preset "
    "values (format below; default: the built-in demo data, emulator_data.json).",
)
@option(
    "--accept-any-id",
    is_flag=True,
    help="Know every visitor and account id, so no row is reported missing (with --data: "
    "replaces its visitors/accounts, keeps its schema and values).",
)
@_switch(
    "--unknown-fields",
    ["reject", "create_text"],
    "Writes naming a custom field the schema lacks: reject answers "
    '400 "missing field mappings"; create_text creates it as a string field.',
)
@_switch(
    "--track-answer",
    ["empty", "json"],
    "The body of 200 for an accepted track event (POST /data/track): empty, or "
    '{"status": "ok"} (Pendo does not document which).',
)
@_switch(
    "--parent-accounts",
    ["parentAccountId", "accountId", "none"],
    "The id key parent account writes must use (Pendo does not document which; a record keyed "
    "otherwise gets 400 naming it), or none: the subscription has no parent accounts (Pendo "
    "support enables them), and their field schema and writes answer 404.",
)
@_switch(
    "--aggregation-answer",
    ["results", "array"],
    'The answer to POST /api/v1/aggregation: {"results": [rows]}, or the rows as a bare '
    "array (Pendo's clients report both).",
)
@_switch(
    "--aggregation-limit",
    ["accepted", "refused"],
    'Whether an aggregation\'s "limit" step is accepted, or refused with 400 (not every '
    "subscription is known to take it).",
)
@_switch(
    "--aggregation-times",
    ["epoch_ms", "rfc3339"],
    "Time values in aggregation answers: epoch milliseconds, or RFC 3339 text in UTC.",
)
@option(
    "--latency-ms",
    default="0",
    show_default=True,
    callback=_latency,
    metavar="N|KIND=N,...",
    help="Delay every answer by N milliseconds, as the network to Pendo would; concurrent "
    "requests wait side by side. Per kind of call: bulk=250,track=50,segment=100,get=5 (kinds "
    "bulk, track, segment, aggregation, get, other; those not named 0, or N with a plain N "
    "among them).",
)
@option(
    "--latency-per-record-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="MS",
    help="Delay each answer by MS more per record the call carries (bulk write records, "
    "segment visitors, the event of a track call) or answers (aggregation rows), as Pendo "
    "takes longer for bigger batches.",
)
@option(
    "--rate-limit",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Answer 429 with Retry-After to calls beyond N per second (any one-second window), "
    "as Pendo's rate limit would (reported near 100); at once, without --latency-ms. "
    "0: no cap.",
)
@option(
    "--keep-bodies",
    is_flag=True,
    help="Keep every request (body included) and track event in memory, as the Python class "
    "does; by default only counters are kept, so memory stays flat in long benchmarks "
    "(values written are kept either way).",
)
@option(
    "--dump",
    "dump_path",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="When the emulator stops (Ctrl-C, SIGTERM), write what it received to FILE as JSON: "
    "values per kind and group, segments and their members, the accepted track events (their "
    "bodies are kept while it runs, as with --keep-bodies), and the stats.",
)
@option(
    "--allow-non-loopback",
    is_flag=True,
    help="Allow a --host that is not loopback. The emulator accepts writes from anyone "
    "holding the key, over plain http: expose it only on trusted networks.",
)
@option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENVVARS,
    help="Print one line per request on stderr (method, path, status, time; never the "
    "key or other header values); tracebacks of unexpected errors.",
)
def emulator_command(**options: Any) -> None:
    """Run the local Pendo emulator, a real HTTP server that answers like Pendo's API, to try a
    sync without touching Pendo: give the sync the printed URL as PENDO_BASE_URL. It accepts only
    the key in its own PENDO_INTEGRATION_KEY (any value; give the sync the same). Writes to ids it
    does not know come back as missing, as in Pendo, unless --accept-any-id. Track events (POST
    /data/track) take the secret in its own PENDO_TRACK_SECRET instead; unset, they get 403.

    \b
    --data FILE is JSON, every key optional (README, "The local Pendo emulator"):
      {"visitors": ["u-0001", "u-0002"],    (known ids, or "all")
       "accounts": "all",
       "schema": {"visitor": {"custom": {"plan": {"Type": "string"}}}},
       "values": {"visitor": {"u-0001": {"plan": "pro"}}}}
    Kinds: visitor, account, parentAccount; Types: string, integer, float,
    boolean, time. Ids with preset values count as known, and so does each
    parent account a known account id names (parent::child).
    """
    from ..emulator import PendoEmulator
    from ..emulator.dump import check_writable, serve

    given = EmulatorOptions(**options)
    parents = given.parent_accounts
    key = os.environ.get("PENDO_INTEGRATION_KEY", "")
    track_secret = os.environ.get("PENDO_TRACK_SECRET") or None
    if not key:
        raise UsageError("set PENDO_INTEGRATION_KEY: the emulator accepts only that key")
    _check_host(given.host, given.allow_non_loopback)
    data = _load_data(given.data_path, given.accept_any_id)
    if given.dump_path is not None:
        check_writable(given.dump_path)
    with _listen_errors(given.host, given.port):
        server = PendoEmulator(
            key,
            host=given.host,
            port=given.port,
            data=data,
            track_secret=track_secret,
            latency_ms=given.latency_ms,
            latency_per_record_ms=given.latency_per_record_ms,
            rate_limit=given.rate_limit,
            keep_bodies=given.keep_bodies or given.dump_path is not None,
            unknown_fields=given.unknown_fields,
            track_answer=given.track_answer,
            parent_accounts=parents != "none",
            parent_account_id_key=parents if parents != "none" else "parentAccountId",
            aggregation_answer=given.aggregation_answer,
            aggregation_limit=given.aggregation_limit,
            aggregation_times=given.aggregation_times,
            request_log=sys.stderr if given.debug else None,
        )
    click.echo(f"Pendo emulator listening on {server.url} (Ctrl-C to stop)", err=True)
    serve(server, given.dump_path, lambda line: click.echo(line, err=True))


def _check_host(host: str, allow_non_loopback: bool) -> None:
    """Refuse a --host that is not loopback, unless --allow-non-loopback."""
    from ..safety import is_loopback

    if not (allow_non_loopback or is_loopback(host)):
        raise UsageError(
            f"--host {host} is not a loopback address, and the emulator accepts writes from anyone "
            "holding the key, over plain http: use 127.0.0.1, localhost or ::1, or add "
            "--allow-non-loopback to expose it on a trusted network"
        )


def _load_data(data_path: str | None, accept_any_id: bool) -> EmulatorData:
    """The emulator's data: --data FILE, else the built-in demo data; every id known with
    --accept-any-id."""
    from ..emulator import ALL, EmulatorData

    if data_path is None:
        data = EmulatorData.default()
    else:
        try:
            data = EmulatorData.from_file(data_path)
        except OSError as exc:
            raise UsageError(f"--data {data_path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:  # the message starts with the path
            raise UsageError(f"--data {exc}. {_DATA_FORMAT}") from None
    if accept_any_id:
        data.visitors = data.accounts = ALL
    return data


@contextmanager
def _listen_errors(host: str, port: int) -> Iterator[None]:
    """Turn a failure to listen on host:port into a UsageError saying what to change."""
    try:
        yield
    except socket.gaierror as exc:
        raise UsageError(
            f"--host {host}: cannot listen there ({exc.strerror}); use an address of "
            "this machine such as 127.0.0.1"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            hint = (
                "the port is already in use (another emulator still running?): pick another "
                "--port, or --port 0 for a free one"
            )
        elif exc.errno == errno.EACCES:
            hint = f"{reason}: pick a port above 1023 with --port, or --port 0 for a free one"
        elif exc.errno == errno.EADDRNOTAVAIL:
            hint = f"{reason}: --host must be an address of this machine, such as 127.0.0.1"
        else:
            hint = reason
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise UsageError(f"cannot listen on {address}: {hint}") from None
