"""Recovery with real consumer processes: Redis emptied under them, in-flight events, two
consumers restoring at once, a rebuild while events flow. Each ends with exact boards."""

from __future__ import annotations

import io
import re
import signal
import threading
import time
from itertools import pairwise

import pytest
from django.core.management import call_command

from scoring import faults, redis_boards
from scoring.event_generator import events_publish
from scoring.maintenance.restore import RESTORE_LOCK, boards_restore
from scoring.models import ContributionEvent
from scoring.redis_boards import PENDING_KEY
from snapshots.models import Snapshot
from tests.builders import wire_events
from tests.fixtures import Background, advisory_waiters, started, wait_for, wait_until_drained
from tests.oracle import expected_boards, points, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
RESTORED = "leaderboard.snapshots restored"
# What a consumer says when it meets the boards without their sentinel (busy, or idle).
NOT_READY = re.compile(r"boards are not ready: restoring before applying|the boards are gone from Redis")


def publish(messages: list[bytes], rate: float = 0.0) -> None:
    assert events_publish(iter(messages), rate=rate) == len(messages)


def publishing(messages: list[bytes], rate: float) -> Background:
    """Publish in the background; joining it fails the test if the publishing failed."""
    return started(publish, messages, rate)


def logged() -> int:
    return ContributionEvent.objects.count()


def scored(messages: list[bytes]) -> int:
    return sum(1 for c in valid_events(messages) if points(c) > 0)


def stop(*consumers) -> None:
    for consumer in consumers:
        consumer.proc.send_signal(signal.SIGTERM)
    for consumer in consumers:
        assert consumer.wait(20) == 0, consumer.output()[-3000:]


def test_redis_emptied_again_and_again_under_a_running_consumer(
    redis_client, nats_names, spawn_consumer, flush_redis, assert_exact
):
    messages = wire_events(3000, seed=60)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="50")
    publisher = publishing(messages, rate=1500)
    for round_ in range(3):
        floor = logged()
        wait_for(lambda floor=floor: logged() > floor + 400, timeout=30, message=f"progress before flush {round_}")
        flush_redis()
    publisher.join(60)
    wait_until_drained(nats_names, processes=[consumer])
    assert_exact(valid_events(messages))
    assert consumer.output().count(RESTORED) >= 4  # at start, then after each FLUSHDB
    stop(consumer)


def test_redis_emptied_while_a_killed_consumers_batch_is_in_flight(
    redis_client, nats_names, spawn_consumer, flush_redis, assert_exact
):
    """The batch is on the boards and marked, its log rows not yet applied, when the consumer
    dies; then Redis is emptied too. The next consumer restores it (counted and marked), and
    the redelivery of the batch adds nothing."""
    messages = wire_events(600, seed=61)
    publish(messages)
    doomed = spawn_consumer(CONSUMER_CRASH_AT="after_redis_apply:2", CONSUMER_BATCH_SIZE="100")
    assert doomed.wait(60) == -signal.SIGKILL, doomed.output()
    unapplied = set(ContributionEvent.objects.unapplied().filter(points__gt=0).values_list("event_id", flat=True))
    marked = set(redis_client.hkeys(PENDING_KEY))
    assert marked & unapplied  # on the boards and marked, not applied in the log
    flush_redis()
    survivor = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    wait_until_drained(nats_names, processes=[survivor])
    assert_exact(valid_events(messages))
    restores = [line for line in survivor.output().splitlines() if RESTORED in line]
    assert len(restores) == 1, survivor.output()
    wait_for(lambda: redis_client.hlen(PENDING_KEY) == 0, timeout=10, message="the markers to be cleared")
    stop(survivor)


def test_two_consumers_starting_on_an_empty_redis_restore_once(
    redis_client, nats_names, spawn_consumer, flush_redis, pg_session, assert_exact, client
):
    """Events, a snapshot, more events, Redis emptied, two consumers started at once: both
    queue on the restore lock, exactly one restores (from the snapshot plus what followed it),
    the other finds the boards there; the API then serves what the log says."""
    first, second, third = (wire_events(n, seed=s, prefix=f"{s}-") for n, s in ((800, 62), (400, 63), (300, 64)))
    consumer = spawn_consumer()
    publish(first)
    wait_until_drained(nats_names, processes=[consumer])
    call_command("snapshot_leaderboards", stdout=io.StringIO())
    snapshot = Snapshot.objects.get()
    publish(second)
    wait_until_drained(nats_names, processes=[consumer])
    stop(consumer)
    flush_redis()

    holder = pg_session()
    holder.execute("SELECT pg_advisory_lock(%s)", [RESTORE_LOCK])  # hold both at the door
    both = [spawn_consumer(), spawn_consumer()]
    wait_for(lambda: advisory_waiters(RESTORE_LOCK) == 2, timeout=30, message="both consumers at the restore lock")
    holder.execute("SELECT pg_advisory_unlock(%s)", [RESTORE_LOCK])
    wait_for(lambda: redis_boards.is_ready(), timeout=30, message="the boards to be restored")
    publish(third)
    wait_until_drained(nats_names, processes=both)
    stop(*both)

    restores = [line for consumer in both for line in consumer.output().splitlines() if RESTORED in line]
    assert len(restores) == 1, restores
    assert f"from snapshot {snapshot.id} + {scored(second)} events" in restores[0]
    events = valid_events(first + second + third)
    assert_exact(events)
    expected = expected_boards(events)
    page = client.get("/v1/leaderboard/public", {"timeframe": "all_time", "limit": 1000}).json()
    assert {row["user_id"]: row["score"] for row in page["results"]} == expected["leaderboard:global:all_time:all"]


def test_rebuild_while_a_consumer_runs_and_events_flow(redis_client, nats_names, spawn_consumer, assert_exact):
    """Readers never see a board shrink (scores only grow, so a shrink would be an empty or a
    half-built board), and the boards are exact afterwards."""
    messages = wire_events(3000, seed=65)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="50")
    totals: list[int] = []
    reading = threading.Event()
    reading.set()

    def read() -> None:
        while reading.is_set():
            members = redis_client.zrange("leaderboard:global:all_time:all", 0, -1, withscores=True)
            totals.append(int(sum(score for _, score in members)))
            time.sleep(0.002)

    reader = started(read)
    publisher = publishing(messages, rate=1500)

    def consumer_paused(before: int) -> None:
        """A slow build: hold the swap until the consumer has met the missing sentinel."""
        wait_for(lambda: len(NOT_READY.findall(consumer.output())) > before, message="the consumer to meet the pause")

    try:
        for round_ in range(3):
            floor = logged()
            wait_for(
                lambda floor=floor: logged() > floor + 400, timeout=30, message=f"progress before rebuild {round_}"
            )
            if round_ == 0:
                out = io.StringIO()
                call_command("rebuild_leaderboards", stdout=out)
                assert out.getvalue().splitlines()[-1].startswith("rebuilt ")
            else:  # the consumer meets the missing sentinel and waits for the swap
                paused_before = len(NOT_READY.findall(consumer.output()))
                with faults.hooked("restore_before_swap", lambda n=paused_before: consumer_paused(n)):
                    boards_restore(use_snapshot=False)
        publisher.join(60)
        wait_until_drained(nats_names, processes=[consumer])
    finally:
        reading.clear()
        reader.join(10)  # re-raises what the reader met
    assert_exact(valid_events(messages))
    assert len(totals) > 100
    assert all(later >= earlier for earlier, later in pairwise(totals)), "a board shrank"
    stop(consumer)
