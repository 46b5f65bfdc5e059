"""The live stream's server side: idle SSE connections on an asyncio loop, fed by the
consumer's announcements (docs/LIVE.md).

Each gunicorn worker runs one `StreamHub` on a thread of its own. The worker hands it the
socket of every stream request (`web.worker`), so a connection costs a socket and a small
object, never a thread. The hub is an `api.watch.BoardHub` (the announcements it follows and
the pace of a board's events are written there, shared with gRPC's WatchLeaderboard): for a
board that somebody watches it re-reads the first page through the same selectors as the
pages (`web.board.board_event`), coalesced, and writes the event's one frame to every watcher
whose last seen id differs. A watcher resuming with `Last-Event-ID` is sent the current page
at once when its id is not the current one.

Each stream holds a slot (`BoardHub.admit`, taken by the worker before the hand-off) until its
connection is lost, and one of this process's descriptors: the hub holds at most its open-files
limit less `DESCRIPTORS_KEPT` (`hold`, also taken before the hand-off), so that a worker full of
streams still has descriptors for its requests and its own connections. A reader that does
not read is cut: once the bytes waiting for it pass `MAX_BUFFERED`, or once some have waited
`STREAM_SEND_TIMEOUT` seconds (checked at each heartbeat), its connection is aborted; its
browser, if it is one, reconnects.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from collections.abc import Callable

from django.conf import settings

from api.watch import MIN_INTERVAL, BoardHub, Channel
from scoring.boards import Board
from web.live import HEARTBEAT, RESPONSE_HEAD, board_frame

__all__ = ["Channel", "StreamHub", "Watcher", "hub"]

HEARTBEAT_INTERVAL = 15.0
MAX_BUFFERED = 1 << 20  # a watcher this far behind is dropped; its browser reconnects
DESCRIPTORS_KEPT = 100  # of the open-files limit, kept from streams: requests, Postgres, Redis, logs


def streams_room(kept: int = DESCRIPTORS_KEPT) -> int:
    """How many streams this process may hold: its open-files soft limit less `kept`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 30 if soft == resource.RLIM_INFINITY else max(soft - kept, 0)


class Watcher(asyncio.Protocol):
    """One open stream: writes only; anything the client sends is ignored."""

    def __init__(self, hub: StreamHub, channel: Channel, seen: str | None, lease: str | None = None) -> None:
        self.hub, self.channel, self.seen, self.lease = hub, channel, seen, lease
        self.transport: asyncio.Transport | None = None
        self.stalled_since: float | None = None  # since when bytes wait for the reader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(RESPONSE_HEAD)
        self.hub.join(self, self.channel)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.leave(self, self.channel)
        self.hub.release_soon(self.lease)
        self.hub.unhold()
        self.lease = None

    def check_stalled(self, now: float, limit: float) -> None:
        """Abort the connection if bytes have waited for the reader longer than `limit`."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() == 0:
            self.stalled_since = None
        elif self.stalled_since is None:
            self.stalled_since = now
        elif now - self.stalled_since > limit:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.transport.abort()
            return
        self.transport.write(data)


def _framed(read: Callable[[Board], tuple[str, bytes]]) -> Callable[[Board], tuple[str, bytes]]:
    """`read`, with its JSON made the SSE frame (once per event, in the reader's thread)."""

    def read_frame(board: Board) -> tuple[str, bytes]:
        event_id, data = read(board)
        return event_id, board_frame(event_id, data)

    return read_frame


class StreamHub(BoardHub):
    """Watchers by board, one asyncio loop on its own thread."""

    def __init__(
        self,
        *,
        read: Callable[[Board], tuple[str, bytes]],
        min_interval: float = MIN_INTERVAL,
        heartbeat: float = HEARTBEAT_INTERVAL,
        send_timeout: float = 30.0,
        on_change: Callable[[list[str] | None], None] | None = None,
    ) -> None:
        super().__init__(
            read=_framed(read), loop=asyncio.new_event_loop(), min_interval=min_interval, on_change=on_change
        )
        self.heartbeat, self.send_timeout = heartbeat, send_timeout
        self.thread = threading.Thread(target=self._run, name="stream-hub", daemon=True)
        self.room = streams_room()  # sockets this hub may hold
        self.held = 0  # sockets held or about to be (from `hold` until the connection is lost)
        self.held_lock = threading.Lock()  # held from gunicorn's threads, let go on the loop

    def start(self) -> StreamHub:
        self.thread.start()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.listen()
        self._spawn(self._beat())
        self.loop.run_forever()

    # ---- called from gunicorn's threads

    def hold(self) -> bool:
        """Take one of the descriptors streams may have (before `attach`); False when there is
        none left: the stream is to be refused."""
        with self.held_lock:
            if self.held >= self.room:
                return False
            self.held += 1
            return True

    def unhold(self) -> None:
        """Give back what `hold` took (the stream was refused, or its connection is gone)."""
        with self.held_lock:
            self.held -= 1

    def attach(self, sock: socket.socket, board: Board, last_event_id: str | None, lease: str | None = None) -> None:
        """Take over a stream request's socket (the request has been read; nothing answered),
        with the slot it was admitted with."""
        self.loop.call_soon_threadsafe(self._attach, sock, board, last_event_id, lease)

    # ---- on the loop

    def _attach(self, sock: socket.socket, board: Board, last_event_id: str | None, lease: str | None) -> None:
        self._spawn(self._connect(sock, self.channel(board), last_event_id, lease))

    async def _connect(self, sock: socket.socket, channel: Channel, last_event_id: str | None, lease: str | None):
        try:
            await self.loop.connect_accepted_socket(lambda: Watcher(self, channel, last_event_id, lease), sock=sock)
        except OSError:
            sock.close()
            self.drop_if_idle(channel)
            self.release_soon(lease)
            self.unhold()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            now = time.monotonic()
            for channel in list(self.channels.values()):
                for watcher in list(channel.watchers):
                    watcher.check_stalled(now, self.send_timeout)
                    watcher.write(HEARTBEAT)


_hub: StreamHub | None = None
_hub_lock = threading.Lock()


def hub() -> StreamHub:
    """This process's hub, started on first use (after Django is set up)."""
    global _hub
    with _hub_lock:
        if _hub is None:
            from api.cache import cache
            from web.board import board_event

            _hub = StreamHub(
                read=board_event,
                heartbeat=settings.STREAM_HEARTBEAT_SECONDS,
                send_timeout=settings.STREAM_SEND_TIMEOUT,
                on_change=cache.changed,
            ).start()
        return _hub
