"""`dbt-pendo emulator` run as a real process: user mistakes end in one clear line and exit 2
(never "Internal error" or a traceback); --accept-any-id, --debug, PENDO_TRACK_SECRET,
--track-answer, --latency-ms, --rate-limit, the parent account switches, segments and the agent
group checked over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..conftest import wait_until

KEY = "some-key"
SECRET = "some-track-secret"
TRACK_EVENT = {
    "type": "track",
    "event": "Plan Upgraded",
    "visitorId": "u-0001",
    "timestamp": 1700000000000,
    "context": {},
}
LISTENING = "Pendo emulator listening on "
WRITE_PATH = "/api/v1/metadata/visitor/custom/value"
STARTUP_SECONDS = 30


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENDO_", "DBT_"))}
    env["PENDO_INTEGRATION_KEY"] = KEY
    return {**env, **extra}


def emulator_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dbt_pendo_sync", "emulator", *args]


def run_emulator(*args: str) -> subprocess.CompletedProcess:
    """For commands that must fail before serving: they exit on their own."""
    return subprocess.run(
        emulator_cmd(*args), env=cli_env(), capture_output=True, text=True, timeout=STARTUP_SECONDS
    )


def assert_usage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "Internal error" not in output, output
    assert len(done.stderr.strip().splitlines()) == 1, output  # one line
    for fragment in fragments:
        assert fragment in output


class Emulator:
    """A running `dbt-pendo emulator` process; its stderr lines arrive on a queue."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            emulator_cmd(*args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        listening = self.wait_for(lambda line: line.startswith(LISTENING), STARTUP_SECONDS)
        self.url = listening[len(LISTENING) :].split()[0]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, wanted: Callable[[str], bool], seconds: float = 10) -> str:
        """The first stderr line from now on that matches; fails at the deadline or at exit."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(left, 0))
            except queue.Empty:
                pytest.fail(f"no matching line within {seconds}s; stderr so far: {self.lines}")
            if line is None:
                pytest.fail(f"the emulator exited ({self.proc.wait()}); stderr: {self.lines}")
            self.lines.append(line)
            if wanted(line):
                return line

    def request(self, method: str, path: str, body: object = None, key: str | None = KEY) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["x-pendo-integration-key"] = key
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def write_visitor(self, visitor_id: str, values: dict) -> dict:
        status, text = self.request("POST", WRITE_PATH, [{"visitorId": visitor_id, "values": values}])
        assert status == 200, text
        return json.loads(text)

    def stop(self) -> str:
        """Terminate the process; all it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)


@pytest.fixture
def start() -> Iterator[Callable[..., Emulator]]:
    """Start emulator processes; terminate them all at teardown."""
    started: list[Emulator] = []

    def make(*args: str, **env: str) -> Emulator:
        emulator = Emulator(*args, env=cli_env(**env))
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


# ---------------------------------------------------------------- errors: exit 2, one line


def test_port_in_use_is_a_usage_error():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_emulator("--port", str(port))
    assert_usage_error(done, f"127.0.0.1:{port}", "already in use", "--port 0")


MALFORMED_DATA = {
    "not-json": ('{\n  "visitors": ["u-1",\n}\n', ["not valid JSON", "line 3 column 1"]),
    "visitors-a-number": ('{"visitors": 3}', ['"visitors" must be a list of id strings or "all"']),
    "schema-not-a-mapping": ('{"schema": ["visitor"]}', ['"schema" must be an object']),
    "field-without-type": (
        '{"schema": {"visitor": {"custom": {"plan": {"DisplayName": "Plan"}}}}}',
        ['schema.visitor.custom.plan needs "Type"'],
    ),
    "top-level-list": ('["u-1"]', ["the top level must be a JSON object"]),
    "misspelled-key": ('{"visitor": ["u-1"]}', ["unknown key 'visitor'"]),
}


@pytest.mark.parametrize("text, fragments", MALFORMED_DATA.values(), ids=MALFORMED_DATA.keys())
def test_malformed_data_file_is_a_usage_error(tmp_path: Path, text: str, fragments: list[str]):
    path = tmp_path / "emulator-data.json"
    path.write_text(text)
    done = run_emulator("--data", str(path), "--port", "0")
    assert_usage_error(done, f"--data {path}", *fragments, '"The local Pendo emulator"')


def test_dump_into_a_missing_folder_is_refused_at_start(tmp_path: Path):
    done = run_emulator("--port", "0", "--dump", str(tmp_path / "nowhere" / "received.json"))
    assert_usage_error(done, "--dump", "cannot write it", str(tmp_path / "nowhere"))


