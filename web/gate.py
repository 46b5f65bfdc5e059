"""Slow and idle clients cost no thread (docs/SECURITY.md, "Slow and idle clients").

gunicorn's gthread worker gives a connection a thread as soon as it is readable, and the thread
then reads the request head and body with blocking calls: a client sending a header line every
few seconds (slowloris) holds a thread for as long as it likes, and a few dozen of them hold
them all. `GatedWorker` (mixed into `web.worker.StreamingThreadWorker`) puts a gate in front
of the pool, on the worker's main loop:

- a connection is read there, without blocking, until its request head is in — and its body
  too, up to `BUFFERED_BODY` bytes (every request the pages, the API and the admin take) — and
  only then given to a thread, the bytes read put back in front of gunicorn's parser (or
  answered right there, if the worker can: `answer_at_gate`, web.worker's kept answers). A
  kept-alive connection that the poller finds readable is read at once: its request is
  usually all there;
- a connection whose head (and small body) is not in `HTTP_HEADER_TIMEOUT` seconds after its
  first byte was awaited is closed, as is one that is idle that long before its first request
  (idle kept-alive connections: gunicorn's `keepalive` seconds, gunicorn.conf.py);
- once a thread has it, every read and write on the socket must finish within
  `HTTP_REQUEST_TIMEOUT` seconds of the thread taking it (`TimedSocket`): a larger body
  trickled in, or a client that does not read its answer, loses the connection then;
- at most `GATED_PER_PEER` connections from one peer address wait at the gate of a worker; a
  further one is closed at once (unless the peer is a trusted proxy, whose clients it holds);
- a connection closed after its answer is drained of what is already there, never waited on
  (gunicorn's graceful close waits up to 2 s on the main loop, which a client could hold);
- a worker out of descriptors (EMFILE: its open-files limit; ENFILE, ENOBUFS, ENOMEM) stops
  accepting for `ACCEPT_PAUSE` seconds and leaves new connections in the listen queue:
  gunicorn's own `accept` raises there, and the worker dies with every stream it holds.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import socket
import time
from collections import Counter, deque
from functools import partial

from django.conf import settings
from gunicorn.workers.gthread import TConn

from guard.client import is_trusted_proxy

GATED_PER_PEER = 256  # connections of one peer waiting for their request at one worker's gate
BUFFERED_BODY = 1 << 20  # bodies up to this are read on the main loop, whole, before a thread
MAX_HEAD = 64 * 1024  # a head not ended by then goes to gunicorn's parser, which refuses it (400)
READ_SIZE = 64 * 1024
ACCEPT_PAUSE = 0.5  # seconds a worker out of descriptors accepts nothing (then up to 1 s more: its loop's tick)
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:", re.IGNORECASE)
_EXPECT = re.compile(rb"\r\nexpect:", re.IGNORECASE)  # 100-continue: the body waits for gunicorn's answer


def request_ready(head: bytes | bytearray) -> bool:
    """Whether `head` holds a whole request head, and its body unless that is larger than
    BUFFERED_BODY (or chunked): then a thread reads the rest, under the request timeout."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return len(head) > MAX_HEAD
    start = head[: end + 2]
    if _CHUNKED.search(start) or _EXPECT.search(start):
        return True
    match = _LENGTH.search(start)
    length = int(match.group(1)) if match else 0
    return length > BUFFERED_BODY or len(head) >= end + 4 + length


class TimedSocket:
    """A client socket whose blocking mode has a deadline: from the moment a thread sets it
    blocking, reads and writes must be done within `limit` seconds in all; past it a read or
    write fails as a reset connection (which gunicorn drops quietly)."""

    def __init__(self, sock: socket.socket, limit: float) -> None:
        self._sock, self._limit = sock, limit
        self._deadline: float | None = None

    def __getattr__(self, name: str):
        return getattr(self._sock, name)

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._deadline = time.monotonic() + self._limit
            self._sock.settimeout(self._limit)
        elif self._sock.gettimeout() != 0.0:  # already non-blocking (the gate asks for every request): no syscall
            self._deadline = None
            self._sock.setblocking(False)

    def _timed(self, call, *args):
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise ConnectionResetError(errno.ECONNRESET, "request timeout")
            self._sock.settimeout(left)
        try:
            return call(*args)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "request timeout") from None

    def recv(self, size: int, *flags) -> bytes:
        return self._timed(self._sock.recv, size, *flags)

    def recv_into(self, buffer, *args) -> int:
        return self._timed(self._sock.recv_into, buffer, *args)

    def send(self, data, *flags) -> int:
        return self._timed(self._sock.send, data, *flags)

    def sendall(self, data, *flags) -> None:
        return self._timed(self._sock.sendall, data, *flags)

    def close(self) -> None:
        self._sock.close()


