"""Live pages in Debian's Chromium: an open board follows a real consumer without reloading,
and a stream that drops resumes with Last-Event-ID and loses no update; the stream protocol
itself (first event, resume, heartbeat, coalescing) over a raw socket."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build, events_publish
from tests.fixtures import wait_until_drained
from tests.web.conftest import WebServer, chromium, ingest, off_loop, push, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS_JS = """() => Array.from(document.querySelectorAll('table.board tbody tr')).map(tr => [
  tr.querySelector('.rank').textContent.trim(), tr.querySelector('.name').textContent.trim(),
  tr.querySelector('.score').textContent.trim()])"""


@pytest.fixture
def live_page(nats_names) -> Iterator[object]:
    """A browser of this test's own, closed before the NATS fixtures clean up (they need the
    thread's event loop that Playwright holds while open)."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # test_csp.py
        yield context.new_page()
        context.close()


def api(server: WebServer, query: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/leaderboard/public?{query}", timeout=10) as response:
        return json.loads(response.read())


def expected_rows(body: dict) -> list[list[str]]:
    return [[str(r["rank"]), r.get("login") or f"#{r['user_id']}", str(r["score"])] for r in body["results"]]


def _published(*events: pb.ContributionEvent) -> None:
    assert off_loop(events_publish, iter(e.SerializeToString() for e in events)) == len(events)


def test_an_open_board_follows_a_real_consumer_without_reloading(
    web_server, ready_boards, nats_names, spawn_consumer, live_page
):
    now = datetime.now(UTC)
    ingest(push(1, 5, at=now), push(2, 3, at=now))
    consumer = spawn_consumer()
    live_page.goto(web_server.url + "/")
    live_page.evaluate("window.loadedOnce = true")
    live_page.wait_for_function("document.querySelector('table.board').dataset.live === 'open'")
    assert live_page.evaluate(ROWS_JS) == [["1", "#1", "5"], ["2", "#2", "3"]]

    _published(event_build(event_id="live-1", kind=pb.PUSHED, user_id=3, project_id=1, occurred_at=now, commits=9))
    live_page.wait_for_function("document.querySelector('table.board tbody tr').dataset.user === '3'", timeout=15000)
    assert live_page.evaluate(ROWS_JS) == [["1", "#3", "9"], ["2", "#1", "5"], ["3", "#2", "3"]]

    _published(
        event_build(event_id="live-2", kind=pb.PUSHED, user_id=2, project_id=1, occurred_at=now, commits=10),
        event_build(event_id="live-3", kind=pb.PUSHED, user_id=1, project_id=1, occurred_at=now, commits=5),
    )
    live_page.wait_for_function(
        "document.querySelector('table.board tbody tr').dataset.user === '2'"
        " && document.querySelectorAll('table.board tbody tr')[1].dataset.user === '1'",
        timeout=15000,
    )
    off_loop(wait_until_drained, nats_names, processes=[consumer])
    assert live_page.evaluate(ROWS_JS) == [["1", "#2", "13"], ["2", "#1", "10"], ["3", "#3", "9"]]
    assert live_page.evaluate(ROWS_JS) == expected_rows(api(web_server, ""))
    assert live_page.evaluate("window.loadedOnce") is True  # the same document all along: no reload
    screenshot(live_page, "board-live-desktop")


def test_a_stream_that_drops_resumes_and_loses_no_update(ready_boards, tmp_path, nats_names, live_page):
    now = datetime.now(UTC)
    ingest(push(1, 5, at=now))
    server = WebServer(tmp_path / "gunicorn-1.log").start()
    try:
        live_page.goto(server.url + "/")
        live_page.evaluate("window.loadedOnce = true")
        live_page.wait_for_function("document.querySelector('table.board').dataset.live === 'open'")
        server.stop()  # every stream drops
        live_page.wait_for_function("document.querySelector('table.board').dataset.live === 'reconnecting'")
        ingest(push(2, 8, at=now), push(1, 1, at=now))  # changed while nobody could tell the page
        server = WebServer(tmp_path / "gunicorn-2.log", port=server.port).start()
        live_page.wait_for_function(
            "document.querySelector('table.board tbody tr').dataset.user === '2'", timeout=15000
        )
        assert live_page.evaluate(ROWS_JS) == [["1", "#2", "8"], ["2", "#1", "6"]]
        assert live_page.evaluate("window.loadedOnce") is True
    finally:
        server.stop()


class Stream:
    """A raw SSE client: reads events (and comments) off a socket."""

    def __init__(self, server: WebServer, query: str, last_event_id: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall(f"GET /v1/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{resume}\r\n".encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        self.status = head.split(b" ", 2)[1]
        self.headers = head.decode().lower()

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the stream closed")
            self.buffer += data
        block, self.buffer = self.buffer.split(mark, 1)
        return block

    def next_block(self) -> dict[str, str]:
        """The next SSE block as {field: value} (a comment is {"": text})."""
        block = {}
        for line in self._until(b"\n\n").decode().split("\n"):
            name, _, value = line.partition(":")
            block[name] = value.removeprefix(" ")
        return block

    def next_event(self) -> dict[str, str]:
        while True:
            block = self.next_block()
            if block.get("event") == "board":
                return block

    def close(self) -> None:
        self.sock.close()


def test_the_stream_protocol(ready_boards, tmp_path):
    now = datetime.now(UTC)
    ingest(push(1, 5, at=now))
    server = WebServer(tmp_path / "gunicorn.log", env={"STREAM_HEARTBEAT_SECONDS": "0.5"}).start()
    try:
        first = Stream(server, "timeframe=all_time")
        assert first.status == b"200" and "content-type: text/event-stream" in first.headers
        assert first.next_block() == {"retry": "1000"}
        event = first.next_event()  # the current page at once
        page = json.loads(event["data"])
        assert (page["total"], [(r["rank"], r["user_id"], r["score"]) for r in page["results"]]) == (1, [(1, "1", 5)])

        # resuming with the current id: nothing is resent; the next event is the next change
        resumed = Stream(server, "timeframe=all_time", last_event_id=event["id"])
        stale = Stream(server, "timeframe=all_time", last_event_id="not-the-current-id")
        assert stale.next_event() == event  # a stale client gets the current page at once
        assert resumed.next_block() == {"retry": "1000"}
        assert resumed.next_block() == {"": "heartbeat"}  # comments keep it open meanwhile

        # a burst of batches: every watcher ends on the last state, and never sees an event twice
        for _ in range(10):
            ingest(push(2, 1, at=now))
        seen = []
        while not seen or json.loads(seen[-1]["data"])["results"][0]["score"] != 10:
            seen.append(resumed.next_event())
        assert len({block["id"] for block in seen}) == len(seen)
        assert len(seen) < 10  # coalesced: far fewer events than batches
        final = json.loads(seen[-1]["data"])
        assert [(r["rank"], r["user_id"], r["score"]) for r in final["results"]] == [(1, "2", 10), (2, "1", 5)]

        bad = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        bad.sendall(b"GET /v1/stream?timeframe=hourly HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := bad.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ") and b'"timeframe"' in answer
        for stream in (first, resumed, stale):
            stream.close()
    finally:
        server.stop()


def test_open_streams_hold_no_thread(ready_boards, tmp_path):
    """Ten streams open on a server with two threads: pages and the API still answer."""
    ingest(push(1, 5, at=datetime.now(UTC)))
    server = WebServer(tmp_path / "gunicorn.log", threads=2).start()
    try:
        streams = [Stream(server, "timeframe=all_time") for _ in range(10)]
        for stream in streams:
            assert json.loads(stream.next_event()["data"])["total"] == 1  # each one is being served
        with urllib.request.urlopen(f"{server.url}/", timeout=10) as page:
            assert page.status == 200
        assert [(r["rank"], r["user_id"], r["score"]) for r in api(server, "")["results"]] == [(1, "1", 5)]
        ingest(push(2, 7, at=datetime.now(UTC)))
        for stream in streams:  # and every stream was still open, live
            assert json.loads(stream.next_event()["data"])["total"] == 2
            stream.close()
    finally:
        server.stop()
