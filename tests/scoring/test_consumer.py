"""The consumer as a real process against the real NATS, Postgres and Redis — with faults.

Every test ends the same way: the boards in Redis equal, key for key and member for member,
what the published events say (tests/oracle.py computes that from the SPEC, without the
service's code), the log holds each distinct valid event once, every invalid message is a dead
letter, and `verify_leaderboards` agrees.
"""

from __future__ import annotations

import io
import random
import re
import signal
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from scoring.event_generator import POISON, event_build
from scoring.faults import CRASH_POINTS
from scoring.ingest.wire import InvalidEvent, decode
from scoring.models import ContributionEvent, DeadLetter
from scoring.redis_boards import PENDING_KEY
from tests.builders import generate, publish, wire_events
from tests.clock import START
from tests.edge_values import edge_messages
from tests.fixtures import (
    assert_messages_exact,
    boards_flush,
    consumer_env,
    log_inserts_waiting,
    nats_client,
    pg_connect,
    started,
    wait_for,
    wait_until_drained,
)
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
RETRY = re.compile(r"batch seq=\d+-\d+ \(\d+ messages?\) failed, retrying in")


def logged() -> int:
    return ContributionEvent.objects.count()


def test_duplicates_and_poison_give_exact_boards(redis_client, nats_names, spawn_consumer):
    messages = generate(1500, seed=1, duplicates=0.2, invalid=0.05)
    messages.insert(0, POISON[0])  # poison first: it must not block what follows
    publish(messages)
    consumer = spawn_consumer()
    wait_until_drained(nats_names, processes=[consumer])
    late = messages[1:200:7]  # the same events again, long after they were counted
    publish(late)
    wait_until_drained(nats_names, processes=[consumer])
    assert_messages_exact(redis_client, messages + late)
    reasons = set(DeadLetter.objects.values_list("reason", flat=True))
    assert reasons == {
        "undecodable: Error parsing message with type 'contributions.v1.ContributionEvent': Wire format was corrupt",
        "id is empty",
    }
    consumer.proc.send_signal(signal.SIGTERM)
    assert consumer.wait(15) == 0
    assert "consumed" in consumer.output()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_consumer_killed_at_each_crash_point_counts_every_event_once(point, redis_client, nats_names, spawn_consumer):
    messages = generate(800, seed=2)
    publish(messages)
    doomed = spawn_consumer(CONSUMER_CRASH_AT=f"{point}:3", CONSUMER_BATCH_SIZE="100")
    assert doomed.wait(60) == -signal.SIGKILL, doomed.output()
    survivor = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    wait_until_drained(nats_names, processes=[survivor])
    assert_messages_exact(redis_client, messages)
    # Markers left by a crash between the commit and their removal are swept.
    wait_for(lambda: redis_client.hlen(PENDING_KEY) == 0, timeout=10, message="pending markers to be swept")


def test_sigkill_mid_stream_again_and_again(redis_client, nats_names, spawn_consumer):
    messages = generate(4000, seed=3)
    publish(messages)
    for kill in range(3):
        consumer = spawn_consumer(CONSUMER_BATCH_SIZE="200")
        floor = logged()
        wait_for(lambda floor=floor: logged() > floor + 300, timeout=60, message=f"progress before kill {kill}")
        consumer.kill()
        assert consumer.proc.returncode == -signal.SIGKILL  # killed mid-stream, not exited
    assert logged() < len(valid_events(messages))  # the kills left work for the last consumer
    consumer = spawn_consumer()
    wait_until_drained(nats_names, processes=[consumer])
    assert_messages_exact(redis_client, messages)


def test_two_consumers_on_one_durable(redis_client, nats_names, spawn_consumer):
    messages = generate(5000, seed=4, duplicates=0.3)
    first = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    second = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    publish(messages, rate=4000)
    wait_until_drained(nats_names, processes=[first, second])
    assert_messages_exact(redis_client, messages)
    for consumer in (first, second):
        consumer.proc.send_signal(signal.SIGTERM)
        assert consumer.wait(15) == 0
        output = consumer.output()
        assert re.search(r"batch seq=\d+-\d+ received=\d+ ", output)  # each one did batches
        assert not RETRY.search(output) and "deadlock" not in output  # and never waited each other out


def _evalsha_blocked(client) -> bool:
    """Whether some client of `client`'s server is blocked (flag b) in an EVALSHA: the apply
    script, held by the pause."""
    for line in client.execute_command("CLIENT", "LIST").splitlines():
        fields = dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
        if fields.get("cmd") == "evalsha" and "b" in fields.get("flags", ""):
            return True
    return False