class GatedConn(TConn):
    """gunicorn's connection, with the gate's buffer and a close that never waits."""

    head: bytearray | None = None
    peer: str = ""
    deadline: float = 0.0
    passed: bool = False  # through the gate: the next enqueue goes to the pool

    def close(self, graceful: bool = False) -> None:
        if graceful:
            try:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.setblocking(False)
                for _ in range(16):  # what is there already, so the kernel sends FIN, not RST
                    if not self.sock.recv(READ_SIZE):
                        break
            except OSError:
                pass
        with contextlib.suppress(OSError):
            self.sock.close()


class GatedWorker:
    """The gate, for a gthread worker (a mixin: it overrides `accept`, `set_accept_enabled`,
    `enqueue_req`, `handle` and `murder_pending`)."""

    def init_process(self):
        self.gated: deque[GatedConn] = deque()
        self.gated_peers: Counter[str] = Counter()
        self.accept_paused_until = 0.0
        super().init_process()

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno in OUT_OF_DESCRIPTORS:
                return self._pause_accepting(e)
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        timed = TimedSocket(client_sock, settings.HTTP_REQUEST_TIMEOUT)
        self.enqueue_req(GatedConn(self.cfg, timed, client_addr, listener.getsockname()))

    def _pause_accepting(self, error: OSError) -> None:
        if time.monotonic() >= self.accept_paused_until + 1.0:  # once per episode, not per pause
            self.log.warning("out of descriptors (%s): new connections wait in the listen queue", error)
        self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE
        self.set_accept_enabled(False)

    def set_accept_enabled(self, enabled):
        """gthread's loop turns accepting back on at each tick: not during a pause."""
        if enabled and time.monotonic() < self.accept_paused_until:
            return
        super().set_accept_enabled(enabled)

    def enqueue_req(self, conn):
        if conn.passed or not isinstance(conn, GatedConn):
            conn.passed = False
            return super().enqueue_req(conn)
        conn.head = bytearray(conn.parser.unreader.take_buffered() if conn.parser is not None else b"")
        conn.sock.setblocking(False)
        # a kept-alive connection the poller found readable has its request there already
        if not request_ready(conn.head) and not self._read(conn):
            self.nr_conns -= 1  # the client left before its request was in
            conn.close()
            return None
        if request_ready(conn.head):
            return self._request_in(conn)
        conn.peer = conn.client[0] if isinstance(conn.client, tuple) else ""
        if self.gated_peers[conn.peer] >= GATED_PER_PEER and not is_trusted_proxy(conn.peer):
            self.nr_conns -= 1
            conn.close()
            return None
        conn.deadline = time.monotonic() + settings.HTTP_HEADER_TIMEOUT
        self.gated.append(conn)
        self.gated_peers[conn.peer] += 1
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._gate_readable, conn))

    @staticmethod
    def _read(conn: GatedConn) -> bool:
        """What the socket holds now, added to the head: False if the client has closed it."""
        try:
            data = conn.sock._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        conn.head += data
        return bool(data)

    def _gate_readable(self, conn: GatedConn, sock) -> None:
        if (left := self._read(conn)) and not request_ready(conn.head):
            return
        self.poller.unregister(conn.sock)
        self.gated.remove(conn)
        self._ungate(conn)
        if left:
            self._request_in(conn)
        else:  # the client left before its request was in
            self.nr_conns -= 1
            conn.close()

    def _ungate(self, conn: GatedConn) -> None:
        self.gated_peers[conn.peer] -= 1
        if self.gated_peers[conn.peer] <= 0:
            del self.gated_peers[conn.peer]

    def _request_in(self, conn: GatedConn) -> None:
        """The request is in: answered on this loop if it can be (`answer_at_gate`), else given
        to a thread."""
        if not self.answer_at_gate(conn):
            conn.passed = True
            conn.data_ready = True
            self.enqueue_req(conn)

    def answer_at_gate(self, conn: GatedConn) -> bool:
        """Overridden by a worker that can answer some requests without a thread."""
        return False

    def handle(self, conn):
        head = getattr(conn, "head", None)
        if head is not None:
            conn.head = None
            conn.init()
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        while self.gated and self.gated[0].deadline <= now:
            conn = self.gated.popleft()
            self._ungate(conn)
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()
