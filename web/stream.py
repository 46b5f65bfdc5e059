"""The live stream's server side: idle SSE connections on an asyncio loop, fed by the
consumer's announcements (docs/LIVE.md).

Each gunicorn worker runs one `StreamHub` on a thread of its own. The worker hands it the
socket of every stream request (`web.worker`), so a connection costs a socket and a small
object, never a thread. The hub listens to `redis_boards.boards_changed`; for a board that
somebody watches it re-reads the first page through the same selectors as the pages
(`web.board.board_event`) at most once a second — a burst of batches becomes one event —
and writes it to every watcher whose last seen id differs. A watcher resuming with
`Last-Event-ID` is sent the current page at once when its id is not the current one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from leaderboard_project.exceptions import DependencyUnavailable
from scoring import redis_boards
from scoring.boards import Board
from web.live import HEARTBEAT, RESPONSE_HEAD, board_frame

logger = logging.getLogger("leaderboard.stream")

MIN_INTERVAL = 1.0  # seconds between two board events of one board (SPEC §11)
MAX_LEAD = 0.25  # a paced read starts at most this long before its event's turn
HEARTBEAT_INTERVAL = 15.0
MAX_BUFFERED = 1 << 20  # a watcher this far behind is dropped; its browser reconnects


class Watcher(asyncio.Protocol):
    """One open stream: writes only; anything the client sends is ignored."""

    def __init__(self, hub: StreamHub, channel: Channel, seen: str | None) -> None:
        self.hub, self.channel, self.seen = hub, channel, seen
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(RESPONSE_HEAD)
        self.channel.watchers.add(self)
        if self.channel.event is not None:
            self.offer(*self.channel.event)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.leave(self)

    def offer(self, event_id: str, frame: bytes) -> None:
        """Send the board's current page unless this watcher has it already."""
        if event_id != self.seen:
            self.seen = event_id
            self.write(frame)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.transport.abort()
            return
        self.transport.write(data)


@dataclass(eq=False)
class Channel:
    """The watchers of one board, and the board's last page sent."""

    board: Board
    watchers: set[Watcher] = field(default_factory=set)
    event: tuple[str, bytes] | None = None  # (id, frame)
    last_sent: float = float("-inf")  # when the last paced event was written to all (loop time)
    timer: asyncio.TimerHandle | None = None
    reading: bool = False
    dirty: bool = False
    read_seconds: float = 0.02  # how long a read takes, smoothed: how early a paced read starts


