"""Boards watched live: which boards somebody watches, and when each is read and sent again.

One `BoardHub` per process follows the consumer's announcements (`redis_boards.boards_changed`)
and re-reads a watched board when it changes, coalesced (SPEC §11): a change to a board that
sent nothing within `min_interval` goes out at once, later changes together at the end of the
interval — a burst of batches becomes one event, read once and given to every watcher. The
SSE stream (`web.stream`) and gRPC's `WatchLeaderboard` (`rpc.watch`) are its two transports:
each gives the hub its own `read` (a board's first page as that transport sends it) and its own
watchers; the rule of when to read and send is written here only.

Admission is written here too, for both transports: `admit` holds a slot for a new watcher in
Redis (`redis_boards.slot_acquire`: at most `STREAMS_PER_CLIENT` open per client address and
`STREAMS_TOTAL` in all, SSE streams and gRPC watches together, across every process) or says
which limit it is past; the hub renews its slots' leases while they are open and `release`
gives one back. A process that dies stops renewing: its slots lapse within a lease. Redis
unreachable: the watcher is admitted (the stream's own updates need Redis anyway).

A watcher is anything with a `seen` attribute (the id of the event it has) and a `write(payload)`
method; the hub writes a payload only to the watchers whose `seen` differs, and sets `seen`.
Everything here runs on the hub's loop; reads run in its `readers` threads (they are Django's
and Redis' blocking calls).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from leaderboard_project.errors import DependencyUnavailable
from scoring import redis_boards
from scoring.boards import Board

logger = logging.getLogger("leaderboard.stream")

MIN_INTERVAL = 0.25  # the window of SPEC §11: at most four events of one board a second
MAX_LEAD = 0.1  # a paced read starts at most this long before its turn (well inside the window)

SLOTS = "streams"  # the slots' kind: SSE streams and gRPC watches count together
LEASE_SECONDS = 60.0  # a slot lapses this long after its process last renewed it
RETRY_AFTER = 30  # seconds, in a refusal

# (event id, payload): the id says what the page shows (equal ids, equal pages).
Event = tuple[str, Any]


class Watcher(Protocol):
    seen: str | None

    def write(self, payload: Any) -> None: ...


@dataclass(eq=False)
class Channel:
    """The watchers of one board, and the board's last event sent."""

    board: Board
    watchers: set = field(default_factory=set)
    event: Event | None = None
    last_sent: float = float("-inf")  # when the last paced event was written to all (loop time)
    timer: asyncio.TimerHandle | None = None
    reading: bool = False
    dirty: bool = False
    read_seconds: float = 0.02  # how long a read takes, smoothed: how early a paced read starts


@dataclass(frozen=True, slots=True)
class Refused:
    """A watcher refused: 429 (the client's own limit) or 503 (everyone's), and when to retry."""

    status: int
    message: str
    retry_after: int = RETRY_AFTER


def offer(watcher: Watcher, event: Event) -> None:
    """Write the event to `watcher` unless it has it already."""
    event_id, payload = event
    if watcher.seen != event_id:
        watcher.seen = event_id
        watcher.write(payload)


