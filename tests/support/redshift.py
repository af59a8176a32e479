"""dbt-redshift against the tests' PostgreSQL server: what Redshift has and PostgreSQL lacks,
found by running the incremental scenarios through dbt-redshift (test_incremental.py), and
the least that lets them run. Each piece below is named with the error PostgreSQL gave.

1. redshift_connector's start-up packet always carries four settings only Redshift knows:
   `client_protocol_version`, `driver_version`, `os_version` and `driver_discovery_version`.
   PostgreSQL ends the connection at once: FATAL 42704, unrecognized configuration parameter
   "client_protocol_version". `RedshiftRelay`, a TCP relay on 127.0.0.1, drops those four from
   the start-up packet and copies every byte after it untouched.
2. redshift_connector parses the server's `server_version` with packaging.version: Redshift's
   `8.0.2` parses, Debian's `15.18 (Debian 15.18-0+deb12u1)` does not (InvalidVersion). The
   relay sends `15.18`.
3. dbt-redshift's get_columns_in_relation reads two catalog objects of Redshift's own:
   `function pg_get_late_binding_view_cols() does not exist` (late-binding views) and
   `relation "pg_catalog.svv_external_columns" does not exist` (Spectrum's external tables).
   CATALOG_STANDINS makes both, empty: PostgreSQL has neither kind of view.
4. dbt-redshift's current_timestamp is `getdate()`: `function getdate() does not exist`.
   CATALOG_STANDINS makes it (a timestamp without time zone, to the second, as Redshift's).

Everything else ran as it is: dbt-redshift's connection, its `dbt build`, its relation
listing (information_schema), its DDL, and the package's SQL as dbt-redshift renders it.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .postgres import PostgresServer

# The start-up settings of redshift_connector's packet that PostgreSQL refuses.
REDSHIFT_ONLY = frozenset(
    {"client_protocol_version", "driver_version", "os_version", "driver_discovery_version"}
)
_PROTOCOL_3 = 196608
_CHUNK = 65536


# What Redshift has and PostgreSQL lacks (3. and 4. above), as PostgreSQL SQL.
CATALOG_STANDINS = """
create or replace function public.pg_get_late_binding_view_cols() returns setof record
  language sql as $$ select null::name, null::name, null::name, null::varchar, null::int where false $$;
set allow_system_table_mods = on;
create or replace view pg_catalog.svv_external_columns as
  select null::name as schemaname, null::name as tablename, null::name as columnname,
         null::text as external_type, null::int as columnnum
  where false;
reset allow_system_table_mods;
create or replace function public.getdate() returns timestamp
  language sql as $$ select localtimestamp(0) $$;
"""


@dataclass
class RedshiftRelay:
    """Relays 127.0.0.1:`port` to PostgreSQL at `target_host`:`target_port` (a context manager)."""

    target_host: str
    target_port: int
    dropped: list[str] = field(default_factory=list)  # the settings dropped, in order seen
    _listener: socket.socket = field(init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stopping = threading.Event()
        self._start(self._accept)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._start(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(None)
        with client, socket.create_connection((self.target_host, self.target_port)) as server:
            packet = _read_packet(client)
            if packet is None:
                return
            server.sendall(self._without_redshift_settings(packet))
            if not _relay_start_up_answers(server, client):
                return
            self._start(_copy, server, client)
            _copy(client, server)

    def _without_redshift_settings(self, packet: bytes) -> bytes:
        """The start-up packet without REDSHIFT_ONLY's settings (any other packet as it is)."""
        (protocol,) = struct.unpack("!i", packet[4:8])
        if protocol != _PROTOCOL_3:
            return packet
        fields = packet[8:].split(b"\x00")
        kept = bytearray()
        for name, value in zip(fields[0::2], fields[1::2], strict=False):
            if not name:
                break
            if name.decode() in REDSHIFT_ONLY:
                self.dropped.append(name.decode())
                continue
            kept += name + b"\x00" + value + b"\x00"
        body = struct.pack("!i", protocol) + bytes(kept) + b"\x00"
        return struct.pack("!i", len(body) + 4) + body

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()

    def __enter__(self) -> RedshiftRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def relay_to(server: PostgresServer) -> Iterator[RedshiftRelay]:
    """A relay to `server`, whose database gets CATALOG_STANDINS first."""
    server.execute(CATALOG_STANDINS)
    with RedshiftRelay(server.host, server.port) as relay:
        yield relay


def _relay_start_up_answers(server: socket.socket, client: socket.socket) -> bool:
    """PostgreSQL's messages up to its first ReadyForQuery, `server_version` cut at its first
    space; False when a side closed first (or the server refused the connection)."""
    while True:
        head = _read_exactly(server, 5)
        if head is None:
            return False
        kind, length = head[:1], struct.unpack("!i", head[1:])[0]
        body = _read_exactly(server, length - 4)
        if body is None:
            return False
        if kind == b"S" and body.startswith(b"server_version\x00"):
            value = body[len(b"server_version\x00") :].rstrip(b"\x00").split(b" ")[0]
            body = b"server_version\x00" + value + b"\x00"
        client.sendall(kind + struct.pack("!i", len(body) + 4) + body)
        if kind == b"Z":
            return True
        if kind == b"E":
            return False


def _read_packet(sock: socket.socket) -> bytes | None:
    """One length-prefixed start-up packet; None when the client left first."""
    head = _read_exactly(sock, 4)
    if head is None:
        return None
    (length,) = struct.unpack("!i", head)
    rest = _read_exactly(sock, length - 4)
    return None if rest is None else head + rest


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            return None
        data += part
    return bytes(data)


def _copy(source: socket.socket, sink: socket.socket) -> None:
    """Bytes from `source` to `sink` until either side closes."""
    try:
        while chunk := source.recv(_CHUNK):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