class StreamHub:
    """Watchers by board, one asyncio loop on its own thread."""

    def __init__(
        self,
        *,
        read: Callable[[Board], tuple[str, bytes]],
        min_interval: float = MIN_INTERVAL,
        heartbeat: float = HEARTBEAT_INTERVAL,
        on_change: Callable[[list[str] | None], None] | None = None,
    ) -> None:
        self.read = read
        self.on_change = on_change  # told every announcement (None: any board may have changed)
        self.min_interval, self.heartbeat = min_interval, heartbeat
        self.channels: dict[str, Channel] = {}
        self.loop = asyncio.new_event_loop()
        self.readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stream-read")
        self.thread = threading.Thread(target=self._run, name="stream-hub", daemon=True)
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    def start(self) -> StreamHub:
        self.thread.start()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._spawn(self._listen())
        self._spawn(self._beat())
        self.loop.run_forever()

    def _spawn(self, coroutine) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- called from gunicorn's threads

    def attach(self, sock: socket.socket, board: Board, last_event_id: str | None) -> None:
        """Take over a stream request's socket (the request has been read; nothing answered)."""
        self.loop.call_soon_threadsafe(self._attach, sock, board, last_event_id)

    # ---- on the loop

    def _attach(self, sock: socket.socket, board: Board, last_event_id: str | None) -> None:
        channel = self.channels.get(board.key)
        if channel is None:
            channel = self.channels[board.key] = Channel(board)
            # A board nobody watched: read it now, outside the pace of its changes (the first
            # change after it is sent at once, not a second later).
            channel.reading = True
            self._spawn(self._read(channel, paced=False))
        self._spawn(self._connect(sock, channel, last_event_id))

    async def _connect(self, sock: socket.socket, channel: Channel, last_event_id: str | None) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: Watcher(self, channel, last_event_id), sock=sock)
        except OSError:
            sock.close()
            self._drop_if_idle(channel)

    def leave(self, watcher: Watcher) -> None:
        watcher.channel.watchers.discard(watcher)
        self._drop_if_idle(watcher.channel)

    def _drop_if_idle(self, channel: Channel) -> None:
        if not channel.watchers and self.channels.get(channel.board.key) is channel:
            if channel.timer is not None:
                channel.timer.cancel()
            del self.channels[channel.board.key]

    def _changed(self, channel: Channel) -> None:
        """The board changed: read and send it now, or at its turn, a second after the last
        send. The read for a turn starts as long before it as a read takes, so that the event
        leaves on time with what the board held just before: the pace adds no read on top."""
        channel.dirty = True
        if channel.reading or channel.timer is not None:
            return
        turn = channel.last_sent + self.min_interval
        delay = max(0.0, turn - min(channel.read_seconds, MAX_LEAD) - self.loop.time())
        channel.timer = self.loop.call_later(delay, lambda: self._spawn(self._read(channel)))

    async def _read(self, channel: Channel, paced: bool = True) -> None:
        channel.timer, channel.reading, channel.dirty = None, True, False
        started = self.loop.time()
        try:
            event_id, data = await self.loop.run_in_executor(self.readers, self.read, channel.board)
        except DependencyUnavailable as exc:  # the boards are being restored: try again in a second
            logger.info("board %s not readable for the stream yet: %s", channel.board.key, exc.message)
            channel.dirty = True
            channel.last_sent = self.loop.time()
        except Exception:
            logger.exception("reading board %s for the stream failed; retrying", channel.board.key)
            channel.dirty = True
            channel.last_sent = self.loop.time()
        else:
            channel.read_seconds = 0.7 * channel.read_seconds + 0.3 * (self.loop.time() - started)
            if paced:
                early = channel.last_sent + self.min_interval - self.loop.time()
                if early > 0:  # read ahead of its turn: the event waits for it
                    await asyncio.sleep(early)
            channel.event = (event_id, board_frame(event_id, data))
            self._fan_out(channel)
            if paced:  # from the end of the writes: no watcher gets two events within the interval
                channel.last_sent = self.loop.time()
        finally:
            channel.reading = False
        if channel.dirty and self.channels.get(channel.board.key) is channel:
            self._changed(channel)

    @staticmethod
    def _fan_out(channel: Channel) -> None:
        """The same bytes to every watcher that does not have them (one frame, built once)."""
        event_id, frame = channel.event
        for watcher in list(channel.watchers):
            if watcher.seen != event_id:
                watcher.seen = event_id
                watcher.write(frame)

    async def _listen(self) -> None:
        """Follow the announcements; after each (re)subscription re-read every watched board,
        since announcements made meanwhile are lost."""
        while True:
            try:
                async for keys in redis_boards.boards_changed(on_subscribed=self._all_changed):
                    if self.on_change is not None:
                        self.on_change(keys)
                    for key in keys:
                        channel = self.channels.get(key)
                        if channel is not None:
                            self._changed(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("board announcements interrupted (%s); resubscribing", exc)
                await asyncio.sleep(1.0)

    def _all_changed(self) -> None:
        if self.on_change is not None:
            self.on_change(None)
        for channel in list(self.channels.values()):
            self._changed(channel)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            for channel in list(self.channels.values()):
                for watcher in list(channel.watchers):
                    watcher.write(HEARTBEAT)

    def watching(self) -> int:
        """How many streams are open (for tests and logs)."""
        return sum(len(channel.watchers) for channel in self.channels.values())


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
                read=board_event, heartbeat=settings.STREAM_HEARTBEAT_SECONDS, on_change=cache.changed
            ).start()
        return _hub
