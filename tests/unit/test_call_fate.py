"""Whether a failed call surely had no effect in Pendo (PendoError.unsent), as the client
tells it, against real sockets on 127.0.0.1: a request that never left (no connection) had
none; one that left without an answer may have, and the track endpoint's client does not
make it again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dbt_pendo_sync.errors import PendoUnreachableError
from dbt_pendo_sync.pendo.client import PendoClient
from dbt_pendo_sync.pendo.policy import RetryPolicy
from dbt_pendo_sync.pendo.settings import PendoSettings
from dbt_pendo_sync.safety import Secret

from ..support.processes import free_port


def _track_client(url: str, repeat_unanswered: bool = False) -> PendoClient:
    settings = PendoSettings(base_url=url, key=Secret("ts-unit"), repeat_unanswered=repeat_unanswered)
    return PendoClient(settings, RetryPolicy(attempts=3, backoff=0.01, timeout=(0.3, 0.3)))


def _failed_call(client: PendoClient) -> PendoUnreachableError:
    with pytest.raises(PendoUnreachableError) as raised:
        client.track({"type": "track"}, "e-1")
    client.close()
    return raised.value


@contextmanager
def _listener(backlog: int, queued: int) -> Iterator[socket.socket]:
    """A socket listening with `backlog` that never accepts, `queued` connections already
    waiting: with room left, the kernel takes a connection and the request, and nothing
    answers; with none, a connection times out."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(backlog)
        waiting = [socket.create_connection(server.getsockname()) for _ in range(queued)]
        try:
            yield server
        finally:
            for sock in waiting:
                sock.close()


def _url(server: socket.socket) -> str:
    return f"http://127.0.0.1:{server.getsockname()[1]}/data/track"


def test_a_refused_connection_sent_nothing():
    error = _failed_call(_track_client(f"http://127.0.0.1:{free_port()}/data/track"))
    assert error.unsent
    assert "could not be reached (connection refused) after 3 attempts" in str(error)


def test_a_connect_timeout_sent_nothing():
    with _listener(backlog=0, queued=1) as server:
        error = _failed_call(_track_client(_url(server)))
    assert error.unsent
    assert "could not be reached (timed out)" in str(error)


def test_a_request_without_an_answer_may_have_arrived_and_is_not_made_again():
    with _listener(backlog=4, queued=0) as server:
        error = _failed_call(_track_client(_url(server)))
        server.setblocking(False)
        server.accept()[0].close()  # the one connection the call made
        with pytest.raises(BlockingIOError):
            server.accept()  # no second attempt
    assert not error.unsent
    assert "did not answer a call (timed out); its request may have reached Pendo" in str(error)


def test_a_client_that_repeats_unanswered_calls_never_says_one_sent_nothing():
    """Metadata's client repeats a call after a read timeout, so a refused connection on
    the last attempt does not prove that an earlier one did not arrive."""
    client = _track_client(f"http://127.0.0.1:{free_port()}/data/track", repeat_unanswered=True)
    assert not _failed_call(client).unsent
