"""JetStream publishing for the webhook: one long-lived NATS connection per web process.

nats-py is asyncio; the web workers are threads. Like the consumer's `JetStreamSource`, the
client runs on an event loop of its own thread, and request threads hand it publishes with
`run_coroutine_threadsafe`, so a delivery costs one round trip to the server, never a
connect. The connection is made lazily in each process (after gunicorn's fork) and is kept
up by nats-py's own reconnects.

Nothing is buffered while the connection is down (`pending_size=0`): a publish either reaches
the server and is acknowledged within the timeout, or the delivery is answered 503, and GitHub
shows it as failed. A publish that reached the stream but whose acknowledgement came too late
is harmless: the redelivery carries the same `Nats-Msg-Id`, and the log dedups after that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading

import nats
from django.conf import settings

from leaderboard_project.exceptions import DependencyUnavailable
from scoring.jetstream import stream_ensure

logger = logging.getLogger("leaderboard.github")


class PublishFailed(DependencyUnavailable):
    """JetStream did not acknowledge the publish in time: nothing may be assumed stored."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"nats is unavailable: {problem}", details={"nats": problem})


class JetStreamPublisher:
    """A NATS connection on its own event loop thread; `publish` may be called from any thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats-publisher", daemon=True)
        self.thread.start()
        self.nc = None
        self.js = None
        self.closing = False
        self._streams: set[tuple[str, str]] = set()  # (stream, subject) known to exist
        self._up = asyncio.Event()  # set while connected; created here, used on self.loop only
        asyncio.run_coroutine_threadsafe(self._connect(), self.loop)

    async def _connect(self) -> None:
        async def disconnected():
            self._up.clear()
            if not self.closing:
                logger.warning("nats disconnected; webhook deliveries get 503 until it is back")

        async def reconnected():
            self._up.set()
            logger.warning("nats reconnected")

        async def error(exc):
            logger.debug("nats: %s", exc)

        try:
            # Retries for ever (in the background) when the server is down at the first delivery.
            self.nc = await nats.connect(
                self.url,
                name="github-webhooks",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                pending_size=0,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
            )
        except Exception as exc:  # a bad URL: every delivery is answered 503 and says why
            logger.error("nats connect to %s failed: %s", self.url, exc)
            return
        self.js = self.nc.jetstream()
        self._up.set()

    async def _publish(self, subject: str, stream: str, data: bytes, msg_id: str, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            raise PublishFailed(f"not connected to {self.url}") from None
        try:
            if (stream, subject) not in self._streams:
                await asyncio.wait_for(stream_ensure(self.js), max(deadline - loop.time(), 0.01))
                self._streams.add((stream, subject))
            ack = await self.js.publish(
                subject, data, timeout=max(deadline - loop.time(), 0.01), headers={"Nats-Msg-Id": msg_id}
            )
        except (TimeoutError, nats.errors.TimeoutError):
            raise PublishFailed(f"no acknowledgement from JetStream within {timeout:g}s") from None
        except nats.errors.Error as exc:  # disconnected, no stream answering, an API error
            raise PublishFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        return ack.seq

    def publish(self, *, subject: str, stream: str, data: bytes, msg_id: str, timeout: float) -> int:
        """Publish `data` with `Nats-Msg-Id: msg_id` and wait for JetStream's acknowledgement.
        Returns the stream sequence (an earlier one for a duplicate inside the window).
        Raises `PublishFailed` when there is no acknowledgement within `timeout` seconds."""
        future = asyncio.run_coroutine_threadsafe(self._publish(subject, stream, data, msg_id, timeout), self.loop)
        try:
            return future.result(timeout + 1.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise PublishFailed(f"no acknowledgement from JetStream within {timeout:g}s") from None

    async def _close(self) -> None:
        self.closing = True
        if self.nc is not None:
            await self.nc.close()

    def close(self) -> None:
        """Close the connection and stop the loop thread (best effort)."""
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(5)
        except Exception as exc:
            logger.warning("nats close: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_publisher: JetStreamPublisher | None = None
_publisher_pid = 0
_lock = threading.Lock()


def publisher() -> JetStreamPublisher:
    """This process's publisher: made on first use, again after a fork or a new NATS_URL."""
    global _publisher, _publisher_pid
    with _lock:
        stale = _publisher is not None and (_publisher_pid != os.getpid() or _publisher.url != settings.NATS_URL)
        if stale and _publisher_pid == os.getpid():
            _publisher.close()
        if _publisher is None or stale:
            _publisher = JetStreamPublisher(settings.NATS_URL)
            _publisher_pid = os.getpid()
        return _publisher


def event_publish(*, data: bytes, msg_id: str) -> int:
    """Publish one serialized ContributionEvent to the configured subject, deduplicated by
    JetStream on `msg_id`, and wait (GITHUB_WEBHOOK_PUBLISH_TIMEOUT) for the acknowledgement."""
    return publisher().publish(
        subject=settings.NATS_SUBJECT,
        stream=settings.NATS_STREAM,
        data=data,
        msg_id=msg_id,
        timeout=settings.GITHUB_WEBHOOK_PUBLISH_TIMEOUT,
    )
