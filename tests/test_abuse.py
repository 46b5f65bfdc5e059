"""Hostile traffic against a real server, as `make run` serves it (bin/run's gunicorn: two
workers of the stream worker, gunicorn.conf.py, the default limits), on loopback only:

- 2,000 streams from one address: the first STREAMS_PER_CLIENT (100) open, the rest 429,
  while another address (127.0.0.2) still gets its stream and the API answers both;
- 200 slowloris connections (and slow bodies): the API answers meanwhile, and every one of
  them is cut by the server;
- 10,000 forged webhooks: all 401, nothing published, a valid one in the middle 202 (the
  JetStream stream holds exactly that one message);
- a flood of admin logins: locked out after the fifth failure, while the right password from
  another address still gets in;
- oversized and deeply nested inputs on every endpoint: 4xx, never 5xx.

The expectations are written from the settings' documented defaults (docs/SECURITY.md), not
read from the code under test; signatures are made here with hmac.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.fixtures import ROOT, consumer_env, listening_socket, redis_connect, stream_delete, wait_for
from tests.github.conftest import _stream_messages
from tests.rawhttp import HOST, exchange, get, keep_alive, post, read_response

# Each test asks for transactional_db: the server sees what a test commits (the admin user).
pytestmark = pytest.mark.slow

SECRET = "abuse-test-secret"
STREAMS_PER_CLIENT = 100  # the documented default
GROUP = {"start_new_session": True}  # a process group of its own, stopped as one
OTHER = "127.0.0.2"  # another loopback address: another client


class Server:
    """bin/run's gunicorn on a private port (its listening socket made here and handed over),
    in a process group of its own, stopped by that group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.listener = listening_socket()
        self.port = self.listener.getsockname()[1]
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        fd = self.listener.fileno()
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderboard_project.wsgi"]
        command += ["--bind", f"fd://{fd}", "--workers", "2", "--threads", "8"]
        command += ["--worker-class", "web.worker.StreamingThreadWorker"]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                status, _, _ = asyncio.run(exchange(self.port, get("/v1/health-check")))
            except OSError:
                return False
            return status in (200, 503)

        wait_for(answers, timeout=30, interval=0.2, message="gunicorn to answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.listener.close()
        self._out.close()


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Server]:
    from scoring.maintenance.restore import boards_restore

    suffix = f"abuse_{uuid.uuid4().hex[:8]}"
    names = {
        "NATS_STREAM": f"TEST_{suffix}",
        "NATS_SUBJECT": f"test.{suffix}.CONTRIBUTION_REGISTERED",
        "NATS_DURABLE": f"test-{suffix}",
    }
    with django_db_blocker.unblock():
        limits = redis_connect()
        for key in limits.scan_iter("leaderboard:limits:*"):  # what earlier tests left: none of ours
            limits.delete(key)
        limits.close()
        boards_restore(use_snapshot=False)
        env = consumer_env(names, GITHUB_WEBHOOK_SECRET=SECRET, PAGE_CACHE_SECONDS="0", API_MICROCACHE_SECONDS="0")
        for name in [k for k in env if k.startswith(("STREAMS_", "RATE_LIMIT", "WEBHOOK_", "HTTP_", "ADMIN_"))]:
            del env[name]  # the defaults, as make run has them
        running = Server(env, tmp_path_factory.mktemp("abuse") / "gunicorn.log")
        try:
            running.wait_ready()
            running.names = names
            yield running
        finally:
            running.stop()
            asyncio.run(stream_delete(names["NATS_STREAM"]))


# ---- 2,000 streams from one address