def test_negative_rate_limit_is_refused_by_click():
    done = run_emulator("--port", "0", "--rate-limit", "-1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--rate-limit'" in done.stderr


def test_help_lists_the_benchmark_options():
    done = subprocess.run(
        emulator_cmd("--help"), env=cli_env(), capture_output=True, text=True, timeout=STARTUP_SECONDS
    )
    assert done.returncode == 0, done.stderr
    assert "--rate-limit N" in done.stdout and "--keep-bodies" in done.stdout


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_non_loopback_host_is_refused(host: str):
    done = run_emulator("--host", host, "--port", "0")
    assert_usage_error(done, f"--host {host} is not a loopback address", "--allow-non-loopback")


def test_allow_non_loopback_lifts_the_refusal():
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the check passes, binding fails, and
    # nothing is exposed on a real interface.
    done = run_emulator("--host", "192.0.2.1", "--port", "0", "--allow-non-loopback")
    assert_usage_error(done, "cannot listen on 192.0.2.1:0")
    assert "loopback" not in done.stderr


# ---------------------------------------------------------------- serving


def test_unknown_ids_are_missing_without_accept_any_id(start):
    emulator = start("--port", "0")
    answer = emulator.write_visitor("made-up-visitor-7", {"role": "admin"})
    assert answer["missing"] == ["made-up-visitor-7"] and answer["updated"] == 0


def test_accept_any_id_knows_every_id(start):
    emulator = start("--host", "localhost", "--port", "0", "--accept-any-id")
    answer = emulator.write_visitor("made-up-visitor-7", {"role": "admin"})
    assert answer["updated"] == 1 and answer["missing"] == [], answer
    status, text = emulator.request("GET", "/_emulator/values/visitor", key=None)
    assert status == 200 and json.loads(text) == {"made-up-visitor-7": {"role": "admin"}}
    assert not any(line.startswith("emulator: ") for line in emulator.lines)  # no --debug, no log
    assert KEY not in emulator.stop()


def test_accept_any_id_keeps_the_schema_and_values_of_data(start, tmp_path: Path):
    path = tmp_path / "data.json"
    path.write_text(
        json.dumps(
            {
                "visitors": ["v-1"],
                "schema": {"visitor": {"custom": {"tier": {"Type": "integer"}}}},
                "values": {"visitor": {"v-1": {"tier": 1}}},
            }
        )
    )
    emulator = start("--port", "0", "--data", str(path), "--accept-any-id")
    assert emulator.write_visitor("someone-else", {"tier": 2})["updated"] == 1
    status, text = emulator.request("POST", WRITE_PATH, [{"visitorId": "x", "values": {"role": "a"}}])
    assert status == 400 and "role" in text  # the built-in schema's fields are not there
    status, text = emulator.request("GET", "/_emulator/values/visitor", key=None)
    assert json.loads(text) == {"v-1": {"tier": 1}, "someone-else": {"tier": 2}}


def test_debug_prints_one_line_per_request_and_never_the_key(start):
    emulator = start("--port", "0", "--debug")
    answer = emulator.write_visitor("u-0001", {"role": "admin"})
    assert answer["updated"] == 1
    line = emulator.wait_for(lambda line: WRITE_PATH in line)
    assert line.startswith(f"emulator: POST {WRITE_PATH} -> 200 ")
    assert emulator.request("GET", "/api/v1/visitor/u-0001", key="wrong-secret")[0] == 403
    line = emulator.wait_for(lambda line: "/api/v1/visitor/u-0001" in line)
    assert line.startswith("emulator: GET /api/v1/visitor/u-0001 -> 403 (wrong key) ")
    stderr = emulator.stop()
    assert KEY not in stderr and "wrong-secret" not in stderr
    assert "Traceback" not in stderr


def test_track_secret_comes_from_the_environment_and_is_never_printed(start):
    emulator = start("--port", "0", "--debug", "--track-answer", "json", PENDO_TRACK_SECRET=SECRET)
    assert emulator.request("POST", "/data/track", TRACK_EVENT, key=SECRET) == (200, '{"status": "ok"}')
    for key, refusal in [(KEY, "integration key, not the track secret"), ("wrong-secret", "wrong secret")]:
        assert emulator.request("POST", "/data/track", TRACK_EVENT, key=key)[0] == 403
        line = emulator.wait_for(lambda line: "-> 403" in line)
        assert line.startswith(f"emulator: POST /data/track -> 403 ({refusal}) ")
    status, text = emulator.request("GET", "/_emulator/stats", key=None)
    assert json.loads(text)["tracked_events"] == 1
    stderr = emulator.stop()
    assert SECRET not in stderr and KEY not in stderr and "wrong-secret" not in stderr


def test_without_a_track_secret_track_events_are_refused(start):
    emulator = start("--port", "0")
    status, text = emulator.request("POST", "/data/track", TRACK_EVENT, key=KEY)
    assert status == 403 and "no track secret" in text and "PENDO_TRACK_SECRET" in text


def test_latency_ms_delays_concurrent_requests_side_by_side(start):
    """No clock is read: that 8 requests were in flight at once shows each waited, in parallel."""
    emulator = start("--port", "0", "--latency-ms", "500", PENDO_TRACK_SECRET=SECRET)
    clients = 8
    ready = threading.Barrier(clients)
    statuses: list[int] = []

    def client() -> None:
        ready.wait()
        statuses.append(emulator.request("POST", "/data/track", TRACK_EVENT, key=SECRET)[0])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * clients
    status, text = emulator.request("GET", "/_emulator/stats", key=None)
    assert json.loads(text)["max_in_flight"] == clients


def test_latency_per_kind_is_read_from_the_command_line(start):
    """--latency-ms bulk=N,get=N: a write is held by its latency while a GET is answered (no
    clock is read: the stats show the GET answered and the write not yet)."""
    done = run_emulator("--latency-ms", "bulk=250,reads=5")
    assert done.returncode == 2 and "Invalid value for '--latency-ms': 'reads=5'" in done.stderr, done.stderr
    emulator = start("--port", "0", "--latency-ms", "bulk=3000,get=0", "--latency-per-record-ms", "0.5")

    def stats() -> dict:
        return json.loads(emulator.request("GET", "/_emulator/stats", key=None)[1])

    answers: list[int] = []
    body = [{"visitorId": "u-0001", "values": {}}]
    writer = threading.Thread(target=lambda: answers.append(emulator.request("POST", WRITE_PATH, body)[0]))
    writer.start()
    wait_until(lambda: stats()["max_in_flight"] == 1, "the write to be held by its latency")
    assert emulator.request("GET", "/api/v1/metadata/schema/visitor")[0] == 200
    held = stats()
    writer.join()
    assert (held["requests"], held["write_calls"], answers) == (1, 0, [200])


def test_the_process_plays_segments_and_the_agent_group(start):
    emulator = start("--port", "0", "--debug")
    status, text = emulator.request(
        "POST", "/api/v1/segment/upload", {"name": "Trial", "visitors": ["u-0001"]}
    )
    assert status == 200, text
    segment_id = json.loads(text)["segmentId"]
    patch = {"patch": [{"op": "add", "path": "/visitors", "value": ["u-0002"]}]}
    status, text = emulator.request("PATCH", f"/api/v1/segment/{segment_id}/visitor", patch)
    assert (status, json.loads(text)) == (
        200,
        {"multistatus": [{"status": 200, "message": "", "operation": "add"}]},
    )
    line = emulator.wait_for(lambda line: "PATCH /api/v1/segment/" in line)
    assert line.startswith(f"emulator: PATCH /api/v1/segment/{segment_id}/visitor -> 200 ")
    status, text = emulator.request("GET", "/_emulator/segments", key=None)
    assert json.loads(text)[segment_id]["members"] == ["u-0001", "u-0002"]
    agent = [{"visitorId": "u-0001", "values": {"role": "admin"}}]
    status, text = emulator.request("POST", "/api/v1/metadata/visitor/agent/value", agent)
    assert status == 200 and json.loads(text)["updated"] == 1
    status, text = emulator.request("GET", "/_emulator/values/visitor?group=agent", key=None)
    assert json.loads(text) == {"u-0001": {"role": "admin"}}


def test_the_aggregation_switches_and_admin_edits_from_the_command_line(start):
    emulator = start(
        "--port", "0", "--aggregation-answer", "array", "--aggregation-limit", "refused",
        "--aggregation-times", "rfc3339",
    )  # fmt: skip
    edit = {"kind": "visitor", "id": "u-0001", "values": {"role": "admin"}}
    assert emulator.request("POST", "/_emulator/values", edit, key=None) == (200, "{}")
    pipeline = [{"source": {"visitors": None}}, {"filter": 'visitorId == "u-0001"'}]
    body = {"response": {"mimeType": "application/json"}, "request": {"pipeline": pipeline}}
    status, text = emulator.request("POST", "/api/v1/aggregation", body)
    (row,) = json.loads(text)  # a bare array
    assert status == 200 and row["metadata"]["custom"] == {"role": "admin"}
    assert row["metadata"]["auto"]["lastupdated"].endswith("Z")  # RFC 3339 text
    body["request"]["pipeline"] = [*pipeline, {"limit": 1}]
    status, text = emulator.request("POST", "/api/v1/aggregation", body)
    assert status == 400 and "limit" in text
    status, text = emulator.request("GET", "/_emulator/stats", key=None)
    assert json.loads(text)["read_calls"] == 2


def track_with_headers(url: str) -> tuple[int, str | None]:
    """POST one track event with the secret: the status and the Retry-After header."""
    headers = {"Content-Type": "application/json", "x-pendo-integration-key": SECRET}
    data = json.dumps(TRACK_EVENT).encode()
    request = urllib.request.Request(url + "/data/track", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")


def test_the_parent_account_switches_are_read_from_the_command_line(start):
    path = "/api/v1/metadata/parentAccount/custom/value"
    keyed = start("--port", "0", "--accept-any-id", "--parent-accounts", "accountId")
    status, text = keyed.request("POST", path, [{"parentAccountId": "org-1", "values": {"region": "eu"}}])
    assert status == 400 and '"accountId"' in text
    status, text = keyed.request("POST", path, [{"accountId": "org-1", "values": {"region": "eu"}}])
    assert status == 200 and json.loads(text)["updated"] == 1
    assert keyed.request("GET", "/_emulator/values/parentAccount", key=None) == (
        200,
        '{"org-1": {"region": "eu"}}',
    )

    without = start("--port", "0", "--parent-accounts", "none")
    assert without.request("GET", "/api/v1/metadata/schema/parentAccount")[0] == 404
    assert without.request("POST", path, [{"parentAccountId": "org-1", "values": {}}])[0] == 404
    assert without.request("GET", "/api/v1/metadata/schema/account")[0] == 200


def test_rate_limit_throttles_a_burst_and_stats_count_it(start):
    emulator = start("--port", "0", "--rate-limit", "3", PENDO_TRACK_SECRET=SECRET)
    answers = [track_with_headers(emulator.url) for _ in range(12)]
    statuses = [status for status, _ in answers]
    assert statuses[:3] == [200] * 3 and 429 in statuses and set(statuses) == {200, 429}
    assert all(int(after) >= 1 for status, after in answers if status == 429)
    status, text = emulator.request("GET", "/_emulator/stats", key=None)
    stats = json.loads(text)
    assert (stats["throttled"], stats["track_calls"]) == (statuses.count(429), statuses.count(200))
    assert stats["cpu_seconds"] > 0 and stats["peak_rss_mb"] > 0


def test_keep_bodies_flag_is_taken(start):
    emulator = start("--port", "0", "--keep-bodies")
    assert emulator.write_visitor("u-0001", {"role": "admin"})["updated"] == 1
    status, text = emulator.request("GET", "/_emulator/stats", key=None)
    assert json.loads(text)["requests"] == 1


def test_dump_writes_what_the_emulator_received_when_it_stops(start, tmp_path: Path):
    dump = tmp_path / "received.json"
    emulator = start("--port", "0", "--dump", str(dump), PENDO_TRACK_SECRET=SECRET)
    emulator.write_visitor("u-0001", {"role": "admin"})
    assert track_with_headers(emulator.url) == (200, None)
    status, text = emulator.request(
        "POST", "/api/v1/segment/upload", {"name": "Trial", "visitors": ["u-0002"]}
    )
    assert status == 200, text
    assert not dump.exists()  # written at the stop
    stderr = emulator.stop()  # SIGTERM, as Ctrl-C
    assert f"wrote what the emulator received to {dump}" in stderr
    received = json.loads(dump.read_text())
    assert received["values"]["visitor"] == {"custom": {"u-0001": {"role": "admin"}}, "agent": {}}
    assert received["values"]["account"] == {"custom": {}, "agent": {}}
    assert received["track_events"] == [TRACK_EVENT]
    (segment,) = received["segments"].values()
    assert (segment["name"], segment["members"]) == ("Trial", ["u-0002"])
    assert (received["stats"]["write_calls"], received["stats"]["track_calls"]) == (1, 1)
    assert KEY not in dump.read_text() and SECRET not in dump.read_text()