def test_killed_while_redis_is_paused(private_redis, nats_names, spawn_consumer):
    """Stall Redis writes (on a Redis of the test's own) so the consumer hangs inside its apply
    script, and SIGKILL it there."""
    extra = {"REDIS_URL": private_redis.url, "CONSUMER_BATCH_SIZE": "100"}
    client = private_redis.client(decode_responses=True)
    first_half, second_half = generate(600, seed=5), generate(600, seed=6)
    consumer = spawn_consumer(**extra)
    publish(first_half)
    wait_until_drained(nats_names, processes=[consumer])
    client.execute_command("CLIENT", "PAUSE", 600_000, "WRITE")  # until UNPAUSE: no window to race
    try:
        publish(second_half)
        wait_for(lambda: _evalsha_blocked(client), message="the apply script to block on the pause")
        consumer.kill()
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert ContributionEvent.objects.unapplied().exists()  # killed between log and boards
    assert not RETRY.search(consumer.output())  # it hung there; nothing failed
    survivor = spawn_consumer(**extra)
    wait_until_drained(nats_names, processes=[survivor])
    assert_messages_exact(client, first_half + second_half, verify_env=consumer_env(nats_names, **extra))


def test_killed_while_postgres_is_locked(redis_client, nats_names, spawn_consumer):
    """Hold the log table in EXCLUSIVE mode so the consumer hangs in its INSERT, SIGKILL it there."""
    first_half, second_half = generate(500, seed=7), generate(500, seed=8)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    publish(first_half)
    wait_until_drained(nats_names, processes=[consumer])
    floor = logged()
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN EXCLUSIVE MODE")
        publish(second_half)
        wait_for(log_inserts_waiting, message="the consumer's INSERT to wait on the lock")
        consumer.kill()
        locker.rollback()
    assert logged() == floor  # the batch died inside T1: nothing of it was written
    assert not RETRY.search(consumer.output()) and "deadlock" not in consumer.output()
    survivor = spawn_consumer()
    wait_until_drained(nats_names, processes=[survivor])
    assert_messages_exact(redis_client, first_half + second_half)


def test_postgres_connections_dropped_mid_stream(redis_client, nats_names, spawn_consumer):
    """Postgres goes away under the consumer (its backends terminated) three times while it
    works; each time it fails a batch, says so, reconnects and retries."""
    db = connection.settings_dict
    messages = generate(3000, seed=9)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    publisher = started(publish, messages, rate=1500)
    for drop in range(3):
        floor, retries = logged(), len(RETRY.findall(consumer.output()))
        wait_for(lambda floor=floor: logged() > floor + 100, message=f"progress before drop {drop}")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [db["NAME"]],
            )
        wait_for(
            lambda retries=retries: len(RETRY.findall(consumer.output())) > retries,
            message=f"the consumer to retry after drop {drop}",
        )
    publisher.join(60)
    wait_until_drained(nats_names, processes=[consumer])
    assert_messages_exact(redis_client, messages)
    assert "deadlock" not in consumer.output()


def test_an_existing_stream_is_used_as_it_is(redis_client, nats_names, spawn_consumer):
    import asyncio

    from nats.js.api import StreamConfig

    async def create_and_inspect(create: bool):
        nc = await nats_client()
        try:
            js = nc.jetstream()
            if create:
                config = StreamConfig(
                    name=nats_names["NATS_STREAM"], subjects=[nats_names["NATS_SUBJECT"]], max_msgs=50_000
                )
                await js.add_stream(config)
            info = await js.stream_info(nats_names["NATS_STREAM"])
            return info.config.max_msgs, info.config.subjects
        finally:
            await nc.close()

    asyncio.run(create_and_inspect(create=True))

    event = event_build(event_id="only", kind=1, user_id=5, project_id=3, occurred_at=START)
    publish([event.SerializeToString()])
    consumer = spawn_consumer()
    wait_until_drained(nats_names, processes=[consumer])
    assert asyncio.run(create_and_inspect(create=False)) == (50_000, [nats_names["NATS_SUBJECT"]])
    assert redis_client.zscore("leaderboard:global:all_time:all", "5") == 2


