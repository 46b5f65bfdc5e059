"""The outbox and its sender against real local receivers: down, slow past the timeout, 500
for a while, 4xx, 429; the same Idempotency-Key on every attempt; the webhook's signature;
Slack's and Discord's JSON; every attempt recorded."""

import hashlib
import hmac
import json
import socket
from datetime import timedelta

import pytest

from notify.sender import deliveries_send
from scoring import ingest
from scoring.boards import midnight
from scoring.results.finalize import results_finalize
from scoring.results.models import Delivery, DeliveryAttempt, NotificationTarget, PeriodResult
from tests.builders import pushes
from tests.clock import START
from tests.results.receivers import Receiver

pytestmark = pytest.mark.usefixtures("ready_boards")
TODAY = midnight(START.date())
YESTERDAY = TODAY - timedelta(days=1)
SECRET = "s3cret"


@pytest.fixture
def receivers():
    made = []

    def make(**options):
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def finalize(settings, clock, *targets, timeframes=("daily",), project_ids=(0,)):
    settings.RESULTS_GRACE_SECONDS = 0
    settings.LEADERBOARD_NOTIFY_SECRET = SECRET
    settings.LEADERBOARD_NOTIFY_TIMEOUT = 0.5
    for kind, url in targets:
        NotificationTarget.objects.create(
            kind=kind, url=url, timeframes=list(timeframes), project_ids=list(project_ids)
        )
    ingest.batch_ingest(contributions=[*pushes("a", 1, 12, YESTERDAY, project=7), *pushes("b", 2, 30, YESTERDAY)])
    results_finalize(now=clock.now())
    return PeriodResult.objects.get(timeframe="daily", project_id=0)


def send_until_done(clock, rounds=20):
    for _ in range(rounds):
        deliveries_send(now=clock.now())
        if not Delivery.objects.filter(state=Delivery.PENDING).exists():
            return
        clock.advance(hours=1)  # past any backoff


