"""The HTTP layer of the emulator: a threaded server on one socket that reads each request,
has the emulator answer it, sends (or drops) the answer and logs one line for it."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import urlsplit

from .answers import Answer, text_answer
from .keys import Keys

# (method, target with query, headers, body) -> the answer
Serve = Callable[[str, str, Message, bytes], Answer]


class RequestLog:
    """One line per request to a text stream (None: no log): method, path with query, status,
    milliseconds; for a 403 whether the key was missing, wrong or read-only, never the key."""

    def __init__(self, stream: TextIO | None, keys: Keys) -> None:
        self._stream = stream
        self._keys = keys
        self._lock = threading.Lock()

    def request(self, method: str, target: str, status: int, key: str | None, seconds: float) -> None:
        """One line of the request log: the key is only described, never shown."""
        if self._stream is None:
            return
        answer = "dropped" if status == 0 else str(status)
        refusal = self._keys.refusal(urlsplit(target).path, key) if status == 403 else None
        if refusal:
            answer += f" ({refusal})"
        self.text(f"{method} {target} -> {answer} ({seconds * 1000:.0f} ms)")

    def text(self, text: str) -> None:
        if self._stream is None:
            return
        # Request lines come from the network: no control characters reach the terminal.
        line = "".join(c if c.isprintable() else "?" for c in text)
        with self._lock:
            self._stream.write(f"emulator: {line}\n")
            self._stream.flush()


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, lets the emulator answer it, sends (or drops) the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence http.server's per-request logging (the emulator logs requests itself)."""

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        """Requests http.server refuses before _handle (bad request line, timeout): to the log."""
        self.server.request_log.text(format % args)

    def _handle(self) -> None:
        started = time.monotonic()
        length = self.headers.get("Content-Length")
        if length is None and "Transfer-Encoding" in self.headers:
            self.close_connection = True
            answer = text_answer(411, "Content-Length required")
            self._send(answer)
        else:
            raw = self.rfile.read(int(length or 0))
            answer = self.server.answer(self.command, self.path, self.headers, raw)
            if answer.status == 0:
                self._drop()
            else:
                self._send(answer)
        key = self.headers.get("x-pendo-integration-key")
        self.server.request_log.request(
            self.command, self.path, answer.status, key, time.monotonic() - started
        )

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.cut:
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            self._drop()
        else:
            self.wfile.write(answer.body)

    def _drop(self) -> None:
        self.close_connection = True
        _shut_down(self.connection)


class Server(ThreadingHTTPServer):
    """Threaded server that knows how to answer (`answer`), its request log and its open
    connections; the socket is bound on construction."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], answer: Serve, request_log: RequestLog) -> None:
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.answer = answer
        self.request_log = request_log
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (drops, stop()); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down kept-alive client connections so their threads end."""
        with self._open_lock:
            for sock in self._open:
                _shut_down(sock)
