"""The consumer's pull source: connect, ensure the stream and the durable, pull, ack and nak, close.

nats-py is asyncio; `JetStreamSource` runs its client on a `LoopThread` (named `nats`) so that
the batch loops (scoring/consumer.py) stay ordinary synchronous Django code. It hands out raw
messages; decoding them is scoring/wire.py's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import nats
from django.conf import settings
from nats.errors import NotJSMessageError
from nats.js.errors import APIError

from scoring import faults
from scoring.errors import is_transient
from scoring.jetstream.connection import LoopThread, connect
from scoring.jetstream.streams import consumer_ensure, stream_ensure

logger = logging.getLogger("leaderboard.consumer")

CONNECT_FIRST, CONNECT_MAX = 0.5, 10.0  # seconds between attempts to reach NATS or recreate, doubling
CONNECT_TIMEOUT = 10.0  # seconds one attempt to connect may take
RECREATE_FIRST = 1.0  # seconds before the first attempt to recreate a deleted stream or durable
STATE_EVERY = 1.0  # seconds between two reads of the durable's pending counts


@dataclass(frozen=True, slots=True)
class BatchSpan:
    """Where a batch sits in the stream: the stream sequences of its first and last messages
    (None for messages that are not JetStream's) and when its first one arrived (unix time)."""

    first: int | None
    last: int | None
    first_arrival: float | None

    def __str__(self) -> str:
        return f"seq={self.first}-{self.last}"


def batch_span(msgs: list) -> BatchSpan:
    """Read from the batch's two ends only (a batch of 1,000 costs two parses): JetStream hands
    a pull request its messages in stream order, redeliveries first, so the ends bound it."""
    ends = []
    for msg in (msgs[0], msgs[-1]) if msgs else ():
        with contextlib.suppress(NotJSMessageError):
            ends.append(msg.metadata)
    if not ends:
        return BatchSpan(None, None, None)
    sequences = [end.sequence.stream for end in ends]
    return BatchSpan(min(sequences), max(sequences), ends[0].timestamp.timestamp())


class JetStreamSource:
    """A durable pull consumer driven from synchronous code (nats-py on its own thread).

    It sends its own pull requests and takes the messages in a subscription callback, since
    nats-py's `fetch` spends asyncio tasks on every message (docs/BENCHMARKS.md, Profiling).
    A request says `no_wait` with `expires`: the server waits up to `expires` for a first
    message, then delivers what it has (up to the batch) and ends the request with a status
    message, so a lone event is handed over at once and a backlog in full batches.
    """

    def __init__(self) -> None:
        self.loop = LoopThread("nats")
        self.nc = None
        self.sub = None
        self.closing = False
        self._arrived: list = []  # messages delivered to our inbox, not yet handed out
        self._wanted = 0
        self._fetching: asyncio.Lock | None = None
        self._request_over: asyncio.Event | None = None
        self._js = None
        self._missing = False  # the stream or the durable went away: recreate before pulling
        self._oversized = False  # the last pull met a message above the byte limit
        self._recreates = 0  # attempts to recreate since the durable last answered
        self._watcher: asyncio.Task | None = None
        # The durable's num_pending and num_ack_pending, read every STATE_EVERY seconds (None
        # until the first read): the metrics' gauges and the heartbeat read them from here.
        self.pending: int | None = None
        self.ack_pending: int | None = None

    def connect(self, stop: threading.Event | None = None) -> bool:
        """Connect, and make sure the stream and the durable exist. NATS may be down or still
        starting: every failure is logged and tried again (CONNECT_FIRST seconds doubling up
        to CONNECT_MAX) until it works — True — or `stop` is set first — False."""
        delay = CONNECT_FIRST
        while True:
            try:
                self.loop.run(self._connect(), timeout=CONNECT_TIMEOUT + 60)
                return True
            except Exception as exc:
                if not is_transient(exc) and not isinstance(exc, APIError):
                    raise
                logger.warning("nats at %s: cannot connect (%s); retrying in %.1fs", settings.NATS_URL, exc, delay)
                with contextlib.suppress(Exception):
                    self.loop.run(self._drop(), timeout=10)
            if stop is not None and stop.wait(delay):
                return False
            if stop is None:
                time.sleep(delay)
            delay = min(delay * 2, CONNECT_MAX)

    async def _drop(self) -> None:
        if self.nc is not None:
            nc, self.nc = self.nc, None
            await nc.close()

    async def _connect(self) -> None:
        async def disconnected():
            if not self.closing:
                logger.warning("nats disconnected; reconnecting")

        async def reconnected():
            logger.warning("nats reconnected")

        # With unlimited reconnects, nats-py also retries a first connect for ever: bound it
        # here (the coroutine is cancelled), so that `connect` logs and backs off.
        self.nc = await asyncio.wait_for(
            connect(
                f"consume_contributions:{settings.NATS_DURABLE}",
                connect_timeout=5,
                reconnect_wait=1,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
            ),
            CONNECT_TIMEOUT,
        )
        js = self.nc.jetstream()
        await stream_ensure(js)
        await consumer_ensure(js)
        self._js = js
        self._fetching = asyncio.Lock()  # one pull request at a time, whichever worker asks
        self._request_over = asyncio.Event()
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{settings.NATS_STREAM}.{settings.NATS_DURABLE}"
        self._inbox = self.nc.new_inbox()
        self.sub = await self.nc.subscribe(self._inbox, cb=self._arrive, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self._watcher = asyncio.get_running_loop().create_task(self._watch(js))

    async def _watch(self, js) -> None:
        """Read the durable's pending counts every STATE_EVERY seconds, while connected."""
        while not self.closing:
            try:
                info = await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE, timeout=2)
                self.pending, self.ack_pending = info.num_pending, info.num_ack_pending
            except (nats.errors.Error, TimeoutError) as exc:  # NATS away: the counts stay as last read
                logger.debug("consumer info: %s", exc)
            await asyncio.sleep(STATE_EVERY)

    async def _arrive(self, msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._arrived.append(msg)
            self._recreates = 0
            if len(self._arrived) >= self._wanted:
                self._request_over.set()
            return
        description = msg.headers.get("Description", "")
        if status in ("404", "408"):
            self._recreates = 0  # the durable answered: it exists
        if status == "503" or (status == "409" and "deleted" in description.lower()):
            # No responders (the durable, or its stream, is gone) or "Consumer Deleted": make
            # them again before the next pull (`_recreate`).
            self._missing = True
        elif status == "409" and "exceeds maxbytes" in description.lower():
            self._oversized = True  # one message is larger than the byte limit: take it alone
        elif status not in ("404", "408"):  # 404/408: nothing (more) to deliver
            logger.warning("pull request ended: %s %s", status, description)
        self._request_over.set()

    async def _recreate(self) -> None:
        """Make the stream and the durable again after they went away under us (deleted by an
        operator, or lost by the server). Backs off while it fails; one warning per attempt,
        and attempts are CONNECT_FIRST doubling to CONNECT_MAX seconds apart: no busy loop."""
        # On a cluster a 503 is mostly an election (no consumer leader for a moment): a durable
        # that answers again is there, and pulling goes on at once.
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE, timeout=1)
            self._missing = False
            return
        # Wait before each attempt, longer each time: the server removes a deleted stream's
        # files after answering, and a stream made again at once may find them going.
        await asyncio.sleep(min(RECREATE_FIRST * 2**self._recreates, CONNECT_MAX))
        self._recreates += 1
        logger.warning(
            "stream %s or durable %s is gone: creating them again (attempt %d)",
            settings.NATS_STREAM,
            settings.NATS_DURABLE,
            self._recreates,
        )
        try:
            await stream_ensure(self._js)
            await consumer_ensure(self._js)
        except Exception as exc:
            logger.warning("recreating the stream or durable failed: %s", exc)
            return
        self._missing = False

    def fetch_start(self, batch: int, timeout: float) -> Future:
        """Start fetching up to `batch` messages; the future's result is a list (maybe empty)."""
        return self.loop.submit(self._fetch(batch, timeout))

    async def _fetch(self, batch: int, timeout: float) -> list:
        """One pull request: at most `timeout` seconds for a first message, then what is there.
        Messages that arrive after we stop waiting stay in `_arrived` for the next fetch."""
        async with self._fetching:
            return await self._pull(batch, timeout)

    async def _pull(self, batch: int, timeout: float) -> list:
        if self._missing:
            if self.nc.is_connected:
                await self._recreate()
            else:  # reconnecting: nats-py does that by itself
                await asyncio.sleep(min(timeout, 1.0))
        if len(self._arrived) < batch and not self._missing:
            self._wanted = batch
            self._request_over.clear()
            request = {"batch": batch - len(self._arrived), "expires": int(timeout * 1e9), "no_wait": True}
            # A byte limit per pull, so that a burst of large messages cannot fill the memory;
            # a single message above it is asked for alone, without the limit.
            if self._oversized:
                request["batch"], self._oversized = 1, False
            elif settings.CONSUMER_FETCH_MAX_BYTES:
                request["max_bytes"] = settings.CONSUMER_FETCH_MAX_BYTES
            try:
                await self.nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._inbox)
                await asyncio.wait_for(self._request_over.wait(), timeout + 1.0)
            except TimeoutError:
                pass  # the request or its answer was lost (a reconnect): ask again next time
            except nats.errors.Error as exc:  # disconnected: the client reconnects by itself
                logger.warning("fetch failed: %s", exc)
                await asyncio.sleep(min(timeout, 1.0))
        msgs, self._arrived = self._arrived[:batch], self._arrived[batch:]
        return msgs

    def ack(self, msgs: list) -> Future:
        """Ack messages (fire and forget: a lost ack only means a redelivery, which dedups)."""
        return self.loop.submit(self._ack(msgs, "ack"))

    def nak(self, msgs: list) -> Future:
        """Give messages back for immediate redelivery."""
        return self.loop.submit(self._ack(msgs, "nak"))

    async def _ack(self, msgs: list, how: str) -> None:
        for index, msg in enumerate(msgs):
            if how == "ack" and index == len(msgs) // 2:
                faults.point("mid_ack")
            try:
                await getattr(msg, how)()
            except nats.errors.Error as exc:
                logger.warning("%s failed (the message will be redelivered): %s", how, exc)
                return

    async def _close(self) -> None:
        self.closing = True
        if self._watcher is not None:
            self._watcher.cancel()
        await self.nc.flush(timeout=5)  # the acks still buffered
        await self.nc.close()

    def close(self) -> None:
        """Flush the acks still buffered, close the connection and stop the loop thread."""
        if self.nc is not None:
            try:
                self.loop.run(self._close(), timeout=10)
            except Exception as exc:  # closing is best effort; unacked messages are redelivered
                logger.warning("nats close: %s", exc)
        self.loop.stop()
