"""The board pages' cache (api/cache.py, the policy UNTIL_BOARD_CHANGES): a page is kept until one of its boards changes
(an announcement) or its time runs out; a render that raced a change is never kept fresh;
only marked 200 pages are kept. Then the real thing: gunicorn with the stream worker answers
a cached page with Django's bytes, drops it when the consumer's write path announces its
board, counts it in the metrics, and checks the Host header as Django does."""

from __future__ import annotations

import re
import socket

import pytest
from django.urls import resolve

from api import cache as pagecache
from api.cache import Page, wire_of
from api.cache import ResponseCache as PageCache
from scoring import clock as scoring_clock
from scoring.boards import Timeframe, period_of, period_shift
from tests.fixtures import wait_for
from tests.web.conftest import WebServer, ingest, push

KEY = ("http", "/?timeframe=weekly")


def page(boards: set[str], *, read_at: float, fresh_until: float = 10.0, body: bytes = b"<p>") -> Page:
    headers = (("Content-Type", "text/html"),)
    return Page(fresh_until, read_at, body, headers, None, frozenset(boards), wire_of(body, headers))


# ---- the cache itself (pure)


def test_a_page_is_fresh_until_its_time_or_a_change_of_one_of_its_boards(monkeypatch):
    seconds = [5.0]
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: seconds[0])
    cache = PageCache()
    cache.store(KEY, page({"b:this", "b:last"}, read_at=4.9), started_at=cache.count)
    cache.store(("http", "/other"), page({"b:other"}, read_at=4.9), started_at=cache.count)
    assert cache.fresh(KEY) is not None
    cache.changed(["b:unrelated"])
    assert cache.fresh(KEY) is not None
    cache.changed(["b:last"])  # the previous period's board: the moves changed
    assert cache.fresh(KEY) is None  # read 0.1 s ago: stale at once
    assert cache.pages[KEY].content == b"<p>"  # kept: answered while one thread renders again
    assert cache.servable(KEY) is None
    cache.refreshing.add(KEY)
    assert cache.servable(KEY).content == b"<p>"
    cache.refreshing.discard(KEY)
    assert cache.fresh(("http", "/other")) is not None
    seconds[0] = 10.0
    assert cache.fresh(("http", "/other")) is None  # its time ran out
    cache.store(KEY, page({"b:this"}, read_at=10.0, fresh_until=20.0), started_at=cache.count)
    cache.changed(None)  # resubscribed: anything may have changed meanwhile
    assert cache.fresh(KEY) is not None  # but a page read just now stays fresh for 0.1 s
    seconds[0] = 10.1
    assert cache.fresh(KEY) is None


def test_a_stale_page_stands_in_for_its_render_for_a_second_at_most(monkeypatch):
    seconds = [5.0]
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: seconds[0])
    cache = PageCache()
    cache.store(KEY, page(set(), read_at=4.9, fresh_until=5.1), started_at=cache.count)
    cache.refreshing.add(KEY)  # a thread renders it again, on a Redis that stalls
    seconds[0] = 6.099
    assert cache.servable(KEY).content == b"<p>"
    seconds[0] = 6.1  # a second past its time: not answered any more, however long the render takes
    assert cache.servable(KEY) is None


def test_a_board_that_changes_all_the_time_costs_a_render_per_tenth_of_a_second(monkeypatch):
    seconds = [5.0]
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: seconds[0])
    cache = PageCache()
    cache.store(KEY, page({"b:this"}, read_at=5.0), started_at=cache.count)
    for _ in range(4):  # a batch every 20 ms
        seconds[0] += 0.02
        cache.changed(["b:this"])
        assert cache.fresh(KEY) is not None
    seconds[0] = 5.1
    assert cache.fresh(KEY) is None


def test_a_render_that_a_change_overtook_is_kept_stale(monkeypatch):
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: 5.0)
    cache = PageCache()
    cache.changed(["b:this"])  # before the render began: the render saw it
    started = cache.count
    cache.store(KEY, page({"b:this"}, read_at=4.8), started_at=started)
    assert cache.fresh(KEY) is not None
    started = cache.count
    cache.changed(["b:this"])  # while the page was being rendered: it may not show it
    cache.store(KEY, page({"b:this"}, read_at=4.8), started_at=started)
    assert cache.fresh(KEY) is None


def test_answer_bytes_keep_the_headers_and_count_the_body():
    wire = wire_of(b"hello", (("Content-Type", "text/plain"), ("Content-Length", "1"), ("Date", "x")))
    assert wire == b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    assert wire_of(b"", ()) == b"Content-Length: 0\r\n\r\n"


# ---- through Django


@pytest.fixture
def cached(settings, ready_boards, client, monkeypatch):
    settings.PAGE_CACHE_SECONDS = 60
    monkeypatch.setattr(pagecache, "cache", PageCache())
    return client


def _scores(html: str) -> list[str]:
    return re.findall(r'<td class="score">(\d+)</td>', html)


