"""Kept answers written on the worker's loop, without a thread (web.worker, `answer_at_gate`),
against the real gunicorn: they come while every thread is busy, byte for byte as Django's;
a kept-alive connection goes on between them and Django's answers, pipelined requests are
answered in order, a client that reads slowly gets every byte while the loop answers others,
and the request rate counts them."""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.web.conftest import WebServer, ingest, push

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEPT = "/v1/leaderboard/public?limit=1"


def get(path: str, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{connection}\r\n".encode()


def connect(server: WebServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_answer(sock: socket.socket, buffer: bytearray) -> bytes:
    """One answer (its head and its Content-Length of body) from `sock`, `buffer` holding what was
    read past the previous one."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {bytes(buffer)!r}"
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    length = int(re.search(rb"\r\nContent-Length: (\d+)\r\n", buffer[:end]).group(1))
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        buffer += chunk
    answer = bytes(buffer[: end + length])
    del buffer[: end + length]
    return answer


def ask(server: WebServer, path: str) -> bytes:
    with connect(server) as sock:
        sock.sendall(get(path, close=True))
        return read_answer(sock, bytearray())


def same(answer: bytes) -> bytes:
    """An answer without what changes from one to the next: its Date, and Connection."""
    return re.sub(rb"\r\n(Date|Connection): [^\r]+", b"", answer)


def test_a_kept_answer_is_written_while_every_thread_is_busy(ready_boards, tmp_path, clock):
    ingest(push(1, 5, at=clock.now()), push(2, 3, at=clock.now()))
    env = {"API_MICROCACHE_SECONDS": "3600", "GITHUB_WEBHOOK_SECRET": "s3cret"}
    server = WebServer(tmp_path / "gunicorn.log", env=env, threads=1).start()
    try:
        first = ask(server, KEPT)  # rendered by Django on the one thread, and kept
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b'"user_id":"1","score":5' in first

        holder = connect(server)  # the one thread, reading a large delivery that trickles in
        holder.sendall(
            b"POST /v1/webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{"
        )
        time.sleep(0.3)  # the loop gives it to the thread (a body past 1 MiB is the thread's to read)
        waiting = connect(server)
        waiting.sendall(get("/v1/leaderboard/public?limit=2", close=True))  # not kept: it needs a thread
        waiting.settimeout(1.0)
        with pytest.raises(TimeoutError):
            waiting.recv(1)  # the thread is really taken

        for _ in range(3):  # ... and the kept answer is written all the same
            assert same(ask(server, KEPT)) == same(first)

        holder.close()  # the thread is free again, and answers the waiting request
        waiting.settimeout(10)
        answer = read_answer(waiting, bytearray())
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"user_id":"2","score":3' in answer
        waiting.close()
    finally:
        server.stop()


def test_one_connection_goes_on_through_kept_answers_django_and_pipelined_requests(ready_boards, tmp_path, clock):
    ingest(push(1, 5, at=clock.now()), push(2, 3, at=clock.now()))
    server = WebServer(tmp_path / "gunicorn.log", env={"API_MICROCACHE_SECONDS": "3600"}).start()
    try:
        first = ask(server, KEPT)
        rules = ask(server, "/v1/rules")  # never kept: Django answers it every time
        with connect(server) as sock:
            buffer = bytearray()
            answers = []
            for path in (KEPT, KEPT, "/v1/rules", KEPT):
                sock.sendall(get(path))
                answers.append(read_answer(sock, buffer))
            sock.sendall(get(KEPT) + get("/v1/rules") + get(KEPT))  # in one write
            answers += [read_answer(sock, buffer) for _ in range(3)]
            sock.sendall(get(KEPT, close=True))
            last = read_answer(sock, buffer)
            assert sock.recv(1) == b"" and buffer == b""  # closed after it, nothing more
        expected = [first, first, rules, first, first, rules, first]
        assert [same(answer) for answer in answers] == [same(answer) for answer in expected]
        assert all(b"\r\nConnection: keep-alive\r\n" in answer for answer in answers)
        assert same(last) == same(first) and b"\r\nConnection: close\r\n" in last
    finally:
        server.stop()


def test_a_client_that_reads_slowly_gets_every_byte_and_holds_up_no_one(ready_boards, tmp_path, clock):
    avatar = "https://avatars.example/u/{}?s=460&v=" + "4" * 300  # a large answer: 100 rows of 350 bytes
    ingest(
        *(
            push(user, 1 + user % 10, at=clock.now(), login=f"user-{user}", avatar_url=avatar.format(user))
            for user in range(1, 101)
        )
    )
    server = WebServer(tmp_path / "gunicorn.log", env={"API_MICROCACHE_SECONDS": "3600"})
    server.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the accepted sockets' too
    server.start()
    try:
        big = "/v1/leaderboard/public?limit=100"
        first = ask(server, big)  # Django's, kept
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connecting: a small window
        slow.settimeout(10)
        slow.connect(("127.0.0.1", server.port))
        # more than the client's buffer and the server's together: the kernel cannot take it all
        # at once, so the loop writes what it can and a thread waits for the client with the rest
        room = slow.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        room += server.listener.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert len(first) > 2 * room
        slow.sendall(get(big))
        time.sleep(0.5)  # not reading
        for _ in range(3):  # others are answered meanwhile
            assert same(ask(server, big)) == same(first)
        buffer = bytearray()
        assert same(read_answer(slow, buffer)) == same(first)  # every byte, in order
        slow.sendall(get(big))  # and the connection was kept alive after the thread's write
        assert same(read_answer(slow, buffer)) == same(first)
        slow.close()
    finally:
        server.stop()


def test_kept_answers_count_against_the_request_rate(ready_boards, tmp_path, clock):
    ingest(push(1, 5, at=clock.now()))
    env = {"API_MICROCACHE_SECONDS": "3600", "RATE_LIMIT_PER_SECOND": "0.01", "RATE_LIMIT_BURST": "4"}
    server = WebServer(tmp_path / "gunicorn.log", env=env).start()  # its readiness probe takes one
    try:
        answers = [ask(server, KEPT) for _ in range(4)]  # one rendered, two kept, then none left
        assert [answer[:12] for answer in answers] == [b"HTTP/1.1 200"] * 3 + [b"HTTP/1.1 429"]
        assert b"\r\nRetry-After: " in answers[3]
    finally:
        server.stop()
