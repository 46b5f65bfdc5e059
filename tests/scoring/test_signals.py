"""SIGTERM and SIGINT: the consumer finishes the batch in hand, acks it, hands the prefetched
batch back and exits 0 — shown on the durable and in the log before any other consumer runs."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest
from django.db import connection

from scoring.ingest.consumer import INGEST_WORKERS
from scoring.models import ContributionEvent
from tests.builders import generate, publish
from tests.fixtures import assert_messages_exact, nats_client, pg_connect, wait_for, wait_until_drained

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BATCH = 100


async def _durable(names: dict[str, str]):
    nc = await nats_client()
    try:
        return await nc.jetstream().consumer_info(names["NATS_STREAM"], names["NATS_DURABLE"])
    finally:
        await nc.close()


def durable(names: dict[str, str]):
    return asyncio.run(_durable(names))


async def _take_back(names: dict[str, str], count: int) -> list[tuple[int, int]]:
    """Pull up to `count` messages from the durable at once and give them back (nak):
    [(stream sequence, times delivered)]. With `ack_wait` far away, only messages that were
    handed back come again; the others still wait for their ack."""
    nc = await nats_client()
    try:
        sub = await nc.jetstream().pull_subscribe_bind(names["NATS_DURABLE"], names["NATS_STREAM"])
        msgs = await sub.fetch(count, timeout=5)
        for msg in msgs:
            await msg.nak()
        await nc.flush()
        return [(msg.metadata.sequence.stream, msg.metadata.num_delivered) for msg in msgs]
    finally:
        await nc.close()


def inserts_waiting_on_the_log() -> list[int]:
    """Backends whose INSERT into the log waits for a lock on it (not the sweep's SELECT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = 'scoring_contributionevent'::regclass AND NOT l.granted"
            " AND l.mode = 'RowExclusiveLock' AND a.query LIKE %s",
            ["%INSERT INTO scoring_contributionevent%"],
        )
        return [pid for (pid,) in cursor.fetchall()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_batch_in_hand_and_hands_the_prefetched_one_back(
    signum, redis_client, nats_names, spawn_consumer
):
    messages = generate(2000, seed=30, duplicates=0, invalid=0)
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN EXCLUSIVE MODE")  # reads go on
        publish(messages)  # a backlog: every fetch is a full batch
        consumer = spawn_consumer(CONSUMER_BATCH_SIZE=str(BATCH), CONSUMER_ACK_WAIT="60")
        # Every loop has a batch in hand (its INSERT waits on the lock) and the next one prefetched.
        wait_for(
            lambda: len(inserts_waiting_on_the_log()) == INGEST_WORKERS,
            timeout=20,
            message="every batch loop to block on the log's INSERT",
        )
        wait_for(
            lambda: durable(nats_names).num_ack_pending >= 2 * INGEST_WORKERS * BATCH,
            timeout=20,
            message="the next batches prefetched",
        )
        consumer.proc.send_signal(signum)
        name = signal.Signals(signum).name
        wait_for(lambda: f"{name}: stopping after the batch in hand" in consumer.output(), message="the stop flag")
        locker.rollback()  # the batches in hand go on
    assert consumer.wait(30) == 0, consumer.output()[-3000:]
    output = consumer.output()

    # Before anything else consumes: what was logged is applied and acked; the batches that
    # were prefetched come straight back to the next puller (a redelivery, long before ack_wait).
    # The process is gone, so every ack the server still takes in was sent before it exited (the
    # server applies acks asynchronously: under load its ack floor moves a moment later).
    wait_for(lambda: durable(nats_names).ack_floor.stream_seq >= INGEST_WORKERS * BATCH, timeout=10)
    info = durable(nats_names)
    logged = ContributionEvent.objects.count()
    in_hand = INGEST_WORKERS * BATCH
    assert logged == in_hand, output[-3000:]
    assert not ContributionEvent.objects.unapplied().exists()
    delivered = info.delivered.stream_seq
    assert info.ack_floor.stream_seq == in_hand and delivered >= 2 * in_hand, info
    handed_back = [(sequence, 2) for sequence in range(in_hand + 1, delivered + 1)]
    pulled = asyncio.run(_take_back(nats_names, delivered - in_hand + BATCH))
    # Redelivered at once, in the order they were given back: they were handed back.
    assert sorted(pulled[: len(handed_back)]) == handed_back
    assert all(times == 1 for _, times in pulled[len(handed_back) :])  # then the stream goes on
    assert len(re.findall(rf"batch seq=\S+ received={BATCH} logged={BATCH} ", output)) == INGEST_WORKERS
    assert "retrying" not in output and "deadlock" not in output
    assert f"consumed {in_hand} messages in {INGEST_WORKERS} batches" in output.splitlines()[-1]

    survivor = spawn_consumer(CONSUMER_BATCH_SIZE=str(BATCH))
    wait_until_drained(nats_names, processes=[survivor])
    assert_messages_exact(redis_client, messages)
