"""Exclusions while real consumers run and events stream in (SPEC section 9): a generated
stream with bot accounts; its top contributor excluded mid-stream, then included again
mid-stream; the boards exact against the independent oracle at every quiet moment."""

import signal
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import clock
from scoring.event_generator import event_build
from scoring.faults import EXCLUSION_CRASH_POINTS
from scoring.models import Contributor
from tests.builders import generate, publish
from tests.fixtures import assert_messages_exact, started, wait_for, wait_until_drained
from tests.oracle import bots, expected_boards, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STREAM = {"users": 30, "bots": 3}  # users 28, 29 and 30 are bots


def top_human(messages: list[bytes]) -> int:
    board = expected_boards(valid_events(messages), excluded=bots(valid_events(messages)))
    scores = Counter({int(user): score for user, score in board["leaderboard:global:all_time:all"].items()})
    return scores.most_common(1)[0][0]


def test_a_top_contributor_excluded_and_included_while_events_stream(redis_client, nats_names, spawn_consumer):
    messages = generate(4500, seed=11, **STREAM)
    first, second, third = messages[:1500], messages[1500:3000], messages[3000:]
    the_bots = bots(valid_events(messages))
    assert the_bots == {28, 29, 30}
    consumers = [spawn_consumer(CONSUMER_BATCH_SIZE="100"), spawn_consumer(CONSUMER_BATCH_SIZE="100")]
    publish(first)
    wait_until_drained(nats_names, processes=consumers)
    assert_messages_exact(redis_client, first, excluded=the_bots)  # bots never reached a board
    top = top_human(first)

    streaming = started(publish, second, rate=600)  # the top contributor keeps scoring meanwhile
    call_command("contributors", "exclude", str(top), "--reason", "cheating", stdout=StringIO())
    assert streaming.is_alive()  # excluded while the stream still ran
    streaming.join()
    wait_until_drained(nats_names, processes=consumers)
    assert_messages_exact(redis_client, first + second, excluded=the_bots | {top})

    streaming = started(publish, third, rate=600)
    call_command("contributors", "include", str(top), stdout=StringIO())
    assert streaming.is_alive()
    streaming.join()
    wait_until_drained(nats_names, processes=consumers)
    assert_messages_exact(redis_client, messages, excluded=the_bots)
    assert not Contributor.objects.filter(boards_dirty=True).exists()
    for consumer in consumers:
        consumer.proc.send_signal(signal.SIGTERM)
        assert consumer.wait(15) == 0, consumer.output()


@pytest.mark.parametrize("point", EXCLUSION_CRASH_POINTS)
def test_a_consumer_killed_while_excluding_a_bot_leaves_the_next_to_finish(
    point, redis_client, nats_names, spawn_consumer
):
    human = [wire(f"h-{n}", 5, "helper", is_bot=False, day=n) for n in range(1, 4)]
    human += [wire("ada-1", 1, "ada", is_bot=False, day=1)]
    first = spawn_consumer()
    publish(human)
    wait_until_drained(nats_names, processes=[first])
    first.proc.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    assert_messages_exact(redis_client, human)

    turned = [wire("h-bot", 5, "helper", is_bot=True, day=0), wire("ada-2", 1, "ada", is_bot=False, day=0)]
    doomed = spawn_consumer(CONSUMER_CRASH_AT=point)
    publish(turned)
    assert doomed.wait(60) == -signal.SIGKILL, doomed.output()
    assert Contributor.objects.get(id=5).boards_dirty  # killed between the two steps
    survivor = spawn_consumer()
    wait_until_drained(nats_names, processes=[survivor])
    wait_for(lambda: not Contributor.objects.filter(boards_dirty=True).exists(), message="the survivor's sync")
    assert_messages_exact(redis_client, human + turned, excluded={5})


def wire(event_id: str, user_id: int, login: str, *, is_bot: bool, day: int) -> bytes:
    at = clock.now() - timedelta(days=day)
    event = event_build(
        event_id=event_id,
        kind=pb.ISSUE_OPENED,
        user_id=user_id,
        project_id=3,
        occurred_at=at,
        login=login,
        is_bot=is_bot,
    )
    return event.SerializeToString()
