"""A gunicorn gthread worker that hands SSE streams to an asyncio loop and answers fresh board
pages and badges from the page cache (docs/LIVE.md, docs/BENCHMARKS.md).

Pages and the API run as before: a request takes a thread from the pool for as long as it
takes to answer, a few milliseconds. A stream would hold its thread for hours, so a request
for `/v1/stream` that names a valid board is not given to Django: the worker detaches the
socket from gunicorn and gives it to this process's `StreamHub`, which answers on its event
loop. The thread is free again at once, and a thousand idle streams cost a thousand sockets.
Any other stream request (a bad query) goes to Django, which answers the API's 400.

A board page, a board read of the API or a badge that the response cache (`api.cache`) holds
(fresh, or stale while another thread renders it again) is written straight from the cache:
the bytes Django answered the first time, its headers included, behind gunicorn's own status
line and `Server`, `Date` and `Connection` headers, in one write (a request with the kept ETag
in If-None-Match: the view's 304, kept with it). Django, its middleware and gunicorn's response
object were about two thirds of a kept page's CPU time, and handing the request to a thread
and back most of the rest (py-spy, docs/BENCHMARKS.md): so a plain GET (`plain_get`: one
HTTP/1.1 GET that gunicorn's parser would read the same way) is answered on the worker's own
loop as soon as the gate has its head (`answer_at_gate`), with no thread and no parser; an
answer larger than the socket takes at once is finished by a thread, which may wait for a slow
client. Any other request for a kept page (pipelined, an odd header...) is answered the same
way by a thread after gunicorn's parser. The request is counted in the metrics under its route
either way. Anything unusual — another HTTP version, a body, a bad Host, the access log on, a
page not kept, If-Modified-Since — goes to Django. The cache's key is the one `api.cache` makes
for Django's requests, from the raw headers (`api.cache.raw_key`).

Both answers before Django keep Django's limits (docs/SECURITY.md): the request rate per client
(`guard.limits.request_refusal`, the client from `guard.client`: a Redis round trip, so with a
request limit on, kept answers are written by a thread, never on the loop), and for a stream a
descriptor of the worker's (`StreamHub.hold`: 503 once its streams would leave fewer than
`DESCRIPTORS_KEPT` of its open-files limit) and a slot (`BoardHub.admit`: 429 past the client's
open streams, 503 past everyone's), with `Retry-After`. `web.gate.GatedWorker` keeps slow and
idle clients off the threads.
"""

from __future__ import annotations

import gc
import re
import selectors
import socket
import time
from email.utils import formatdate
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from gunicorn import SERVER
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from api import cache as response_cache
from api.cache import Page, raw_key
from api.watch import RETRY_AFTER, Refused
from guard.client import client_address
from guard.limits import refusal_bytes, request_refusal
from web.gate import GatedWorker
from web.live import STREAM_PATH, stream_board

STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 304: b"HTTP/1.1 304 Not Modified\r\n"}
_PATH = rb"/(?!/)[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*"  # RFC 3986's characters but '#'; not '//' (gunicorn's case)
_REQUEST_LINE = re.compile(rb"GET (" + _PATH + rb")(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*))? HTTP/1\.1\r\n")
_FIELD = re.compile(rb"([A-Za-z0-9-]+):[ \t]*((?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?)[ \t]*")
_GUNICORNS_TO_JUDGE = frozenset(("EXPECT", "UPGRADE", "HTTP2-SETTINGS"))


class PlainGet(NamedTuple):
    path: str
    query: str
    headers: dict[str, str]  # by upper-case name, as gunicorn gives them
    close: bool  # `Connection: close`


def plain_get(head: bytes | bytearray, cfg) -> PlainGet | None:
    """The request `head` holds if it is one plain HTTP/1.1 GET and nothing more, read as
    gunicorn's parser reads it: a target of RFC 3986's characters (no fragment), header names of
    letters, digits and hyphens, each once, with values of printable ASCII, all well within
    gunicorn's limits (`cfg`). Anything else is None and goes to gunicorn's parser, which
    accepts it, refuses it or reads it its own way (underscored names, folded lines, 8-bit
    values, pipelined requests...)."""
    line = _REQUEST_LINE.match(head)
    if line is None or line.end() - 2 >= (cfg.limit_request_line or 4094):
        return None
    rest = bytes(head[line.end() :])
    headers: dict[str, str] = {}
    if rest != b"\r\n":
        if not rest.endswith(b"\r\n\r\n"):
            return None
        fields = rest[:-4].split(b"\r\n")
        if len(fields) >= (cfg.limit_request_fields or 100):
            return None
        for field in fields:
            match = _FIELD.fullmatch(field)
            if match is None or len(field) + 2 >= (cfg.limit_request_field_size or 8190):
                return None
            name = match.group(1).decode().upper()
            if name in headers or name in _GUNICORNS_TO_JUDGE:
                return None
            headers[name] = match.group(2).decode()
    path, query = line.group(1).decode(), (line.group(2) or b"").decode()
    return PlainGet(path, query, headers, headers.get("CONNECTION", "").lower() == "close")


