"""Exclusions while real consumers run and events stream in (SPEC section 9): a generated
stream with bot accounts; its top contributor excluded mid-stream, then included again
mid-stream; the boards exact against the independent oracle at every quiet moment."""

import signal
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from scoring.models import Contributor
from tests.builders import generate, publish
from tests.fixtures import assert_messages_exact, started, wait_until_drained
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
