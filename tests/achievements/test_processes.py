"""Achievements with real consumer processes: a consumer SIGKILLed at each of the sweep's crash
points (`faults.point`, CONSUMER_CRASH_AT), then two consumers sweeping side by side. Every
achievement is awarded exactly once, with the event the oracle names (tests/achievements/oracle.py),
and every contributor's streaks are the oracle's. A turn that waits for Postgres holds no batch;
a turn waits while a backlog drains."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.db import connection

from scoring.models import Achievement, AchievementsWatermark, ContributionEvent
from scoring.redis_boards.heartbeat import consumer_status
from tests.achievements import oracle
from tests.achievements.events import at, contributions, span, wire
from tests.builders import publish
from tests.clock import START
from tests.fixtures import assert_messages_exact, durable_pending, pg_connect, wait_for, wait_until_drained
from tests.oracle import points

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TODAY = START.date()
# No period becomes final while the test runs: no result, so no first-in achievement to expect.
ENV = {"RESULTS_GRACE_SECONDS": str(10 * 365 * 86400), "CONSUMER_BATCH_SIZE": "25"}


def histories() -> list[bytes]:
    messages = []
    for user, first, length, merged, reviews in [
        (31, TODAY - timedelta(days=40), 8, 12, 11),  # a 7-day streak, 10 merged, 10 reviews
        (32, TODAY - timedelta(days=3), 4, 1, 0),  # alive today, a first merged pull request
        (33, TODAY - timedelta(days=20), 6, 0, 10),  # one day short of a 7-day streak
        (34, TODAY - timedelta(days=9), 2, 0, 0),
    ]:
        days = span(first, first + timedelta(days=length - 1))
        messages += [wire(f"push-{user}-{d}", "push", user, at(d, 8)) for d in days]
        messages += [wire(f"merged-{user}-{n}", "merged", user, at(days[n % length], 9, n)) for n in range(merged)]
        messages += [wire(f"review-{user}-{n}", "review", user, at(days[n % length], 10, n)) for n in range(reviews)]
        messages.append(wire(f"unmerged-{user}", "unmerged", user, at(days[0] - timedelta(days=2), 11)))
    return messages


def expected(events) -> set[tuple[int, str, str]]:
    found = set()
    for user in (31, 32, 33, 34):
        found |= {(user, code, event_id) for code, event_id in oracle.achievements(events, user).items()}
        newest = max((e for e in events if e.user_id == user and points(e) > 0), key=lambda e: e.occurred_at)
        found.add((user, "top_10_all_time", newest.event_id))
    return found


def awarded() -> set[tuple[int, str, str]]:
    return {
        (int(a.user_id), a.code, a.event.event_id)
        for a in Achievement.objects.select_related("event").filter(revoked__isnull=True)
    }


@pytest.mark.parametrize("point", ["achievements_after_award", "achievements_after_commit"])
def test_awarded_once_through_a_crash_and_two_consumers(redis_client, nats_names, spawn_consumer, client, point):
    messages = histories()
    events = contributions(messages)
    want = expected(events)
    assert {code for _, code, _ in want} >= {"streak_7", "merged_pull_requests_10", "reviews_10"}
    publish(messages)

    crashing = spawn_consumer(**ENV, CONSUMER_CRASH_AT=point)
    crashing.wait(timeout=60)
    assert crashing.proc.returncode == -signal.SIGKILL  # the fault happened, at its first sweep
    committed = point == "achievements_after_commit"
    assert AchievementsWatermark.objects.exists() == committed
    assert Achievement.objects.exists() == (committed and ContributionEvent.objects.exists())

    first, second = spawn_consumer(**ENV), spawn_consumer(**ENV)
    wait_until_drained(nats_names, processes=[first, second], timeout=120)
    assert ContributionEvent.objects.count() == len(events)
    wait_for(lambda: len(awarded()) >= len(want), timeout=60, message="every achievement awarded")
    mark = AchievementsWatermark.objects.get().log_snapshot
    wait_for(lambda: AchievementsWatermark.objects.get().log_snapshot != mark, timeout=30, message="another sweep")
    assert awarded() == want
    assert Achievement.objects.count() == len(want)  # once each, none revoked
    for user in (31, 32, 33, 34):
        assert client.get(f"/v1/contributors/{user}").json()["streaks"] == oracle.streaks(events, user, TODAY)
    for consumer in (first, second):
        assert consumer.proc.poll() is None, consumer.output()[-3000:]


def award_turn_waiting() -> bool:
    """Whether a backend waits for a lock on the awards' watermark (a turn's first read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = 'scoring_achievementswatermark'::regclass AND NOT granted"
        )
        return cursor.fetchone()[0] > 0