def _host_allowed(headers: dict[str, str]) -> bool:
    """Django's check of the Host header, which it makes for every request it serves."""
    return validate_host(split_domain_port(headers.get("HOST", ""))[0], settings.ALLOWED_HOSTS)


class _HandedOff:
    """Stands where gunicorn keeps the socket once the hub owns it: gunicorn's close of the
    connection then does nothing to it."""

    def setblocking(self, flag: bool) -> None:
        pass

    def shutdown(self, how: int) -> None:
        raise OSError("the stream hub owns this connection")

    def close(self) -> None:
        pass


_date: tuple[int, bytes] = (0, b"")


def _date_line() -> bytes:
    """`Date:` for this second (formatting it is a tenth of a cached page's time)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, f"Date: {formatdate(now, usegmt=True)}\r\n".encode())
    return _date[1]


class StreamingThreadWorker(GatedWorker, ThreadWorker):
    """gthread behind the slow-client gate, plus `/v1/stream` on an event loop and fresh board
    pages from memory."""

    answers_at_gate = False  # set as the loop starts (run)
    scheme_headers: frozenset[str] = frozenset()

    def run(self):
        from web.stream import hub

        hub()  # follows the board announcements from the start: the page cache needs them
        # kept answers are written on this loop unless a request limit is on (a Redis round trip,
        # which the loop never waits on) or the bytes are not plain HTTP (TLS, the PROXY protocol)
        self.answers_at_gate = not (
            self.cfg.is_ssl or self.cfg.proxy_protocol != "off" or settings.RATE_LIMIT_PER_SECOND > 0
        )
        self.scheme_headers = frozenset(self.cfg.secure_scheme_headers)  # X-Forwarded-Proto...: gunicorn's
        # What the worker has loaded (Django, the app: ~100,000 objects) lives as long as it
        # does: out of the collector's sight, a full collection, which stops every thread and
        # every stream, looks at the objects made since (docs/LIVE.md).
        gc.freeze()
        super().run()

    def handle_request(self, req, conn):
        if req.method == "GET" and req.path == STREAM_PATH:
            headers = dict(req.headers)
            board = stream_board(req.query or "")
            if board is not None and _host_allowed(headers):
                return self._stream(req, conn, board, headers)
        elif req.method == "GET" and req.version == (1, 1) and req.path in response_cache.cache.worker_paths:
            headers = dict(req.headers)
            page = self._kept(req.scheme, req.path, req.query or "", headers)
            if page is not None:
                client = self._client(conn, headers)
                if (wait := request_refusal(client)) is not None:
                    return self._refuse(conn, refusal_bytes(429, "rate_limited", "too many requests", wait))
                answer, keep_alive = self._answer(page, headers, close=req.should_close())
                conn.sock.sendall(answer)
                return keep_alive
        return super().handle_request(req, conn)

    def answer_at_gate(self, conn) -> bool:
        """Write a kept answer to the request whose head the gate has just read, on this loop,
        without a thread: True if it did (the connection is then kept alive or closed here, or,
        for an answer larger than the socket takes at once, finished by a thread)."""
        if not self.answers_at_gate:
            return False
        try:
            found = self._kept_at_gate(conn.head)
        except Exception:  # a thread and Django will answer it; the loop must go on
            self.log.exception("Error finding a kept answer at the gate")
            return False
        if found is None:
            return False
        conn.head = None
        answer, keep_alive = found
        try:
            sent = conn.sock._sock.send(answer)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the client has gone
            self.nr_conns -= 1
            conn.close()
            return True
        if sent < len(answer):  # the socket's buffer is full: a thread waits for the client
            done = self.tpool.submit(self._write_rest, conn, answer[sent:], keep_alive)
            done.add_done_callback(lambda future: self.method_queue.defer(self.finish_request, conn, future))
        elif keep_alive:  # what gthread's finish_request does once a thread has answered
            conn.set_timeout()
            if not self.alive:
                conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
            self.keepalived_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))
        else:
            self.nr_conns -= 1
            conn.close(graceful=True)
        return True

    def _kept_at_gate(self, head: bytearray) -> tuple[bytes, bool] | None:
        """The kept answer to a plain GET in `head` and whether the connection stays open, or
        None: not plain, not kept, or one whose scheme gunicorn must judge."""
        request = plain_get(head, self.cfg)
        if request is None or request.path not in response_cache.cache.worker_paths:
            return None
        if not self.scheme_headers.isdisjoint(request.headers):
            return None
        page = self._kept("http", request.path, request.query, request.headers)
        if page is None:
            return None
        return self._answer(page, request.headers, close=request.close)

    @staticmethod
    def _write_rest(conn, rest: bytes, keep_alive: bool) -> bool:
        """On a thread: the rest of an answer begun on the loop, within the request timeout."""
        try:
            conn.init()  # the parser gthread's finish_request looks at
            conn.sock.setblocking(True)
            conn.sock.sendall(rest)
        except OSError:
            return False
        return keep_alive

    @staticmethod
    def _client(conn, headers: dict[str, str]) -> str:
        peer = conn.client[0] if isinstance(conn.client, tuple) else None
        return client_address(peer, headers.get("X-FORWARDED-FOR"))

    @staticmethod
    def _refuse(conn, response: bytes) -> bool:
        conn.sock.sendall(response)
        return False  # closed

    def _stream(self, req, conn, board, headers: dict[str, str]) -> bool:
        """Admit the stream (the request rate, a slot) and hand its socket to the hub."""
        from web.stream import hub

        client = self._client(conn, headers)
        if (wait := request_refusal(client)) is not None:
            return self._refuse(conn, refusal_bytes(429, "rate_limited", "too many requests", wait))
        if not hub().hold():  # this worker's descriptors for streams are all taken
            message = f"this server process holds the {hub().room} open streams its open-files limit allows"
            return self._refuse(conn, refusal_bytes(503, "streams_full", message, RETRY_AFTER))
        lease = hub().admit(client)
        if isinstance(lease, Refused):
            hub().unhold()
            code = "too_many_streams" if lease.status == 429 else "streams_full"
            return self._refuse(conn, refusal_bytes(lease.status, code, lease.message, lease.retry_after))
        sock = socket.socket(fileno=conn.sock.detach())
        conn.sock = _HandedOff()
        hub().attach(sock, board, headers.get("LAST-EVENT-ID"), lease)
        return False  # gunicorn forgets the connection; the hub answers on it

    def _kept(self, scheme: str, path: str, query: str, headers: dict[str, str]) -> Page | None:
        """The kept answer the worker may write for a GET of `path`, if there is one: the Host
        allowed (as Django checks it), no body, nothing Django must judge, the access log off."""
        if self.log.access_log_enabled or not _host_allowed(headers):
            return None
        if headers.get("CONTENT-LENGTH", "0") != "0" or "TRANSFER-ENCODING" in headers:
            return None
        if "IF-MODIFIED-SINCE" in headers:
            return None  # Django's to judge
        page = response_cache.cache.servable(raw_key(headers, scheme, path, query))
        if page is None or page.policy is None or not page.policy.before_django or page.policy.seconds() <= 0:
            return None
        return page

    def _answer(self, page: Page, headers: dict[str, str], *, close: bool) -> tuple[bytes, bool]:
        """The bytes of the kept answer (a 304 if its ETag matches If-None-Match), as gunicorn's
        handle_request would write them, and whether the connection stays open; counted."""
        # imported here: gunicorn's master loads this module before its config has named the
        # metrics directory that prometheus-client reads when it is imported
        from leaderboard_project.metrics import request_observe

        started = time.perf_counter()
        status, wire = 200, page.wire
        if page.not_modified_wire and response_cache.not_modified(page, headers.get("IF-NONE-MATCH")):
            status, wire = 304, page.not_modified_wire
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        room = len(self.keepalived_conns) < self.max_keepalived
        keep_alive = self.alive and self.cfg.keepalive and room and not close
        head = STATUS_LINES[status] + b"Server: " + SERVER.encode() + b"\r\n" + _date_line()
        head += b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n"
        request_observe(page.resolver_match.view_name, "GET", status, time.perf_counter() - started)
        return head + wire, bool(keep_alive)
