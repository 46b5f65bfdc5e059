"""A gunicorn gthread worker that hands SSE streams to an asyncio loop and answers fresh board
pages and badges from the page cache (docs/LIVE.md, docs/BENCHMARKS.md).

Pages and the API run as before: a request takes a thread from the pool for as long as it
takes to answer, a few milliseconds. A stream would hold its thread for hours, so a request
for `/v1/stream` that names a valid board is not given to Django: the worker detaches the
socket from gunicorn and gives it to this process's `StreamHub`, which answers on its event
loop. The thread is free again at once, and a thousand idle streams cost a thousand sockets.
Any other stream request (a bad query) goes to Django, which answers the API's 400.

A board page or a badge that the response cache (`api.cache`) holds (fresh, or stale while
another thread renders it again) is written straight from the cache: the bytes Django answered
the first time, its headers included, behind gunicorn's own status line and `Server`, `Date`
and `Connection` headers, in one write (a badge asked for with its ETag in If-None-Match: the
view's 304, kept with it). Django, its middleware and gunicorn's response object were about two
thirds of a cached page's CPU time (py-spy, docs/BENCHMARKS.md); the request is still counted
in the metrics under its route. Anything unusual — another HTTP version, a body, a bad Host,
the access log on, a page not cached, If-Modified-Since — goes the usual way. The cache's key
is the one `api.cache` makes for Django's requests, from the raw headers (`api.cache.raw_key`).

Both answers before Django keep Django's limits (docs/SECURITY.md): the request rate per client
(`guard.limits.request_refusal`, the client from `guard.client`), and for a stream a descriptor
of the worker's (`StreamHub.hold`: 503 once its streams would leave fewer than
`DESCRIPTORS_KEPT` of its open-files limit) and a slot (`BoardHub.admit`: 429 past the client's
open streams, 503 past everyone's), with `Retry-After`. `web.gate.GatedWorker` keeps slow and
idle clients off the threads.
"""

from __future__ import annotations

import gc
import socket
import time
from email.utils import formatdate

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from gunicorn import SERVER
from gunicorn.workers.gthread import ThreadWorker

from api import cache as response_cache
from api.cache import Page, raw_key
from api.watch import RETRY_AFTER, Refused
from guard.client import client_address
from guard.limits import refusal_bytes, request_refusal
from web.gate import GatedWorker
from web.live import STREAM_PATH, stream_board

STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 304: b"HTTP/1.1 304 Not Modified\r\n"}


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

    def run(self):
        from web.stream import hub

        hub()  # follows the board announcements from the start: the page cache needs them
        # What the worker has loaded (Django, the app: ~100,000 objects) lives as long as it
        # does: out of the collector's sight, a full collection, which stops every thread and
        # every stream, looks at the objects made since (docs/LIVE.md).
        gc.freeze()
        super().run()

    def handle_request(self, req, conn):
        if req.method == "GET" and (req.path == STREAM_PATH or req.path in response_cache.cache.worker_paths):
            headers = dict(req.headers)
            # Django checks the Host header of every request it serves; so do these
            host_ok = validate_host(split_domain_port(headers.get("HOST", ""))[0], settings.ALLOWED_HOSTS)
            if req.path == STREAM_PATH:
                board = stream_board(req.query or "")
                if board is not None and host_ok:
                    return self._stream(req, conn, board, headers)
            elif host_ok:
                page = self._cached_page(req, headers)
                if page is not None:
                    client = self._client(conn, headers)
                    if (wait := request_refusal(client)) is not None:
                        return self._refuse(conn, refusal_bytes(429, "rate_limited", "too many requests", wait))
                    if page.not_modified_wire and response_cache.not_modified(page, headers.get("IF-NONE-MATCH")):
                        return self._answer_cached(req, conn, page.resolver_match, 304, page.not_modified_wire)
                    return self._answer_cached(req, conn, page.resolver_match, 200, page.wire)
        return super().handle_request(req, conn)

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

    def _cached_page(self, req, headers: dict[str, str]) -> Page | None:
        if req.version != (1, 1) or self.log.access_log_enabled:
            return None
        if headers.get("CONTENT-LENGTH", "0") != "0" or "TRANSFER-ENCODING" in headers:
            return None
        if "IF-MODIFIED-SINCE" in headers:
            return None  # Django's to judge
        page = response_cache.cache.servable(raw_key(headers, req.scheme, req.path, req.query or ""))
        if page is None or page.policy is None or not page.policy.before_django or page.policy.seconds() <= 0:
            return None
        return page

    def _answer_cached(self, req, conn, route, status: int, wire: bytes) -> bool:
        """What gunicorn's handle_request does for a response, for bytes already made."""
        # imported here: gunicorn's master loads this module before its config has named the
        # metrics directory that prometheus-client reads when it is imported
        from leaderboard_project.metrics import request_observe

        started = time.perf_counter()
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        keep_alive = (
            self.alive
            and self.cfg.keepalive
            and len(self.keepalived_conns) < self.max_keepalived
            and not req.should_close()
        )
        head = STATUS_LINES[status] + b"Server: " + SERVER.encode() + b"\r\n" + _date_line()
        head += b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n"
        conn.sock.sendall(head + wire)
        request_observe(route.view_name, "GET", status, time.perf_counter() - started)
        return keep_alive
