"""Open streams per client address and in all, through a real gunicorn with the stream worker
(api/watch.py's admission, web/worker.py's refusal), and the slow-client gate (web/gate.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.fixtures import wait_for
from tests.web.conftest import WebServer


@pytest.fixture
def limited(ready_boards, tmp_path) -> Iterator[WebServer]:
    env = {"STREAMS_PER_CLIENT": "2", "STREAMS_TOTAL": "3", "HTTP_HEADER_TIMEOUT": "1"}
    server = WebServer(tmp_path / "gunicorn.log", env=env).start()
    yield server
    server.stop()


def open_stream(server: WebServer, source: str = "127.0.0.1") -> tuple[socket.socket, bytes]:
    """A stream request from `source`: the socket and the answer's head."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))
    sock.sendall(b"GET /v1/stream?timeframe=weekly HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return sock, head


def status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def test_streams_per_client_and_in_all(limited):
    first, head = open_stream(limited)
    second, head2 = open_stream(limited)
    assert (status(head), status(head2)) == (200, 200)
    _, refused = open_stream(limited)
    assert status(refused) == 429
    assert b"Retry-After: 30\r\n" in refused
    body = refused.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["error"]["code"] == "too_many_streams"
    other, head3 = open_stream(limited, "127.0.0.2")  # another address: its own count
    assert status(head3) == 200
    _, full = open_stream(limited, "127.0.0.3")  # three open in all: the server is full
    assert status(full) == 503 and b"Retry-After: 30\r\n" in full
    first.close()  # its slot comes back once the hub sees the connection go

    def reopened() -> bool:
        sock, head = open_stream(limited, "127.0.0.3")
        if status(head) == 200:
            sock.close()
            return True
        return False

    wait_for(reopened, timeout=10, interval=0.2, message="the closed stream's slot to come back")
    for sock in (second, other):
        sock.close()


def test_the_request_rate_counts_streams_and_requests_alike(ready_boards, tmp_path):
    env = {"RATE_LIMIT_PER_SECOND": "0.01", "RATE_LIMIT_BURST": "2"}  # no refill within the test
    server = WebServer(tmp_path / "gunicorn.log", env=env).start()  # its readiness probe takes one
    try:
        first, head = open_stream(server)  # answered by the worker, before Django
        assert status(head) == 200
        api = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        api.sendall(b"GET /v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert api.recv(12) == b"HTTP/1.1 429"  # Django's middleware: the same bucket
        _, refused = open_stream(server)
        assert status(refused) == 429 and b"\r\nRetry-After: " in refused
        _, other = open_stream(server, "127.0.0.2")
        assert status(other) == 200
        first.close()
        api.close()
    finally:
        server.stop()


def test_a_request_head_that_never_ends_is_cut_and_others_are_served(limited):
    slow = socket.create_connection(("127.0.0.1", limited.port), timeout=10)
    slow.sendall(b"GET /v1/health-check HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    idle = socket.create_connection(("127.0.0.1", limited.port), timeout=10)  # says nothing at all
    fast = socket.create_connection(("127.0.0.1", limited.port), timeout=10)
    fast.sendall(b"GET /v1/leaderboard/public?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert fast.recv(12) == b"HTTP/1.1 200"
    # closed by the server (HTTP_HEADER_TIMEOUT, 1 s here) well before the client's 10 s timeout,
    # which would raise instead
    assert slow.recv(100) == b""
    assert idle.recv(100) == b""
    for sock in (slow, idle, fast):
        sock.close()


@pytest.mark.parametrize(
    ("head", "ready"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", False),
        (b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nabcde", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", True),  # large: a thread reads it, timed
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True),
        (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, True),  # no end in sight: gunicorn's parser refuses it
    ],
)
def test_the_gate_waits_for_a_whole_request(head, ready):
    from web.gate import request_ready

    assert request_ready(head) is ready
