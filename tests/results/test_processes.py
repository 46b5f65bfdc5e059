"""Period results with real consumer processes (issue 22's judgement, end to end): events
published across several closed days, weeks and months with a short grace; two consumers, one
SIGKILLed mid-way; a late event after finalizing; a webhook receiver that fails its first
attempts and a Slack-shaped one. The results must equal the oracle's boards as they stood
(tests/oracle.py, tests/results/expected.py: no service code), each receiver must get each
result under one Idempotency-Key, and every webhook signature must verify.

A consumer process runs at the instant the test's clock had when it was started (docs/TESTING.md,
"The clock"), frozen: a retry due 10 s after a failed attempt is sent by a consumer started an
hour later, the way a consumer running an hour on would send it.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import signal
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build
from scoring.models import ContributionEvent
from scoring.results.models import Delivery, PeriodResult
from tests.builders import publish
from tests.clock import START
from tests.fixtures import wait_for, wait_until_drained
from tests.oracle import expected_boards, period_ends, periods, valid_events
from tests.results.expected import expected_results, recorded_results
from tests.results.receivers import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GRACE = 60
SECRET = "process-secret"
USERS = [3, 42, 1000, 2**53 + 1, 2**64 - 1, 7, 8]
PROJECTS = [1, 7, 2**32 + 3]


def _month_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def event_days() -> list[date]:
    """Days in the two months before START's, the days just before START (closed days of an
    open week and month), and START's own day (open)."""
    first = _month_back(START.date(), 2)
    spread = [first + timedelta(days=d) for d in (0, 1, 6, 13, 27, 33, 40, 50)]
    recent = [START.date() - timedelta(days=d) for d in (1, 2)]
    return sorted({d for d in [*spread, *recent, START.date()] if d <= START.date()})


def messages_of(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    days = event_days()
    messages = []
    for n in range(count):
        day = rng.choice(days)
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 86399))
        if day == START.date():
            at = min(at, START - timedelta(seconds=1))
        event = event_build(
            event_id=f"p-{seed}-{n}",
            kind=rng.randint(1, 7),
            user_id=rng.choice(USERS),
            project_id=rng.choice(PROJECTS),
            occurred_at=at,
            merged=rng.random() < 0.7,
            review_state=rng.choice([pb.APPROVED, pb.CHANGES_REQUESTED, pb.COMMENTED]),
            commits=rng.randint(0, 14),
        )
        messages.append(event.SerializeToString())
    return messages


def period_end(timeframe: str, moment: datetime) -> datetime:
    """The first instant after the period of `moment` (the oracle's ends; years by hand)."""
    if timeframe == "yearly":
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return period_ends(moment)[timeframe]


def final_periods(events, now: datetime) -> set[tuple[str, str]]:
    """(timeframe, period) of the events whose period ended GRACE seconds before `now`."""
    return {
        (timeframe, periods(e.occurred_at)[timeframe])
        for e in events
        for timeframe in ("yearly", "monthly", "weekly", "daily")
        if period_end(timeframe, e.occurred_at) + timedelta(seconds=GRACE) <= now
    }


def test_results_with_consumers_killed_late_events_and_receivers_that_fail(
    redis_client, nats_names, spawn_consumer, clock
):
    hook, slack = Receiver(statuses=[500, 503, 500]), Receiver()
    try:
        _run(nats_names, spawn_consumer, clock, hook, slack)
    finally:
        hook.close()
        slack.close()