def test_an_idle_consumer_restores_boards_that_redis_lost(redis_client, nats_names, spawn_consumer):
    messages = generate(500, seed=11)
    consumer = spawn_consumer()
    publish(messages)
    wait_until_drained(nats_names, processes=[consumer])
    expected = expected_boards(valid_events(messages))
    assert redis_boards_state(redis_client) == expected
    boards_flush()  # everything goes (but this run's claim), at a quiet moment: no event trips over it
    wait_for(lambda: redis_boards_state(redis_client) == expected, timeout=15, message="the boards to come back")
    assert consumer.proc.poll() is None


def _reads_waiting() -> bool:
    """Whether a plain read of the log (the restore's: AccessShareLock) waits for a lock on it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = 'scoring_contributionevent'::regclass"
            " AND NOT granted AND mode = 'AccessShareLock'"
        )
        return cursor.fetchone()[0] > 0


def test_postgres_lost_during_the_restore_at_start(redis_client, nats_names, spawn_consumer):
    """The consumer's first act, the restore, loses its Postgres connection: it retries, not dies."""
    db = connection.settings_dict
    messages = generate(500, seed=12)
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN ACCESS EXCLUSIVE MODE")
        consumer = spawn_consumer()
        wait_for(_reads_waiting, timeout=20, message="the restore's read to wait on the lock")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid NOT IN (pg_backend_pid(), %s)",
                [db["NAME"], locker.info.backend_pid],
            )
        locker.rollback()
    publish(messages)
    wait_until_drained(nats_names, processes=[consumer])
    assert_messages_exact(redis_client, messages)
    assert "restore at start failed, retrying" in consumer.output()


def test_pull_requests_carry_a_byte_limit(redis_client, nats_names, spawn_consumer):
    """With a 300 kB limit, 100 kB messages come at most 3 to a batch; one message above the
    limit (400 kB) is still fetched, alone."""
    now = datetime.now(UTC)

    def big(event_id: str, user: int, size: int) -> bytes:
        event = event_build(
            event_id=event_id, kind=4, user_id=user, project_id=3, occurred_at=now, project_name="n" * size
        )
        return event.SerializeToString()

    messages = [big(f"big-{n}", n % 5 + 1, 100_000) for n in range(30)]
    messages.insert(10, big("huge", 9, 400_000))
    # An ack wait far past a batch's time even on a loaded machine: a redelivery would count a
    # message twice in the batch sizes (the boards stay exact either way; this is about sizes).
    consumer = spawn_consumer(CONSUMER_FETCH_MAX_BYTES=str(300_000), CONSUMER_BATCH_SIZE="1000", CONSUMER_ACK_WAIT="60")
    wait_for(lambda: "restored" in consumer.output(), message="the consumer to start")
    publish(messages)
    wait_until_drained(nats_names, processes=[consumer])
    assert_messages_exact(redis_client, messages)
    sizes = [int(n) for n in re.findall(r"batch seq=\S+ received=(\d+)", consumer.output())]
    assert sum(sizes) == len(messages) and max(sizes) <= 3


def test_thousands_of_valid_events_mixed_with_every_poison_kind(redis_client, nats_names, spawn_consumer):
    """Every edge message of tests/edge_values.py scattered among 3,000 valid events, through a
    real consumer: it never exits, every invalid message is a dead letter with decode's reason,
    every valid event is on exact boards, and the four commands succeed on the log."""
    messages = wire_events(3000, seed=71, prefix="mixed-")
    rng = random.Random(72)
    for _, data in edge_messages("mixed"):
        messages.insert(rng.randrange(len(messages) + 1), data)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="200")
    publish(messages)
    wait_until_drained(nats_names, timeout=120, processes=[consumer])

    events = valid_events(messages)
    assert redis_boards_state(redis_client) == expected_boards(events)
    assert ContributionEvent.objects.count() == len(events)
    assert not ContributionEvent.objects.unapplied().exists()
    reasons = []
    for data in messages:
        try:
            decode(data)
        except InvalidEvent as exc:
            reasons.append(str(exc))
    assert sorted(DeadLetter.objects.values_list("reason", flat=True)) == sorted(reasons)
    out = io.StringIO()
    for command in ("snapshot_leaderboards", "restore_leaderboards", "rebuild_leaderboards", "verify_leaderboards"):
        call_command(command, stdout=out)
        assert redis_boards_state(redis_client) == expected_boards(events), command
    assert consumer.proc.poll() is None
    consumer.proc.send_signal(signal.SIGTERM)
    assert consumer.wait(15) == 0