def test_a_webhook_gets_the_signed_result_and_slack_and_discord_their_messages(settings, clock, receivers):
    hook, slack, discord = receivers(), receivers(), receivers()
    result = finalize(settings, clock, ("webhook", hook.url), ("slack", slack.url), ("discord", discord.url))
    deliveries_send(now=clock.now())
    [request] = hook.requests
    body = request["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert request["headers"]["X-Leaderboard-Signature-256"] == expected
    assert (
        request["headers"]["Idempotency-Key"]
        == f"result-{result.id}-t{NotificationTarget.objects.get(kind='webhook').id}"
    )
    document = json.loads(body)
    assert document["event"] == "period_result.final"
    assert {
        k: document["result"][k] for k in ("id", "timeframe", "period", "project_id", "members", "total_points")
    } == {
        "id": result.id,
        "timeframe": "daily",
        "period": YESTERDAY.date().isoformat(),
        "project_id": None,
        "members": 2,
        "total_points": 42,
    }
    assert [(r["rank"], r["user_id"], r["score"]) for r in document["result"]["top"]] == [(1, "2", 30), (2, "1", 12)]
    text = json.loads(slack.requests[0]["body"])["text"]
    assert text.startswith(f"Global daily results for {YESTERDAY.date().isoformat()}: #1 #2 (30), #2 #1 (12)")
    assert "http://localhost:8000/?timeframe=daily&period=" in text and text.endswith("/results")
    assert json.loads(discord.requests[0]["body"])["content"] == text
    assert "X-Leaderboard-Signature-256" not in slack.requests[0]["headers"]
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_a_receiver_failing_every_way_gets_the_result_once_with_one_key(settings, clock, receivers):
    flaky = receivers(statuses=[500, 500, 429, 503])
    with socket.socket() as held:  # a port bound and never listening: the receiver is down
        held.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{held.getsockname()[1]}/hook"
        finalize(settings, clock, ("webhook", flaky.url), ("webhook", down_url))
        deliveries_send(now=clock.now())
        down = Delivery.objects.get(url=down_url)
        assert (down.state, down.attempts) == ("pending", 1)
        assert down.next_attempt_at == clock.now() + timedelta(seconds=10)
    send_until_done(clock)
    delivered = Delivery.objects.get(url=flaky.url)
    assert (delivered.state, delivered.attempts) == ("delivered", 5)
    assert len({r["headers"]["Idempotency-Key"] for r in flaky.requests}) == 1
    assert len({r["body"] for r in flaky.requests}) == 1  # the same bytes every time
    assert len(flaky.kept) == 1
    outcomes = list(
        DeliveryAttempt.objects.filter(delivery=delivered)
        .order_by("started_at", "id")
        .values_list("status_code", "outcome")
    )
    assert outcomes == [(500, "retry"), (500, "retry"), (429, "retry"), (503, "retry"), (200, "delivered")]


def test_a_slow_receiver_is_retried_and_a_4xx_stops_it(settings, clock, receivers):
    slow, refusing = receivers(delay=1.0), receivers(statuses=[410])
    finalize(settings, clock, ("webhook", slow.url), ("slack", refusing.url))
    deliveries_send(now=clock.now())
    timed_out = Delivery.objects.get(url=slow.url)
    assert timed_out.state == "pending" and "timed out" in timed_out.last_error
    rejected = Delivery.objects.get(url=refusing.url)
    assert (rejected.state, rejected.attempts) == ("rejected", 1)
    slow.delay = 0
    send_until_done(clock)
    assert Delivery.objects.get(url=slow.url).state == "delivered"
    assert len(refusing.requests) == 1
    assert len({r["headers"]["Idempotency-Key"] for r in slow.requests}) == 1
    assert len(slow.kept) == 1  # the timed-out attempt may have reached it too: kept once


def test_retries_stop_24_hours_after_the_result(settings, clock, receivers):
    broken = receivers(statuses=[500] * 100)
    finalize(settings, clock, ("webhook", broken.url))
    send_until_done(clock, rounds=40)
    delivery = Delivery.objects.get()
    assert delivery.state == "expired"
    assert delivery.attempts == len(broken.requests) < 40


def test_targets_from_the_settings_and_the_filters(settings, clock, receivers):
    everything = receivers()
    settings.LEADERBOARD_NOTIFY_URLS = [("webhook", everything.url)]
    finalize(settings, clock, ("slack", "http://127.0.0.1:9/never"), timeframes=("monthly",))
    assert not Delivery.objects.filter(kind="slack").exists()  # a monthly target: no daily result
    send_until_done(clock)
    assert len(everything.kept) == PeriodResult.objects.count()  # every board, every timeframe final


@pytest.mark.parametrize("point", ["delivery_after_claim", "delivery_after_send"])
def test_a_sender_killed_mid_delivery_leaves_it_to_the_next_with_the_same_key(settings, clock, receivers, point):
    from scoring import faults

    hook = receivers()
    finalize(settings, clock, ("webhook", hook.url))

    def die():
        raise SystemExit("killed")

    with faults.hooked(point, die), pytest.raises(SystemExit):
        deliveries_send(now=clock.now())
    assert deliveries_send(now=clock.now()) == {}  # leased: no one else sends it meanwhile
    clock.advance(minutes=1)  # the lease ran out
    assert deliveries_send(now=clock.now()) == {"delivered": 1}
    assert len(hook.requests) == (2 if point == "delivery_after_send" else 1)
    assert len({r["headers"]["Idempotency-Key"] for r in hook.requests}) == 1 and len(hook.kept) == 1


def test_every_result_is_announced_unless_the_operator_limits_its_age(settings, clock, receivers):
    hook = receivers()
    finalize(settings, clock, ("webhook", hook.url))
    assert Delivery.objects.count() == 1  # final a day ago (or more): announced all the same
    settings.RESULTS_ANNOUNCE_MAX_AGE_DAYS = 1
    old = YESTERDAY - timedelta(days=5)
    ingest.batch_ingest(contributions=pushes("old", 5, 9, old))
    done = results_finalize(now=clock.now())
    # that day's global and project result (and its week's, when that week has ended since the
    # last finalize: a test run on a Monday): recorded, not announced
    days = PeriodResult.objects.filter(timeframe="daily", period=old.date().isoformat())
    assert sorted(int(r.project_id) for r in days) == [0, 7]
    assert done.results >= 2 and done.deliveries == 0
    assert Delivery.objects.count() == 1


def test_the_results_metrics_count_what_happened(settings, clock, receivers):
    from notify.sender import undelivered_age
    from scoring.metrics import REGISTRY
    from scoring.results.services import results_sweep

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    recorded = sample("leaderboard_consumer_results_recorded_total")
    outcomes = {o: sample("leaderboard_consumer_result_deliveries_total", outcome=o) for o in ("delivered", "retry")}
    hook = receivers(statuses=[500])
    settings.RESULTS_GRACE_SECONDS = 0
    NotificationTarget.objects.create(kind="webhook", url=hook.url, timeframes=["daily"], project_ids=[0])
    ingest.batch_ingest(contributions=pushes("m", 1, 4, YESTERDAY))
    done = results_sweep()
    assert sample("leaderboard_consumer_results_recorded_total") - recorded == done.results >= 2
    assert undelivered_age(clock.now()) == 0.0  # queued just now
    clock.advance(seconds=90)
    assert undelivered_age(clock.now()) == 90.0
    deliveries_send(now=clock.now())  # a 500: retried later
    clock.advance(hours=1)
    deliveries_send(now=clock.now())
    assert {
        o: sample("leaderboard_consumer_result_deliveries_total", outcome=o) - before for o, before in outcomes.items()
    } == {"delivered": 1, "retry": 1}
    assert undelivered_age(clock.now()) == 0.0  # none pending