def _run(nats_names, spawn_consumer, clock, hook, slack):
    env = {
        "RESULTS_GRACE_SECONDS": str(GRACE),
        "LEADERBOARD_NOTIFY_URLS": f"webhook={hook.url},slack={slack.url}",
        "LEADERBOARD_NOTIFY_SECRET": SECRET,
        "LEADERBOARD_NOTIFY_TIMEOUT": "2",
        "CONSUMER_BATCH_SIZE": "40",
    }
    messages = messages_of(seed=22, count=1500)
    events = valid_events(messages)
    final = final_periods(events, START)
    assert {t for t, _ in final} >= {"daily", "weekly", "monthly"} and len(final) >= 12

    # Ingest: two consumers whose sweeps are an hour away (so every event is logged before any
    # result is recorded); one SIGKILLed mid-stream, its unacknowledged batches redelivered.
    publish(messages)
    first = spawn_consumer(**env, CONSUMER_SWEEP_INTERVAL="3600")
    second = spawn_consumer(**env, CONSUMER_SWEEP_INTERVAL="3600")
    wait_for(lambda: ContributionEvent.objects.count() > len(events) // 3, timeout=60, message="progress")
    second.kill()
    assert second.proc.returncode == -signal.SIGKILL
    wait_until_drained(nats_names, processes=[first], timeout=120)
    assert ContributionEvent.objects.count() == len(events)
    assert not PeriodResult.objects.exists()

    # Finalize: a consumer with the short sweep records every final board (the first one's
    # sender delivers beside it).
    third = spawn_consumer(**env)
    boards = expected_boards(events, now=START, retention={})
    expected = expected_results(boards, final)
    wait_for(lambda: PeriodResult.objects.count() == len(expected), timeout=60, message="every result recorded")
    assert recorded_results() == expected

    # A late event for a finalized day: logged, counted late, the results as they were.
    day = min(d for t, d in final if t == "daily")
    late_at = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=12)
    late = event_build(event_id="late-1", kind=pb.PUSHED, user_id=3, project_id=7, occurred_at=late_at, commits=10)
    publish([late.SerializeToString()])
    wait_for(
        lambda: PeriodResult.objects.filter(late_events__gt=0).exists(), timeout=30, message="the late event counted"
    )
    late_periods = {(t, p) for t, p in periods(late_at).items() if (t, p) in final}
    counted = {
        (r.timeframe, r.period, int(r.project_id)): r.late_events
        for r in PeriodResult.objects.filter(late_events__gt=0)
    }
    assert counted == {(t, p, scope): 1 for t, p in late_periods for scope in (0, 7)}
    assert recorded_results() == expected  # never rewritten

    # Every delivery tried once (none in flight); then, an hour on, the failed ones are due again.
    wait_for(lambda: not Delivery.objects.filter(attempts=0).exists(), timeout=60, message="every first attempt")
    assert Delivery.objects.exclude(state=Delivery.DELIVERED).count() == 3
    clock.set(START + timedelta(hours=1))
    fourth = spawn_consumer(**env)
    wait_for(
        lambda: not Delivery.objects.exclude(state=Delivery.DELIVERED).exists(),
        timeout=90,
        message="every delivery delivered",
    )
    for consumer in (first, third, fourth):
        assert consumer.proc.poll() is None, consumer.output()[-3000:]

    results = {r.id: r for r in PeriodResult.objects.all()}
    for receiver, kind in ((hook, "webhook"), (slack, "slack")):
        keys = dict(Delivery.objects.filter(kind=kind).values_list("idempotency_key", "result_id"))
        assert sorted(keys.values()) == sorted(results)  # one key per result
        assert set(receiver.kept) == set(keys)  # each result received (a 200), under its key
        assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == set(keys)
        bodies = defaultdict(set)
        for request in receiver.requests:
            bodies[request["headers"]["Idempotency-Key"]].add(request["body"])
        assert all(len(b) == 1 for b in bodies.values())  # every attempt the same bytes
    assert [r["status"] for r in hook.requests[:3]] == [500, 503, 500]
    assert len(hook.requests) == len(results) + 3  # each failed one sent once more, no more
    for request in hook.requests:
        expected_signature = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Leaderboard-Signature-256"] == expected_signature
    for key, document in hook.kept.items():
        result = results[keys_result(key)]
        scope = "global" if not result.project_id else f"project:{result.project_id}"
        board = expected[f"leaderboard:{scope}:{result.timeframe}:{result.period}"]
        assert document["event"] == "period_result.final"
        assert [(r["rank"], r["user_id"], r["score"]) for r in document["result"]["top"]] == [
            (r["rank"], r["user_id"], r["score"]) for r in board["top"]
        ]
        assert (document["result"]["members"], document["result"]["total_points"]) == (
            board["members"],
            board["total_points"],
        )
    assert all(set(document) == {"text"} and document["text"] for document in slack.kept.values())
    assert len(slack.requests) == len(results)  # the Slack-shaped one never failed: one POST each


def keys_result(key: str) -> int:
    """The result id an Idempotency-Key names (`result-<id>-<target>`)."""
    return int(key.split("-")[1])