def heartbeat_seen_at(durable: str) -> float:
    """When the consumers' heartbeat was last written (0 if there is none: it expired)."""
    heartbeat, _ = consumer_status(durable)
    return 0.0 if heartbeat is None else heartbeat.seen_at


def test_a_waiting_award_turn_holds_no_batch(redis_client, nats_names, spawn_consumer, client):
    """The awards run on a thread of their own: while a turn waits for Postgres, the batches are
    applied and the heartbeat (written between the main loop's batches) stays fresh; the turn
    ends once Postgres lets it, and awards exactly what the oracle says."""
    # Applied before the lock, so that the consumer is up and its turns under way; then all of the
    # histories reach one turn together, as the oracle has them.
    opening = [wire("opening-99", "push", 99, at(TODAY - timedelta(days=60), 8))]
    messages = histories()
    events = contributions(messages)
    want = expected(events)
    consumer = spawn_consumer(**ENV, ACHIEVEMENTS_SWEEP_INTERVAL="0.1")
    publish(opening)
    wait_until_drained(nats_names, processes=[consumer])
    durable = nats_names["NATS_DURABLE"]
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_achievementswatermark IN ACCESS EXCLUSIVE MODE")
        wait_for(award_turn_waiting, message="an award turn to wait on the lock")  # the fault is on
        waiting_since = time.time()
        publish(messages)
        wait_until_drained(nats_names, processes=[consumer])
        assert ContributionEvent.objects.count() == len(events) + 1
        wait_for(
            lambda: heartbeat_seen_at(durable) > waiting_since + 2,
            message="a heartbeat written 2 s into the turn's wait",
        )
        assert award_turn_waiting()  # still waiting: all of the above happened beside it
        locker.rollback()
    wait_for(
        lambda: {award for award in awarded() if award[0] != 99} == want,
        timeout=60,
        message="the awards once the turn goes on",
    )
    assert Achievement.objects.exclude(user_id=99).count() == len(want)  # once each
    assert_messages_exact(redis_client, opening + messages)
    assert consumer.proc.poll() is None, consumer.output()[-3000:]


def watermark() -> str | None:
    """The awards' watermark (a txid snapshot: every turn writes a new one), None before any."""
    return AchievementsWatermark.objects.values_list("log_snapshot", flat=True).first()


def test_a_due_award_turn_waits_while_a_backlog_drains(redis_client, nats_names, spawn_consumer):
    """While a full batch or more waits on the durable, a due turn yields to the batches (on two
    cores its CPU would come out of the drain); once the backlog is gone, the turns go on."""
    opening = [wire("opening-99", "push", 99, at(TODAY - timedelta(days=60), 8))]
    consumer = spawn_consumer(**ENV, ACHIEVEMENTS_SWEEP_INTERVAL="0.1")
    publish(opening)
    wait_until_drained(nats_names, processes=[consumer])
    wait_for(lambda: watermark() is not None, message="a first turn")
    seen = watermark()
    wait_for(lambda: watermark() != seen, message="turns every 0.1 s while nothing waits")

    backlog = [wire(f"push-40-{n}", "push", 40, at(TODAY - timedelta(days=1), 8, n % 60)) for n in range(300)]
    with pg_connect() as locker:
        locker.execute("LOCK TABLE scoring_contributionevent IN EXCLUSIVE MODE")  # the batches stall
        publish(backlog)
        time.sleep(1.5)  # the consumer reads the durable's counts every second
        assert durable_pending(nats_names) >= 25  # the fault is on: more than a batch waits
        held = watermark()
        time.sleep(2)  # twenty turns due meanwhile
        assert watermark() == held
        assert ContributionEvent.objects.count() == 1  # the stall held: nothing more was logged
        locker.rollback()
    wait_until_drained(nats_names, processes=[consumer])
    wait_for(lambda: watermark() != held, message="a turn once the backlog is gone")
    assert ContributionEvent.objects.count() == 1 + len(backlog)
    assert_messages_exact(redis_client, opening + backlog)
    assert consumer.proc.poll() is None, consumer.output()[-3000:]
