"""The seed's design, for comparison in the benchmark: one event at a time.

Per message: check a Redis "processed" key, take a Redis lock (SET NX EX), read the ten
boards' TTLs, ZINCRBY the ten boards (in the periods of the processing time, as the seed
bucketed them), INSERT the row into Postgres, mark the event processed for 24 h, unlock,
ack. The same libraries as the service (nats-py, redis-py, psycopg through Django) and the
same decoding and scoring; only the design differs. Not part of the service.

    DATABASE_URL=... REDIS_URL=... NATS_STREAM=... NATS_SUBJECT=... NATS_DURABLE=... \\
        .venv/bin/python bench/seed_consumer.py

SIGTERM or SIGINT: finish the message in hand, exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
# The seed did its Postgres and Redis calls synchronously inside the asyncio loop.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import django

django.setup()

import nats  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from nats.errors import TimeoutError as NatsTimeoutError  # noqa: E402
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy  # noqa: E402

from scoring.boards import Timeframe, boards_of  # noqa: E402
from scoring.ingest.wire import InvalidEvent, decode  # noqa: E402
from scoring.jetstream import stream_ensure  # noqa: E402
from scoring.rules import points  # noqa: E402
from scoring.rules.versions import settings_table  # noqa: E402

PROCESSED_TTL = 24 * 3600
LOCK_TTL = 30
BOARD_TTL = 90 * 86400  # the seed gave period boards a fixed lifetime when they had none

_TABLE = """
CREATE TABLE IF NOT EXISTS seed_contribution (
    event_id text PRIMARY KEY, kind smallint NOT NULL, user_id numeric(20) NOT NULL,
    project_id numeric(20) NOT NULL, occurred_at timestamptz NOT NULL, points integer NOT NULL,
    raw bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
"""
_INSERT = """
INSERT INTO seed_contribution (event_id, kind, user_id, project_id, occurred_at, points, raw)
VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING
"""


def event_process(client: redis.Redis, cursor, table, data: bytes) -> str:
    """One message, the seed's way. Returns what happened to it."""
    try:
        contribution = decode(data)
    except InvalidEvent:
        return "invalid"
    event_id = contribution.event_id
    if client.exists(f"seed:processed:{event_id}"):
        return "duplicate"
    lock = f"seed:lock:{event_id}"
    if not client.set(lock, uuid.uuid4().hex, nx=True, ex=LOCK_TTL):
        return "locked"
    try:
        earned = points(contribution, table)
        if earned > 0:
            boards = boards_of(contribution.project_id, datetime.now(UTC))  # processing time
            ttls = [client.ttl(board.key) for board in boards]
            for board, ttl in zip(boards, ttls, strict=True):
                client.zincrby(board.key, earned, str(contribution.user_id))
                if ttl < 0 and board.timeframe not in (Timeframe.ALL_TIME, Timeframe.YEARLY):
                    client.expire(board.key, BOARD_TTL)
        cursor.execute(
            _INSERT,
            [
                event_id,
                int(contribution.kind),
                contribution.user_id,
                contribution.project_id,
                contribution.occurred_at,
                earned,
                data,
            ],
        )
        client.set(f"seed:processed:{event_id}", 1, ex=PROCESSED_TTL)
    finally:
        client.delete(lock)  # the seed's unlock: a plain DEL
    return "applied"


async def consume(stop: asyncio.Event) -> dict[str, int]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    connection.ensure_connection()
    connection.set_autocommit(True)
    cursor = connection.cursor()
    cursor.execute(_TABLE)
    table = settings_table()
    nc = await nats.connect(settings.NATS_URL)
    js = nc.jetstream()
    await stream_ensure(js)
    sub = await js.pull_subscribe(
        settings.NATS_SUBJECT,
        durable=settings.NATS_DURABLE,
        stream=settings.NATS_STREAM,
        config=ConsumerConfig(
            durable_name=settings.NATS_DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=settings.CONSUMER_ACK_WAIT,
        ),
    )
    counts: dict[str, int] = {}
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(100, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            for msg in msgs:
                if stop.is_set():
                    await msg.nak()
                    continue
                outcome = event_process(client, cursor, table, msg.data)
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == "locked":
                    await msg.nak(delay=1)
                else:
                    await msg.ack()
    finally:
        await nc.drain()
    return counts


def main() -> None:
    stop = asyncio.Event()

    async def run() -> dict[str, int]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await consume(stop)

    started = time.monotonic()
    counts = asyncio.run(run())
    total = sum(counts.values())
    print(f"seed consumer: {total} messages in {time.monotonic() - started:.1f}s: {counts}")


if __name__ == "__main__":
    main()