class BoardHub:
    """Watchers by board, on one asyncio loop (`loop`)."""

    def __init__(
        self,
        *,
        read: Callable[[Board], Event],
        loop: asyncio.AbstractEventLoop,
        min_interval: float = MIN_INTERVAL,
        on_change: Callable[[list[str] | None], None] | None = None,
    ) -> None:
        self.read = read
        self.loop = loop
        self.on_change = on_change  # told every announcement (None: any board may have changed)
        self.min_interval = min_interval
        self.channels: dict[str, Channel] = {}
        self.readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stream-read")
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks
        self.leases: dict[str, str] = {}  # the slots this process holds: lease id -> client
        self.leases_lock = threading.Lock()  # admitted from gunicorn's threads, renewed on the loop

    def _spawn(self, coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def listen(self) -> None:
        """Follow the announcements and renew the slots' leases (on the loop, until it stops)."""
        self._spawn(self._listen())
        self._spawn(self._renew())

    # ---- admission (blocking calls: from a thread, or through an executor)

    def admit(self, client: str) -> str | Refused:
        """A slot for a new watcher from `client`: its lease id, or why it is refused."""
        lease_id = uuid.uuid4().hex
        try:
            held = redis_boards.slot_acquire(
                SLOTS,
                client,
                lease_id,
                per_client=settings.STREAMS_PER_CLIENT,
                total=settings.STREAMS_TOTAL,
                lease_ms=int(LEASE_SECONDS * 1000),
            )
        except Exception as exc:  # Redis down: admitted, uncounted
            logger.warning("stream slots not counted (%s): admitting %s", exc, client)
            return lease_id
        if held == redis_boards.SLOT_CLIENT_FULL:
            return Refused(429, f"at most {settings.STREAMS_PER_CLIENT} open streams per client")
        if held == redis_boards.SLOT_ALL_FULL:
            return Refused(503, f"the server holds its {settings.STREAMS_TOTAL} open streams")
        with self.leases_lock:
            self.leases[lease_id] = client
        return lease_id

    def release(self, lease_id: str) -> None:
        """Give a slot back (the watcher left)."""
        with self.leases_lock:
            client = self.leases.pop(lease_id, None)
        if client is not None:
            try:
                redis_boards.slot_release(SLOTS, client, lease_id)
            except Exception as exc:  # it lapses by itself within a lease
                logger.warning("stream slot not released (%s); it lapses within %.0f s", exc, LEASE_SECONDS)

    def release_soon(self, lease_id: str | None) -> None:
        """`release` from the loop, without blocking it."""
        if lease_id is not None:
            self.loop.run_in_executor(self.readers, self.release, lease_id)

    def _renew_now(self) -> None:
        with self.leases_lock:
            held = [(client, lease_id) for lease_id, client in self.leases.items()]
        redis_boards.slots_renew(SLOTS, held, lease_ms=int(LEASE_SECONDS * 1000))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.loop.run_in_executor(self.readers, self._renew_now)
            except Exception as exc:
                logger.warning("stream slots not renewed (%s); retrying", exc)

    def channel(self, board: Board) -> Channel:
        """The board's channel; a board nobody watched is read now, outside the pace of its
        changes (the first change after it is sent at once, not an interval later)."""
        channel = self.channels.get(board.key)
        if channel is None:
            channel = self.channels[board.key] = Channel(board)
            channel.reading = True
            self._spawn(self._read(channel, paced=False))
        return channel

    def join(self, watcher: Watcher, channel: Channel) -> None:
        """`watcher` watches the channel's board from now on: it has the last event at once."""
        channel.watchers.add(watcher)
        if channel.event is not None:
            offer(watcher, channel.event)

    def leave(self, watcher: Watcher, channel: Channel) -> None:
        channel.watchers.discard(watcher)
        self.drop_if_idle(channel)

    def drop_if_idle(self, channel: Channel) -> None:
        if not channel.watchers and self.channels.get(channel.board.key) is channel:
            if channel.timer is not None:
                channel.timer.cancel()
            del self.channels[channel.board.key]

    def _changed(self, channel: Channel) -> None:
        """The board changed: read and send it now, or at its turn, an interval after the last
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
            event = await self.loop.run_in_executor(self.readers, self.read, channel.board)
        except DependencyUnavailable as exc:  # the boards are being restored: try again in a while
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
            channel.event = event
            for watcher in list(channel.watchers):  # the same payload to every watcher (built once)
                offer(watcher, event)
            if paced:  # from the end of the writes: no watcher gets two events within the interval
                channel.last_sent = self.loop.time()
        finally:
            channel.reading = False
        if channel.dirty and self.channels.get(channel.board.key) is channel:
            self._changed(channel)

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

    def watching(self) -> int:
        """How many watchers are open (for tests and logs)."""
        return sum(len(channel.watchers) for channel in self.channels.values())
