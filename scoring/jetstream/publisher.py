"""Acknowledged publishing to the configured subject, from synchronous code.

A `JetStreamPublisher` keeps one NATS connection on a `LoopThread`; callers on any thread hand
it publishes, so a publish costs one round trip to the server, never a connect. The web
process shares one (`process_publisher`, made lazily after gunicorn's fork and kept up by
nats-py's own reconnects); `publish_events` makes its own for the run.

Nothing is buffered while the connection is down: a publish either reaches the server and is
acknowledged within its timeout, or raises `PublishFailed`, a `DependencyUnavailable` (the
webhook answers 503 and GitHub shows the delivery as failed). A publish that reached the
stream but whose acknowledgement came too late is harmless when it carries a message id: its
redelivery carries the same `Nats-Msg-Id`, and JetStream drops it as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import nats
import nats.js.errors
from django.conf import settings

from leaderboard_project.errors import DependencyUnavailable
from scoring.jetstream.connection import LoopThread, connect
from scoring.jetstream.streams import stream_ensure

logger = logging.getLogger("leaderboard.nats")

ACK_TIMEOUT = 5.0  # seconds a publish of `publish_many` waits for its acknowledgement (nats-py's default)
ATTEMPT_TIMEOUT = 1.0  # seconds one attempt of a publish with a message id waits (an election: try again)
RETRY_FIRST, RETRY_MAX = 0.05, 0.5  # seconds between attempts, doubling

# Failures after which nothing was stored: no stream leader answered (no responders), JetStream
# answered 503 (an election), or the message never left (disconnected, reconnecting).
_NOT_STORED = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)


class PublishFailed(DependencyUnavailable):
    """JetStream did not acknowledge the publish in time: nothing may be assumed stored."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"nats is unavailable: {problem}", details={"nats": problem})


