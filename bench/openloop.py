"""An open-loop HTTP load generator: requests at a fixed offered rate, whatever the server does.

    .venv/bin/python bench/openloop.py URL [--rate 1000] [--connections 50] [--duration 10]

wrk (closed loop) sends a connection's next request when the previous answer arrives, so a
slow server is asked less and the latency it reports leaves out the requests it did not send
("coordinated omission"). Here request j is due at `start + j / rate`, on connection
`j % connections` (keep-alive, HTTP/1.1), each connection's requests in order as wrk2 does.
A request whose connection is still busy at its due time is sent as soon as the connection
is free, and its latency is counted from its due time: a server that stalls for 100 ms shows
every request due in those 100 ms as late, not one.

One thread, non-blocking sockets and epoll; at 1,000 requests/s of a 15 kB page it costs a
few per cent of one core. `lag` is how late the generator itself sent requests whose
connection was free (its own scheduling delay, when the machine's cores are busy): read the
latencies next to it.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile


@dataclass
class OpenLoopRun:
    offered: float  # requests/s asked for
    achieved: float  # answers/s
    requests: int
    errors: int
    latencies_ms: list[float] = field(repr=False)
    lag_ms: list[float] = field(repr=False)

    def latency(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)

    def summary(self) -> str:
        return (
            f"offered {self.offered:,.0f}/s, answered {self.achieved:,.0f}/s ({self.requests:,} requests, "
            f"{self.errors} errors): p50 {self.latency(0.5):.2f} ms, p90 {self.latency(0.9):.2f} ms, "
            f"p99 {self.latency(0.99):.2f} ms, p99.9 {self.latency(0.999):.2f} ms, "
            f"max {max(self.latencies_ms):.2f} ms; "
            f"generator lag p99 {percentile(self.lag_ms, 0.99):.2f} ms"
        )


class _Connection:
    def __init__(self, address: tuple[str, int], request: bytes) -> None:
        self.address, self.request = address, request
        self.due: deque[float] = deque()  # due times of this connection's requests not yet sent
        self.sent_due: float | None = None  # due time of the request in flight
        self.buffer = bytearray()
        self.expected: int | None = None  # the whole answer's length, once its head is read
        self.status_ok = True
        self.keep_alive = True
        self.sock: socket.socket | None = None

    def open(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self.sock = sock
        return sock

    def received(self, data: bytes) -> bool:
        """Take bytes of the answer; True once it is complete."""
        self.buffer += data
        if self.expected is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            self.status_ok = head[0].split(" ", 2)[1] == "200"
            length = 0
            self.keep_alive = True
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    self.keep_alive = False
            self.expected = end + 4 + length
        return len(self.buffer) >= self.expected


def run(url: str, *, rate: float, connections: int, duration: float) -> OpenLoopRun:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}\r\nUser-Agent: openloop\r\n\r\n".encode()
    pool = [_Connection(address, request) for _ in range(connections)]
    selector = selectors.DefaultSelector()
    for conn in pool:
        selector.register(conn.open(), selectors.EVENT_READ, conn)

    total = int(rate * duration)
    start = time.perf_counter() + 0.05
    for j in range(total):
        pool[j % connections].due.append(start + j / rate)
    latencies: list[float] = []
    lag: list[float] = []
    errors = 0
    done = 0
    idle = deque(pool)  # connections with nothing in flight, by their next due time (round robin)

    def send(conn: _Connection, now: float, *, on_time: bool = True) -> None:
        nonlocal errors
        due = conn.due.popleft()
        if on_time:  # the connection was free: any delay is the generator's own
            lag.append((now - due) * 1000)
        conn.sent_due = due
        conn.buffer.clear()
        conn.expected = None
        try:
            conn.sock.send(conn.request)  # ~100 bytes: always fits an empty send buffer
        except OSError:
            errors += 1
            reopen(conn)
            conn.sent_due = None

    def reopen(conn: _Connection) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn.sock)
        conn.sock.close()
        selector.register(conn.open(), selectors.EVENT_READ, conn)

    end_by = start + duration + 10.0  # answers still out 10 s after the last due time are errors
    while done + errors < total and time.perf_counter() < end_by:
        now = time.perf_counter()
        waiting = deque()
        while idle:
            conn = idle.popleft()
            if not conn.due:
                continue
            if conn.due[0] <= now:
                send(conn, now)
            else:
                waiting.append(conn)
        idle = waiting
        next_due = min((conn.due[0] for conn in idle), default=now + 0.01)
        timeout = max(0.0, next_due - time.perf_counter())
        for key, _ in selector.select(timeout):
            conn = key.data
            try:
                data = conn.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # closed by the server
                if conn.sent_due is not None:
                    errors += 1
                    conn.sent_due = None
                reopen(conn)
                idle.append(conn)
                continue
            if conn.sent_due is None or not conn.received(data):
                continue
            finished = time.perf_counter()
            latencies.append((finished - conn.sent_due) * 1000)
            if conn.status_ok:
                done += 1
            else:
                errors += 1
            conn.sent_due = None
            if not conn.keep_alive:
                reopen(conn)
            if conn.due and conn.due[0] <= finished:
                send(conn, finished, on_time=False)  # late: its next request is due already
            else:
                idle.append(conn)
    errors += total - done - errors
    elapsed = max(time.perf_counter() - start, 1e-9)
    for conn in pool:
        conn.sock.close()
    selector.close()
    return OpenLoopRun(rate, done / min(elapsed, duration + 10.0), total, errors, latencies, lag)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    figure = run(args.url, rate=args.rate, connections=args.connections, duration=args.duration)
    print(figure.summary())
    return 0 if figure.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