async def open_stream(port: int, source: str) -> tuple[int, dict, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    writer.write(get("/v1/stream?timeframe=weekly"))
    await writer.drain()
    status, headers, _ = await asyncio.wait_for(read_response(reader), 30)
    return status, headers, reader, writer


async def stream_flood(port: int) -> None:
    opened = []
    for start in range(0, 2000, 250):  # 2,000 in all, 250 at a time
        opened += await asyncio.gather(*(open_stream(port, HOST) for _ in range(start, start + 250)))
    statuses = Counter(status for status, _, _, _ in opened)
    assert statuses == {200: STREAMS_PER_CLIENT, 429: 2000 - STREAMS_PER_CLIENT}
    assert {headers.get("retry-after") for status, headers, _, _ in opened if status == 429} == {"30"}
    # another address: its stream opens and sends the board at once; the API answers both
    status, _, reader, writer = await open_stream(port, OTHER)
    assert status == 200
    first = await asyncio.wait_for(reader.readuntil(b"event: board\n"), 10)
    assert first.startswith(b"retry: 1000\n\nid: ")
    writer.close()
    for source in (OTHER, HOST):
        status, _, body = await exchange(port, get("/v1/leaderboard/public?limit=1"), source)
        assert (status, json.loads(body)["results"]) == (200, [])
    for _, _, _, stream_writer in opened:
        stream_writer.close()


def test_a_stream_flood_from_one_address_leaves_the_others_served(server, transactional_db):
    asyncio.run(stream_flood(server.port))
    slots = redis_connect()
    wait_for(lambda: slots.zcard("leaderboard:limits:slots:streams") == 0, timeout=20, message="every slot back")


# ---- 200 slowloris connections


async def slowloris(port: int, body: bool) -> str:
    """A request that never ends: a header line (or a body byte) at a time. Returns how it ended."""
    reader, writer = await asyncio.open_connection(HOST, port)
    if body:
        writer.write(b"POST /v1/webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
    else:
        writer.write(b"GET /v1/leaderboard/public HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        while True:
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(100), 0.5)
            except TimeoutError:
                writer.write(b"x" if body else b"X-Slow: 1\r\n")
                continue
            return "answered" if data else "closed"
    except (ConnectionError, OSError):
        return "closed"
    finally:
        writer.close()


async def slowloris_flood(port: int) -> tuple[Counter, list[int], list[float]]:
    slow = [asyncio.create_task(slowloris(port, i % 10 == 0)) for i in range(200)]
    await asyncio.sleep(0.5)
    statuses, seconds = [], []
    for _ in range(30):  # honest requests meanwhile, from the same address
        started = time.perf_counter()
        status, _, _ = await exchange(port, get("/v1/leaderboard/public?limit=1", "Connection: close\r\n"))
        seconds.append(time.perf_counter() - started)
        statuses.append(status)
        await asyncio.sleep(0.05)
    ended = await asyncio.wait_for(asyncio.gather(*slow), 30)  # HTTP_HEADER_TIMEOUT (10 s) cuts them all
    return Counter(ended), statuses, seconds


def test_slowloris_connections_are_cut_and_the_api_answers_meanwhile(server, transactional_db):
    ended, statuses, seconds = asyncio.run(slowloris_flood(server.port))
    assert statuses == [200] * 30
    assert ended == {"closed": 200}  # every one cut by the server, none ever answered
    seconds.sort()
    print(f"API during 200 slowloris: median {seconds[15] * 1000:.1f} ms, max {seconds[-1] * 1000:.1f} ms")


# ---- 10,000 forged webhooks


def delivery(delivery_id: str, secret: str) -> bytes:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = (
        f"X-GitHub-Event: ping\r\nX-GitHub-Delivery: {delivery_id}\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Type: application/json\r\n"
    )
    return post("/v1/webhooks/github", body, headers)


def pull_request(delivery_id: str) -> bytes:
    from tests.github import examples

    body = json.dumps(examples.example("pull_request", "opened")).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = (
        f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {delivery_id}\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Type: application/json\r\n"
    )
    return post("/v1/webhooks/github", body, headers)


async def forged(port: int, count: int, connections: int = 20) -> Counter:
    per = count // connections
    batches = [[delivery(f"forged-{c}-{i}", "a-guess") for i in range(per)] for c in range(connections)]
    answers = await asyncio.gather(*(keep_alive(port, batch) for batch in batches))
    return Counter(status for batch in answers for status, _, _ in batch)


def test_forged_webhooks_are_all_refused_and_a_valid_one_in_the_middle_gets_in(server, transactional_db):
    assert asyncio.run(forged(server.port, 5000)) == {401: 5000}
    valid_id = f"valid-{uuid.uuid4()}"
    status, _, body = asyncio.run(exchange(server.port, pull_request(valid_id)))
    assert (status, json.loads(body)) == (202, {"event_id": valid_id})
    assert asyncio.run(forged(server.port, 5000)) == {401: 5000}
    messages = asyncio.run(_stream_messages(settings.NATS_URL, server.names["NATS_STREAM"]))
    assert [msg_id for msg_id, _ in messages] == [valid_id]


# ---- a flood of admin logins


CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


async def login_form(port: int, source: str) -> tuple[str, str]:
    """(the CSRF cookie, the form's token) of a fresh login page."""
    status, headers, body = await exchange(port, get("/admin/login/"), source)
    assert status == 200
    cookie = re.search(r"csrftoken=([^;]+)", headers["set-cookie"]).group(1)
    return cookie, CSRF_INPUT.search(body).group(1).decode()


def login(password: str, cookie: str, token: str) -> bytes:
    body = f"csrfmiddlewaretoken={token}&username=admin&password={password}&next=/admin/".encode()
    headers = f"Content-Type: application/x-www-form-urlencoded\r\nCookie: csrftoken={cookie}\r\n"
    return post("/admin/login/?next=/admin/", body, headers)


async def login_flood(port: int) -> tuple[list[int], tuple[int, str], int]:
    cookie, token = await login_form(port, HOST)
    flood = await keep_alive(port, [login(f"guess-{i}", cookie, token) for i in range(500)])
    cookie, token = await login_form(port, OTHER)
    status, headers, _ = await exchange(port, login("right-password", cookie, token), OTHER)
    session = re.search(r"sessionid=([^;]+)", headers.get("set-cookie", "")).group(1)
    admin, _, _ = await exchange(port, get("/admin/", f"Cookie: sessionid={session}\r\n"), OTHER)
    return [s for s, _, _ in flood], (status, headers.get("location", "")), admin


def test_a_login_flood_is_locked_out_and_the_right_password_from_elsewhere_gets_in(server, transactional_db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("admin", "admin@example.com", "right-password")
    flood, (status, location), admin = asyncio.run(login_flood(server.port))
    assert flood == [200] * 4 + [429] * 496  # the form again four times; the fifth failure locks
    assert (status, location) == (302, "/admin/")
    assert admin == 200


# ---- oversized and deeply nested inputs on every endpoint

ENDPOINTS = [
    "/",
    "/projects/1",
    "/contributors/ada",
    "/results",
    "/v1/leaderboard/public",
    "/v1/leaderboard/users/1",
    "/v1/users/1/events",
    "/v1/projects",
    "/v1/contributors/ada",
    "/v1/rules",
    "/v1/results",
    "/v1/badges/ada",
    "/badges/contributors/ada.svg",
    "/v1/stream",
    "/v1/health-check",
    "/v1/schema",
    "/v1/docs",
    "/metrics",
    "/admin/login/",
    "/v1/webhooks/github",
]
NESTED = b"[" * 100_000 + b"]" * 100_000
NESTED_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000


def declared(path: str, length: str) -> bytes:
    """A POST whose body is announced and never sent."""
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n".encode()


def hostile(path: str) -> list[tuple[str, bytes]]:
    signed = "sha256=" + hmac.new(SECRET.encode(), NESTED_OBJECT, hashlib.sha256).hexdigest()
    github = f"X-GitHub-Event: push\r\nX-GitHub-Delivery: nested\r\nX-Hub-Signature-256: {signed}\r\n"
    return [
        ("a 2 KB query", get(f"{path}?limit={'9' * 2100}")),
        ("100 parameters", get(path + "?" + "&".join(f"p{i}=1" for i in range(100)))),
        ("a 5 KB request line", get(f"{path}?q={'a' * 5000}")),
        ("a bad escape", get(f"{path}?timeframe=%ff%fe&limit=%00")),
        ("a 10 KB header", get(path, f"X-Big: {'b' * 10_000}\r\n")),
        ("150 headers", get(path, "".join(f"X-H{i}: 1\r\n" for i in range(150)))),
        ("a nested JSON array", post(path, NESTED, "Content-Type: application/json\r\n")),
        ("a nested JSON object, signed", post(path, NESTED_OBJECT, "Content-Type: application/json\r\n" + github)),
        ("3 MB of form", post(path, b"a=" + b"x" * 3_000_000, "Content-Type: application/x-www-form-urlencoded\r\n")),
        (
            "a 30 MB declared body",
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30000000\r\n\r\n".encode(),
        ),
        ("a negative length", f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n".encode()),
    ]


async def inputs(port: int) -> dict[tuple[str, str], int]:
    async def one(path: str, what: str, raw: bytes) -> tuple[tuple[str, str], int]:
        status, _, _ = await exchange(port, raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        return (path, what), status

    found = []
    for path in ENDPOINTS:
        found += await asyncio.gather(*(one(path, what, raw) for what, raw in hostile(path)))
    return dict(found)


def test_oversized_and_nested_inputs_on_every_endpoint_are_4xx_never_5xx(server, transactional_db):
    answers = asyncio.run(inputs(server.port))
    assert len(answers) == len(ENDPOINTS) * 11
    assert {case: status for case, status in answers.items() if status >= 500} == {}
    # every oversized or nested input is refused; a bad escape where no query is read may be a 200
    refused = {case: status for case, status in answers.items() if case[1] != "a bad escape"}
    assert {case: status for case, status in refused.items() if not 400 <= status < 500} == {}
    # the bounds answer for themselves where they apply
    assert answers[("/v1/leaderboard/public", "a 2 KB query")] == 400
    assert answers[("/v1/leaderboard/public", "100 parameters")] == 400
    assert answers[("/v1/webhooks/github", "a nested JSON object, signed")] == 400
    assert answers[("/v1/webhooks/github", "a 30 MB declared body")] == 413
    assert server.proc.poll() is None