class JetStreamPublisher:
    """A NATS connection for acknowledged publishes; `publish` may be called from any thread."""

    def __init__(self, name: str, url: str | None = None) -> None:
        self.url = url or settings.NATS_URL
        self.name = name
        self.loop = LoopThread(f"nats-{name}")
        self.nc = None
        self.js = None
        self.closing = False
        self._streams: set[tuple[str, str]] = set()  # (stream, subject) known to exist
        self._up = asyncio.Event()  # set while connected; created here, used on the loop only
        self._ensuring = asyncio.Lock()  # concurrent first publishes ensure the stream once
        self.loop.submit(self._connect())

    async def _connect(self) -> None:
        async def disconnected():
            self._up.clear()
            if not self.closing:
                logger.warning("nats disconnected; publishes fail until it is back")

        async def reconnected():
            self._up.set()
            logger.warning("nats reconnected")

        try:
            # Retries for ever (in the background) when the server is down at the first publish.
            self.nc = await connect(
                self.name,
                url=self.url,
                reconnect_wait=0.5,
                buffer_while_down=False,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
            )
        except Exception as exc:  # a bad URL: every publish fails and says why
            logger.error("cannot connect to NATS at %s: %s", self.url, exc)
            return
        self.js = self.nc.jetstream()
        self._up.set()

    async def _ready(self, where: tuple[str, str], timeout: float) -> None:
        """Connected (waiting up to `timeout` seconds for it), and the stream there: ensured
        once per (stream, subject), so that later publishes go out without a round trip."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not self._up.is_set():
            try:
                await asyncio.wait_for(self._up.wait(), timeout)
            except TimeoutError:
                raise PublishFailed(f"not connected to {self.url}") from None
        if where in self._streams:
            return
        try:
            async with self._ensuring:
                if where not in self._streams:
                    await asyncio.wait_for(stream_ensure(self.js), max(deadline - loop.time(), 0.01))
                    self._streams.add(where)
        except (TimeoutError, nats.errors.Error) as exc:
            raise _failure(exc, timeout) from None

    async def _publish(self, where: tuple[str, str], data: bytes, msg_id: str | None, timeout: float) -> int:
        """Publish until JetStream acknowledges, within `timeout` seconds: on a cluster, a stream
        leader lost answers no one (no responders) or 503 while another is elected, and the
        connection moves to another server; each of those is tried again (RETRY_FIRST seconds
        apart, doubling). A publish whose acknowledgement timed out may have been stored: it is
        tried again only with a message id (JetStream then drops the second copy)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = RETRY_FIRST
        while True:
            await self._ready(where, max(deadline - loop.time(), 0.01))
            left = deadline - loop.time()
            attempt = min(left, ATTEMPT_TIMEOUT) if msg_id is not None else left
            try:
                ack = await self.js.publish(
                    where[1],
                    data,
                    timeout=max(attempt, 0.01),
                    headers=None if msg_id is None else {"Nats-Msg-Id": msg_id},
                )
                return ack.seq
            except (TimeoutError, nats.errors.Error) as exc:
                again = isinstance(exc, _NOT_STORED) or (msg_id is not None and _timed_out(exc))
                if not again or deadline - loop.time() <= pause:
                    raise _failure(exc, timeout) from None
                logger.info("publish not acknowledged (%s); trying again", type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)

    def publish(self, data: bytes, *, msg_id: str, timeout: float) -> int:
        """Publish `data` to the configured subject with `Nats-Msg-Id: msg_id` and wait for
        JetStream's acknowledgement. Returns the stream sequence (an earlier one for a duplicate
        inside the window). Raises `PublishFailed` when there is no acknowledgement within
        `timeout` seconds."""
        try:
            return self.loop.run(self._publish(_destination(), data, msg_id, timeout), timeout + 1.0)
        except TimeoutError:
            raise PublishFailed(f"no acknowledgement from JetStream within {timeout:g}s") from None

    async def _publish_many(
        self, messages: Iterable[bytes], rate: float, window: int, progress: Callable[[int], None]
    ) -> int:
        where = _destination()
        # Ready before the first window, so that each window's publishes leave together.
        await self._ready(where, ACK_TIMEOUT)
        published = 0
        started = time.monotonic()
        chunk: list[bytes] = []

        async def flush() -> None:
            nonlocal published
            await asyncio.gather(*(self._publish(where, data, None, ACK_TIMEOUT) for data in chunk))
            published += len(chunk)
            chunk.clear()
            progress(published)

        for data in messages:
            chunk.append(data)
            if rate > 0:
                ahead = (published + len(chunk)) / rate - (time.monotonic() - started)
                if ahead > 0:
                    await flush()
                    await asyncio.sleep(ahead)
            if len(chunk) >= window:
                await flush()
        if chunk:
            await flush()
        return published

    def publish_many(
        self,
        messages: Iterable[bytes],
        *,
        rate: float = 0.0,
        window: int = 500,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        """Publish `messages` to the configured subject without message ids (a repeated message
        is stored again), up to `window` awaiting their acknowledgements together, at most
        `rate` per second when `rate` > 0; `progress` is told the count after each window.
        Returns how many were published; raises `PublishFailed` at the first one that fails."""
        return self.loop.run(self._publish_many(messages, rate, window, progress))

    async def _close(self) -> None:
        self.closing = True
        if self.nc is not None:
            await self.nc.close()

    def close(self) -> None:
        """Close the connection and stop the loop thread (best effort)."""
        try:
            self.loop.run(self._close(), timeout=5)
        except Exception as exc:
            logger.warning("nats close: %s", exc)
        self.loop.stop()


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError | nats.errors.TimeoutError)


def _failure(exc: BaseException, timeout: float) -> PublishFailed:
    """What a publish that raised `exc` tells its caller."""
    if _timed_out(exc):
        return PublishFailed(f"no acknowledgement from JetStream within {timeout:g}s")
    return PublishFailed(f"{type(exc).__name__}: {exc}".rstrip(": "))  # disconnected, no stream answering, an API error


def _destination() -> tuple[str, str]:
    """(stream, subject) as configured now: a long-lived publisher follows a change of either."""
    return settings.NATS_STREAM, settings.NATS_SUBJECT


_process_publisher: JetStreamPublisher | None = None
_process_pid = 0
_lock = threading.Lock()


def process_publisher() -> JetStreamPublisher:
    """This process's shared publisher: made on first use, again after a fork or a new NATS_URL."""
    global _process_publisher, _process_pid
    with _lock:
        current = _process_publisher
        stale = current is not None and (_process_pid != os.getpid() or current.url != settings.NATS_URL)
        if stale and _process_pid == os.getpid():
            current.close()
        if current is None or stale:
            _process_publisher = JetStreamPublisher("web-publisher")
            _process_pid = os.getpid()
        return _process_publisher