@pytest.mark.django_db(transaction=True)
def test_board_pages_are_kept_until_their_board_changes(cached, redis_client, clock, monkeypatch):
    seconds = [5.0]
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: seconds[0])
    now = clock.now()
    ingest(push(1, 5, at=now))
    assert _scores(cached.get("/").content.decode()) == ["5"]
    redis_client.zincrby("leaderboard:global:all_time:all", 3, "1")  # no announcement: not seen
    assert _scores(cached.get("/").content.decode()) == ["5"]
    assert _scores(cached.get("/?page=1").content.decode()) == ["8"]  # another URL, another page
    pagecache.cache.changed(["leaderboard:global:all_time:all"])
    seconds[0] += 0.1  # a changed board's page is kept 0.1 s after its read at most
    assert _scores(cached.get("/").content.decode()) == ["8"]
    week = period_of(Timeframe.WEEKLY, now)
    weekly = f"/?timeframe=weekly&period={week}"
    assert _scores(cached.get(weekly).content.decode()) == ["5"]
    last_week = period_shift(Timeframe.WEEKLY, week, -1)
    assert pagecache.cache.pages[pagecache.key_of("http", "testserver", weekly)].boards == {
        f"leaderboard:global:weekly:{week}",
        f"leaderboard:global:weekly:{last_week}",
        "leaderboard:results",  # the page shows the last closed week's winners
    }


@pytest.mark.django_db(transaction=True)
def test_only_marked_answers_of_200_are_kept(cached):
    assert cached.get("/?timeframe=hourly").status_code == 400
    assert cached.get("/projects/99").status_code == 404
    assert cached.get("/?project=2&timeframe=weekly").status_code == 302
    cached.get("/contributors/7")
    assert pagecache.cache.pages == {}


# ---- the stream worker


def _raw_get(server: WebServer, path: str, host: str = "127.0.0.1", headers: str = "") -> bytes:
    """`headers`: more header lines, each ending in CRLF."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]+", b"", answer)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_answers_from_the_cache_until_the_board_is_announced(ready_boards, tmp_path, clock):
    now = clock.now()  # an all-time board: the same at the server's clock
    ingest(push(1, 5, at=now, project_id=3))
    server = WebServer(tmp_path / "gunicorn.log", env={"PAGE_CACHE_SECONDS": "3600"}).start()
    try:
        first = _raw_get(server, "/projects/3")
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and _scores(first.decode()) == ["5"]
        again = _raw_get(server, "/projects/3")
        assert _without_date(again) == _without_date(first)  # Django's answer, byte for byte
        ready_boards.zincrby("leaderboard:project:3:all_time:all", 1, "1")  # behind the service's back
        assert _scores(_raw_get(server, "/projects/3").decode()) == ["5"]
        assert _raw_get(server, "/projects/3", host="evil.example").startswith(b"HTTP/1.1 400 ")

        ingest(push(2, 9, at=now, project_id=3))  # the write path announces the board
        wait_for(
            lambda: _scores(_raw_get(server, "/projects/3").decode()) == ["9", "6"],
            timeout=20,
            message="the page after the announcement",
        )
        metrics = _raw_get(server, "/metrics").decode()
        served = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("http_requests_total{") and 'route="web:project"' in line and 'status="200"' in line
        ]
        assert served and served[0] >= 4  # the answers from the cache are counted too
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_answers_a_kept_badge_and_its_304(ready_boards, tmp_path, clock):
    ingest(push(1, 5, at=clock.now()))
    server = WebServer(tmp_path / "gunicorn.log", env={"API_MICROCACHE_SECONDS": "3600"}).start()
    try:
        first = _raw_get(server, "/badges/contributors/1.svg")  # Django's
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"#1 \xc2\xb7 5 pts" in first
        etag = re.search(rb"\r\nETag: (\"[0-9a-f]{32}\")\r\n", first).group(1).decode()
        ready_boards.zincrby("leaderboard:global:all_time:all", 1, "1")  # behind the service's back
        assert _without_date(_raw_get(server, "/badges/contributors/1.svg")) == _without_date(first)
        not_modified = _raw_get(server, "/badges/contributors/1.svg", headers=f"If-None-Match: {etag}\r\n")
        head, body = not_modified.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert (lines[0], body) == ("HTTP/1.1 304 Not Modified", b"")
        fields = dict(line.split(": ", 1) for line in lines[1:])
        assert (fields["ETag"], fields["Cache-Control"], fields["Content-Length"]) == (
            etag,
            "public, max-age=300",
            "0",
        )
        assert "Content-Type" not in fields
        other = _raw_get(server, "/badges/contributors/1.svg", headers='If-None-Match: "other"\r\n')
        assert _without_date(other) == _without_date(first)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_answers_kept_board_reads_of_the_api(ready_boards, tmp_path, clock):
    for path in ("/v1/leaderboard/public", "/v1/leaderboard/users/1"):
        assert resolve(path).func.cache_policy.before_django  # the stream worker may answer it
    ingest(push(1, 5, at=clock.now()), push(2, 3, at=clock.now()))
    server = WebServer(tmp_path / "gunicorn.log", env={"API_MICROCACHE_SECONDS": "3600"}).start()
    try:
        paths = ("/v1/leaderboard/public?limit=1", "/v1/leaderboard/users/2?around=1")
        first = {path: _raw_get(server, path) for path in paths}  # Django's
        assert b'"user_id":"1","score":5' in first[paths[0]] and b'"rank":2,"score":3' in first[paths[1]]
        ready_boards.zincrby("leaderboard:global:all_time:all", 10, "2")  # behind the service's back
        for path in paths:
            assert _without_date(_raw_get(server, path)) == _without_date(first[path])  # kept, byte for byte
        assert b'"user_id":"2","score":13' in _raw_get(server, "/v1/leaderboard/public?limit=2")  # not kept yet
        metrics = _raw_get(server, "/metrics").decode()
        for route in ("board-page", "user-standing"):
            (served,) = [
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("http_requests_total{") and f'route="{route}"' in line and 'status="200"' in line
            ]
            assert served == (3 if route == "board-page" else 2)  # the kept answers are counted too
    finally:
        server.stop()
