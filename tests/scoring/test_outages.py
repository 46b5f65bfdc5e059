"""Redis and NATS stopped under a running consumer, on servers of the test's own (tests/fixtures.py:
`PrivateRedis` on a unix socket, `PrivateNats` on a port it chose itself), never the machine's
shared ones. Each test shows that the outage hit the consumer — its retry line, its disconnect
and reconnect, the acks in flight when NATS died — and ends with exact boards."""

from __future__ import annotations

import re

import pytest

from scoring.ingest.consumer import INGEST_WORKERS
from scoring.models import ContributionEvent
from tests.builders import generate, publish
from tests.fixtures import (
    assert_messages_exact,
    consumer_env,
    durable_info,
    log_inserts_waiting,
    pg_connect,
    wait_for,
    wait_until_drained,
)
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
RETRY = re.compile(r"batch seq=\d+-\d+ \(\d+ messages?\) failed, retrying in")
BATCH_LINE = re.compile(r"batch seq=\S+ received=(\d+) logged=(\d+) duplicates=(\d+)")


def test_redis_restarted_empty_under_the_consumer(private_redis, nats_names, spawn_consumer):
    extra = {"REDIS_URL": private_redis.url, "CONSUMER_BATCH_SIZE": "100"}
    client = private_redis.client(decode_responses=True)
    before, after = generate(800, seed=21), generate(800, seed=22)
    consumer = spawn_consumer(**extra)
    publish(before)
    wait_until_drained(nats_names, processes=[consumer])
    assert redis_boards_state(client) == expected_boards(valid_events(before))
    assert not RETRY.search(consumer.output())

    private_redis.kill()  # everything in Redis is gone ...
    publish(after)  # ... while events keep coming
    wait_for(lambda: RETRY.search(consumer.output()), message="the consumer to fail on the dead Redis")
    private_redis.start()
    wait_until_drained(nats_names, timeout=90, processes=[consumer])
    # Found either by an apply refused for want of the sentinel, or by the swap-token check.
    assert re.search(
        r"boards are not ready: restoring before applying|the boards are gone from Redis", consumer.output()
    )
    assert_messages_exact(client, before + after, verify_env=consumer_env(nats_names, **extra))
    assert consumer.proc.poll() is None
    assert "deadlock" not in consumer.output()


def _blocked_with_acks_pending(nats_names) -> int:
    """Wait until every batch loop holds a batch it cannot finish (its INSERT waits on the
    log's lock), so that no ack can leave; return how many messages await their ack."""
    wait_for(lambda: len(log_inserts_waiting()) == INGEST_WORKERS, message="every batch loop at the log's lock")
    in_flight = durable_info(nats_names).num_ack_pending
    assert in_flight >= INGEST_WORKERS * 100
    return in_flight


def test_nats_restarted_under_the_consumer_with_acks_in_flight(
    private_nats, nats_names, spawn_consumer, redis_client, settings
):
    settings.NATS_URL = private_nats.url
    extra = {"NATS_URL": private_nats.url, "CONSUMER_BATCH_SIZE": "100"}
    before, after = generate(800, seed=23), generate(3000, seed=24)
    consumer = spawn_consumer(**extra)
    publish(before)
    wait_until_drained(nats_names, processes=[consumer])
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN EXCLUSIVE MODE")
        publish(after)
        _blocked_with_acks_pending(nats_names)
        private_nats.kill()  # with acks in flight: delivered, not yet acked
        locker.rollback()  # the batches go on; their acks meet a dead connection
    wait_for(lambda: "nats disconnected" in consumer.output(), message="the consumer to see NATS go")
    private_nats.start()  # same port, same store: the stream and the durable survive
    wait_for(lambda: "nats reconnected" in consumer.output(), message="the consumer to reconnect")
    wait_until_drained(nats_names, timeout=90, processes=[consumer])
    assert_messages_exact(redis_client, before + after)
    assert consumer.proc.poll() is None
    assert not RETRY.search(consumer.output()) and "deadlock" not in consumer.output()


def test_acks_lost_with_nats_down_bring_a_redelivery_that_counts_nothing(
    private_nats, nats_names, spawn_consumer, redis_client, settings
):
    """The 'lost ack' row of docs/EXACTLY_ONCE.md: batches logged and applied, their acks never
    reach NATS (it is down, then the consumer dies too); the next consumer gets them again,
    logs none of them a second time and adds nothing."""
    settings.NATS_URL = private_nats.url
    extra = {"NATS_URL": private_nats.url, "CONSUMER_BATCH_SIZE": "100"}
    messages = generate(1200, seed=25, duplicates=0, invalid=0)
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN EXCLUSIVE MODE")
        publish(messages)
        doomed = spawn_consumer(**extra)
        delivered = _blocked_with_acks_pending(nats_names)
        private_nats.kill()
        locker.rollback()
    # Every delivered message is written (in hand and prefetched alike); no ack got out.
    wait_for(
        lambda: ContributionEvent.objects.count() == delivered and not ContributionEvent.objects.unapplied().exists(),
        message="the delivered batches logged and applied",
    )
    doomed.kill()
    private_nats.start()
    assert durable_info(nats_names).ack_floor.stream_seq == 0  # not one ack arrived

    survivor = spawn_consumer(**extra)
    wait_until_drained(nats_names, timeout=90, processes=[survivor])
    batches = [tuple(map(int, line)) for line in BATCH_LINE.findall(survivor.output())]
    assert sum(logged for _, logged, _ in batches) == len(messages) - delivered
    assert sum(duplicates for _, _, duplicates in batches) >= delivered  # all of them came again
    assert_messages_exact(redis_client, messages)
