"""A gunicorn gthread worker that hands SSE streams to an asyncio loop (docs/LIVE.md).

Pages and the API run as before: a request takes a thread from the pool for as long as it
takes to answer, a few milliseconds. A stream would hold its thread for hours, so a request
for `/v1/stream` that names a valid board is not given to Django: the worker detaches the
socket from gunicorn and gives it to this process's `StreamHub`, which answers on its event
loop. The thread is free again at once, and a thousand idle streams cost a thousand sockets.
Any other stream request (a bad query) goes to Django, which answers the API's 400.
"""

from __future__ import annotations

import socket

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from gunicorn.workers.gthread import ThreadWorker

from web.live import STREAM_PATH, stream_board


class _HandedOff:
    """Stands where gunicorn keeps the socket once the hub owns it: gunicorn's close of the
    connection then does nothing to it."""

    def setblocking(self, flag: bool) -> None:
        pass

    def shutdown(self, how: int) -> None:
        raise OSError("the stream hub owns this connection")

    def close(self) -> None:
        pass


class StreamingThreadWorker(ThreadWorker):
    """gthread, plus `/v1/stream` on an event loop."""

    def handle_request(self, req, conn):
        if req.method == "GET" and req.path == STREAM_PATH:
            headers = dict(req.headers)
            board = stream_board(req.query or "")
            # Django checks the Host header of every request it serves; so does the stream
            host_ok = validate_host(split_domain_port(headers.get("HOST", ""))[0], settings.ALLOWED_HOSTS)
            if board is not None and host_ok:
                from web.stream import hub

                last_event_id = headers.get("LAST-EVENT-ID")
                sock = socket.socket(fileno=conn.sock.detach())
                conn.sock = _HandedOff()
                hub().attach(sock, board, last_event_id)
                return False  # gunicorn forgets the connection; the hub answers on it
        return super().handle_request(req, conn)
