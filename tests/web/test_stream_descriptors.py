"""A worker's descriptors, through a real gunicorn with the stream worker whose open-files
limit is low (200): every stream holds one of them for as long as it is open.

- streams are refused (503 `streams_full`, `Retry-After`) once they would leave the worker
  fewer than `web.stream.DESCRIPTORS_KEPT` (100) descriptors, while the API still answers, and
  a stream that closes makes room for another (`web/stream.py`, `web/worker.py`);
- a worker out of descriptors altogether (connections that send nothing, held at the gate) is
  not killed by gunicorn's `accept`: it stops accepting for a while, the connections wait in
  the listen queue, and it answers again once descriptors are free (`web/gate.py`)."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from tests.fixtures import wait_for
from tests.web.conftest import WebServer
from tests.web.test_stream_limits import open_stream, status

OPEN_FILES = 200
KEPT = 100  # web.stream.DESCRIPTORS_KEPT, as documented (docs/LIVE.md)


@pytest.fixture
def few_descriptors(ready_boards, tmp_path) -> Iterator[WebServer]:
    env = {"STREAMS_PER_CLIENT": "0", "STREAMS_TOTAL": "0", "HTTP_HEADER_TIMEOUT": "60"}
    server = WebServer(tmp_path / "gunicorn.log", env=env, open_files=OPEN_FILES).start()
    yield server
    server.stop()


def api_answers(server: WebServer) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/v1/leaderboard/public?limit=5", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_streams_leave_the_worker_descriptors_for_its_requests(few_descriptors):
    streams = [open_stream(few_descriptors) for _ in range(OPEN_FILES - KEPT)]
    assert {status(head) for _, head in streams} == {200}
    _, refused = open_stream(few_descriptors)
    assert status(refused) == 503 and b"Retry-After: 30\r\n" in refused
    assert json.loads(refused.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "streams_full"
    assert api_answers(few_descriptors)  # the descriptors kept serve the API
    streams.pop()[0].close()  # its descriptor comes back once the hub sees the connection go

    def reopened() -> bool:
        sock, head = open_stream(few_descriptors)
        if status(head) == 200:
            streams.append((sock, head))
            return True
        sock.close()
        return False

    wait_for(reopened, timeout=10, interval=0.2, message="the closed stream's room to come back")
    for sock, _ in streams:
        sock.close()


def test_a_worker_out_of_descriptors_waits_instead_of_dying(few_descriptors):
    workers = few_descriptors.workers()
    # Connections that send nothing are held at the gate, a descriptor each: more than the
    # limit allows (and fewer than the gate's 256 for one address). Those past it wait in the
    # listen queue.
    idle = [socket.create_connection(("127.0.0.1", few_descriptors.port), timeout=10) for _ in range(OPEN_FILES + 40)]
    wait_for(
        lambda: "out of descriptors" in few_descriptors.log.read_text(),
        timeout=20,
        message="the worker to run out of descriptors",
    )
    assert few_descriptors.proc.poll() is None
    assert few_descriptors.workers() == workers  # the same worker: none died and none was started
    for sock in idle:
        sock.close()
    wait_for(lambda: api_answers(few_descriptors), timeout=20, interval=0.2, message="the API to answer again")
    assert few_descriptors.workers() == workers
    assert "Exception in worker process" not in few_descriptors.log.read_text()
