"""NATS JetStream at the edge: fetch, decode, hand plain values to the services, ack.

Protobuf stops here: `decode` turns wire bytes into a `Contribution` or the reason it is
invalid. `JetStreamSource` runs nats-py's asyncio client on a thread of its own so that the
rest of the consumer is ordinary synchronous Django code; it prefetches the next batch
while the current one is written, and acks without waiting on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, timedelta

import nats
import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from google.protobuf.message import DecodeError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import redis_boards, services
from scoring.faults import crash_point
from scoring.redis_boards import BoardsNotReady
from scoring.rules import Contribution, EventKind, IssueCloseReason, PrCloseReason, ReviewState

logger = logging.getLogger("leaderboard.consumer")

MAX_EVENT_ID_LENGTH = 256

# EventName -> (payload field, the field naming the credited user)
_PAYLOADS = {
    EventKind.PULL_REQUEST_OPENED: ("pr_opened_payload", "user_id"),
    EventKind.PULL_REQUEST_CLOSED: ("pr_closed_payload", "user_id"),
    EventKind.PULL_REQUEST_REVIEW_SUBMITTED: ("pr_review_payload", "reviewer_user_id"),
    EventKind.ISSUE_OPENED: ("issue_opened_payload", "user_id"),
    EventKind.ISSUE_CLOSED: ("issue_closed_payload", "user_id"),
    EventKind.ISSUE_COMMENTED: ("issue_commented_payload", "user_id"),
    EventKind.PUSHED: ("push_payload", "user_id"),
}
_KINDS = {kind.value: kind for kind in EventKind}


class InvalidEvent(ValueError):
    """The message is not a valid contribution event; the text says why."""


def decode(data: bytes) -> Contribution:
    """Decode and validate one wire message (SPEC section 1). Raises `InvalidEvent`."""
    message = pb.ContributionEvent()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeWarning) as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc
    if not message.id:
        raise InvalidEvent("id is empty")
    if "\x00" in message.id:
        raise InvalidEvent("id contains a NUL character (Postgres cannot store it)")
    if len(message.id) > MAX_EVENT_ID_LENGTH:
        raise InvalidEvent(f"id is longer than {MAX_EVENT_ID_LENGTH} characters")
    if not message.HasField("time"):
        raise InvalidEvent("time is missing")
    try:
        occurred_at = message.time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent(f"time is out of range: {exc}") from exc
    kind = _KINDS.get(message.event_name)
    if kind is None:
        raise InvalidEvent(f"event_name {message.event_name} is unspecified or unknown")
    payload_field, user_field = _PAYLOADS[kind]
    present = message.WhichOneof("payload")
    if present is None:
        raise InvalidEvent(f"payload is missing (expected {payload_field})")
    if present != payload_field:
        raise InvalidEvent(f"payload {present} does not match event_name {kind.name} (expected {payload_field})")
    if message.repository_id == 0:
        raise InvalidEvent("repository_id is 0")
    payload = getattr(message, present)
    user_id = getattr(payload, user_field)
    if user_id == 0:
        raise InvalidEvent(f"{payload_field}.{user_field} (the credited user) is 0")
    facts = {}
    if kind is EventKind.PULL_REQUEST_CLOSED:
        facts["merged"] = (
            payload.HasField("merged") and payload.merged
        ) or payload.close_reason == PrCloseReason.MERGED
    elif kind is EventKind.PULL_REQUEST_REVIEW_SUBMITTED:
        facts["review_state"] = _enum(ReviewState, payload.state)
    elif kind is EventKind.ISSUE_CLOSED:
        facts["issue_close_reason"] = _enum(IssueCloseReason, payload.close_reason)
    elif kind is EventKind.PUSHED:
        facts["commits"] = payload.commits_count or len(payload.commits)
    return Contribution(
        event_id=message.id,
        kind=kind,
        occurred_at=occurred_at,
        project_id=message.repository_id,
        project_name=message.repository_name.replace("\x00", ""),  # Postgres text holds no NUL
        user_id=user_id,
        raw=data,
        **facts,
    )


def _enum(enum_type, value: int):
    try:
        return enum_type(value)
    except ValueError:
        return enum_type(0)  # an unknown state scores like UNSPECIFIED


def stream_config() -> StreamConfig:
    """The stream we create when it is missing (an existing one is used as it is)."""
    max_age = settings.NATS_STREAM_MAX_AGE_DAYS * 86400
    return StreamConfig(name=settings.NATS_STREAM, subjects=[settings.NATS_SUBJECT], max_age=max_age or None)


def consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.NATS_DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.CONSUMER_ACK_WAIT,
        max_deliver=settings.CONSUMER_MAX_DELIVER,
        max_ack_pending=max(20_000, 4 * settings.CONSUMER_BATCH_SIZE),
        filter_subject=settings.NATS_SUBJECT,
    )


async def stream_ensure(js) -> None:
    """Create the stream if it does not exist; leave an existing one untouched."""
    try:
        await js.stream_info(settings.NATS_STREAM)
        return
    except NotFoundError:
        pass
    try:
        await js.add_stream(stream_config())
        logger.info("created stream %s for subject %s", settings.NATS_STREAM, settings.NATS_SUBJECT)
    except BadRequestError:
        await js.stream_info(settings.NATS_STREAM)  # another consumer created it first


async def consumer_ensure(js) -> None:
    """Create the durable consumer if it does not exist; leave an existing one untouched."""
    try:
        await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)
        return
    except NotFoundError:
        pass
    try:
        await js.add_consumer(settings.NATS_STREAM, consumer_config())
    except BadRequestError:
        await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)  # another consumer created it first


class JetStreamSource:
    """A durable pull consumer driven from synchronous code (nats-py on its own thread).

    It sends its own pull requests and takes the messages in a subscription callback:
    nats-py's `fetch` spends three asyncio tasks per message, which was half of this thread's
    time. A request says `no_wait` with `expires`: the server waits up to `expires` for a
    first message, then delivers what it has (up to the batch) and ends the request with a
    status message, so a lone event is handed over at once and a backlog in full batches.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats", daemon=True)
        self.thread.start()
        self.nc = None
        self.sub = None
        self.closing = False
        self._arrived: list = []  # messages delivered to our inbox, not yet handed out
        self._wanted = 0
        self._fetching: asyncio.Lock | None = None
        self._request_over: asyncio.Event | None = None

    def _run(self, coroutine, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def connect(self) -> None:
        self._run(self._connect(), timeout=60)

    async def _connect(self) -> None:
        async def disconnected():
            if not self.closing:
                logger.warning("nats disconnected; reconnecting")

        async def reconnected():
            logger.warning("nats reconnected")

        self.nc = await nats.connect(
            settings.NATS_URL,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            name=f"consume_contributions:{settings.NATS_DURABLE}",
        )
        js = self.nc.jetstream()
        await stream_ensure(js)
        await consumer_ensure(js)
        self._fetching = asyncio.Lock()  # one pull request at a time, whichever worker asks
        self._request_over = asyncio.Event()
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{settings.NATS_STREAM}.{settings.NATS_DURABLE}"
        self._inbox = self.nc.new_inbox()
        self.sub = await self.nc.subscribe(self._inbox, cb=self._arrive, pending_msgs_limit=-1, pending_bytes_limit=-1)

    async def _arrive(self, msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._arrived.append(msg)
            if len(self._arrived) >= self._wanted:
                self._request_over.set()
            return
        if status not in ("404", "408"):  # 404/408: nothing (more) to deliver; else e.g. 409
            logger.warning("pull request ended: %s %s", status, msg.headers.get("Description", ""))
        self._request_over.set()

    def fetch_start(self, batch: int, timeout: float) -> Future:
        """Start fetching up to `batch` messages; the future's result is a list (maybe empty)."""
        return asyncio.run_coroutine_threadsafe(self._fetch(batch, timeout), self.loop)

    async def _fetch(self, batch: int, timeout: float) -> list:
        """One pull request: at most `timeout` seconds for a first message, then what is there.
        Messages that arrive after we stop waiting stay in `_arrived` for the next fetch."""
        async with self._fetching:
            return await self._pull(batch, timeout)

    async def _pull(self, batch: int, timeout: float) -> list:
        if len(self._arrived) < batch:
            self._wanted = batch
            self._request_over.clear()
            request = {"batch": batch - len(self._arrived), "expires": int(timeout * 1e9), "no_wait": True}
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
        return asyncio.run_coroutine_threadsafe(self._ack(msgs, "ack"), self.loop)

    def nak(self, msgs: list) -> Future:
        """Give messages back for immediate redelivery."""
        return asyncio.run_coroutine_threadsafe(self._ack(msgs, "nak"), self.loop)

    async def _ack(self, msgs: list, how: str) -> None:
        for index, msg in enumerate(msgs):
            if how == "ack" and index == len(msgs) // 2:
                crash_point("mid_ack")
            try:
                await getattr(msg, how)()
            except nats.errors.Error as exc:
                logger.warning("%s failed (the message will be redelivered): %s", how, exc)
                return

    async def _close(self) -> None:
        self.closing = True
        await self.nc.flush(timeout=5)  # the acks still buffered
        await self.nc.close()

    def close(self) -> None:
        if self.nc is not None:
            try:
                self._run(self._close(), timeout=10)
            except Exception as exc:  # closing is best effort; unacked messages are redelivered
                logger.warning("nats close: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@dataclass
class ConsumerStats:
    batches: int = 0
    received: int = 0
    logged: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    applied: int = 0


def batch_split(msgs: list) -> tuple[list[Contribution], list[services.DeadLetterIn]]:
    """Decode a batch: valid contributions, and dead letters for the rest."""
    contributions: list[Contribution] = []
    dead_letters: list[services.DeadLetterIn] = []
    for msg in msgs:
        try:
            contributions.append(decode(msg.data))
        except InvalidEvent as exc:
            try:
                sequence = msg.metadata.sequence.stream
            except Exception:  # not a JetStream message: no sequence to dedup on
                sequence = None
            dead_letters.append(services.DeadLetterIn(msg.data, str(exc), msg.subject, sequence))
    return contributions, dead_letters


_TRANSIENT = (DatabaseError, InterfaceError, redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)

# Batch loops per process: while one batch waits on Postgres or Redis, the other is decoded and
# written (+10-15% on the shared 2-core machine). Each loop has its own Postgres connection and
# takes its row locks in event-id order, exactly like separate consumers on the durable.
INGEST_WORKERS = 2


class Consumer:
    """The batch loops: fetch, ingest (retrying until it succeeds), ack; stop between batches."""

    def __init__(
        self,
        source: JetStreamSource,
        restore: Callable[[], object],
        stop: threading.Event,
        workers: int = INGEST_WORKERS,
    ) -> None:
        self.source = source
        self.restore = restore
        self.stop = stop
        self.workers = workers
        self.stats = ConsumerStats()
        self.batch_size = settings.CONSUMER_BATCH_SIZE
        self.fetch_timeout = settings.CONSUMER_FETCH_TIMEOUT
        self.sweep_every = settings.CONSUMER_SWEEP_INTERVAL
        self._next_sweep = time.monotonic() + self.sweep_every
        self._stats_lock = threading.Lock()
        self._failure: BaseException | None = None

    def run(self) -> ConsumerStats:
        """Run the loops (this thread is one of them) until told to stop; re-raise what broke one."""
        helpers = [
            threading.Thread(target=self._helper, name=f"ingest-{n}", daemon=True) for n in range(1, self.workers)
        ]
        for helper in helpers:
            helper.start()
        try:
            self._loop(sweeps=True)
        except BaseException:
            self.stop.set()  # the other loops finish their batch and stop too
            raise
        finally:
            for helper in helpers:
                helper.join()
        if self._failure is not None:
            raise self._failure
        return self.stats

    def _helper(self) -> None:
        try:
            self._loop(sweeps=False)
        except BaseException as exc:
            self._failure = exc
            self.stop.set()
        finally:
            connection.close()  # this thread's own Postgres connection

    def _loop(self, sweeps: bool) -> None:
        upcoming = self.source.fetch_start(self.batch_size, self.fetch_timeout)
        acks: Future | None = None
        while True:
            msgs = upcoming.result()
            if self.stop.is_set():
                if msgs:
                    self.source.nak(msgs).result(10)
                break
            upcoming = self.source.fetch_start(self.batch_size, self.fetch_timeout)
            if msgs:
                crash_point("after_fetch")
                if not self._ingest(msgs):
                    self.source.nak(msgs).result(10)
                    break
                crash_point("before_ack")
                if acks is not None:
                    acks.result(30)
                acks = self.source.ack(msgs)
            elif sweeps:
                self._restore_if_emptied()
            if sweeps:
                self._maybe_sweep()
        msgs = upcoming.result()
        if msgs:
            self.source.nak(msgs).result(10)
        if acks is not None:
            acks.result(30)

    def _ingest(self, msgs: list) -> bool:
        """Write one batch, retrying through outages. False if told to stop before it succeeded."""
        contributions, dead_letters = batch_split(msgs)
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                result = services.batch_ingest(contributions=contributions, dead_letters=dead_letters)
            except BoardsNotReady:
                logger.warning("boards are not ready: restoring before applying")
                self._guarded(self.restore)
                continue
            except _TRANSIENT as exc:
                logger.warning("batch of %d failed, retrying in %.1fs: %s", len(msgs), delay, exc)
                self._reset_connections()
                if self.stop.wait(delay):
                    return False
                delay = min(delay * 2, 5.0)
                continue
            self._count(result)
            logger.info(
                "batch received=%d logged=%d duplicates=%d dead_letters=%d applied=%d already_applied=%d ms=%.1f",
                result.received,
                result.logged,
                result.duplicates,
                result.dead_letters,
                result.applied,
                result.skipped,
                (time.perf_counter() - started) * 1000,
            )
            return True

    def _guarded(self, action: Callable[[], object]) -> None:
        try:
            action()
        except _TRANSIENT as exc:
            logger.warning("%s failed: %s", getattr(action, "__name__", "action"), exc)
            self._reset_connections()
            self.stop.wait(1.0)

    def restore_at_start(self):
        """Restore the boards if Redis holds none, retrying through outages like a batch does
        (Postgres or Redis may be restarting while the consumer starts). None if told to stop."""
        delay = 0.2
        while not self.stop.is_set():
            try:
                return self.restore()
            except _TRANSIENT as exc:
                logger.warning("restore at start failed, retrying in %.1fs: %s", delay, exc)
                self._reset_connections()
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
        return None

    def _restore_if_emptied(self) -> None:
        """On a quiet stream nothing would notice that Redis lost the boards (a FLUSHDB, a
        restart), so an idle loop looks for the ready sentinel once per fetch timeout."""
        try:
            ready = redis_boards.is_ready()
        except _TRANSIENT as exc:
            logger.warning("redis check failed: %s", exc)
            return
        if not ready:
            logger.warning("the boards are gone from Redis: restoring")
            self._guarded(self.restore)

    def _maybe_sweep(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.sweep_every
        try:
            applied, skipped = services.pending_sweep(older_than=timedelta(seconds=settings.CONSUMER_ACK_WAIT))
        except BoardsNotReady:
            self._guarded(self.restore)
            return
        except _TRANSIENT as exc:
            logger.warning("sweep failed: %s", exc)
            self._reset_connections()
            return
        if applied or skipped:
            logger.info("sweep applied=%d already_applied=%d", applied, skipped)

    def _count(self, result: services.BatchResult) -> None:
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.received += result.received
            self.stats.logged += result.logged
            self.stats.duplicates += result.duplicates
            self.stats.dead_letters += result.dead_letters
            self.stats.applied += result.applied

    @staticmethod
    def _reset_connections() -> None:
        with contextlib.suppress(DatabaseError):
            connection.close()
        close_old_connections()


def raw_as_json(data: bytes) -> str:
    """A wire message as indented JSON, for people (the admin); the reason if it does not decode."""
    from google.protobuf.json_format import MessageToJson

    message = pb.ContributionEvent()
    try:
        message.ParseFromString(bytes(data))
    except DecodeError as exc:
        return f"(not a ContributionEvent: {exc})"
    return MessageToJson(message, indent=2, preserving_proto_field_name=True)
