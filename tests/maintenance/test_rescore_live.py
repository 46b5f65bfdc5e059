"""A rescore and a rollback while two real consumers run and events stream in, one consumer
SIGKILLed during the rescore; a consumer whose settings differ from the active version refuses
to start; a rescore killed at each of its crash points, then run again. After each step every
board equals the independent oracle (tests/oracle.py, from the raw messages and the table) and
`verify_leaderboards` agrees (SPEC section 10)."""

from __future__ import annotations

import signal
import subprocess

import pytest

from scoring import faults
from scoring.faults import RESCORE_CRASH_POINTS
from scoring.maintenance.rescore import rules_rescore
from scoring.maintenance.restore import boards_restore
from scoring.models import ContributionEvent, RulesVersion
from scoring.redis_boards import READY_KEY
from tests.builders import generate, publish
from tests.clock import manage
from tests.fixtures import ROOT, assert_messages_exact, consumer_env, started, wait_for, wait_until_drained
from tests.oracle import bots, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STREAM = {"users": 30, "bots": 2}
# Rows changed in both directions: worth more, less, nothing, and something instead of nothing.
NEW = {"push_per_commit": 2, "push_max_commits": 4, "pull_request_merged": 7, "issue_commented": 0, "review_other": 3}
NEW_ENV = {f"SCORING_{row.upper()}": str(points) for row, points in NEW.items()}
RULES_MISMATCH_EXIT = 78


def test_rescore_and_rollback_while_two_consumers_run_one_killed(redis_client, nats_names, spawn_consumer, settings):
    messages = generate(4500, seed=21, **STREAM)
    first, second, third = messages[:1500], messages[1500:3000], messages[3000:]
    the_bots = bots(valid_events(messages))
    consumers = [spawn_consumer(CONSUMER_BATCH_SIZE="100"), spawn_consumer(CONSUMER_BATCH_SIZE="100")]
    publish(first)
    wait_until_drained(nats_names, processes=consumers)
    assert_messages_exact(redis_client, first, excluded=the_bots)

    # The operator changes the table and rescores; events keep coming; one consumer dies.
    settings.SCORING = {**settings.SCORING, **NEW}
    streaming = started(publish, second, rate=500)
    seen: dict[str, object] = {}

    def kill_a_consumer() -> None:
        if "killed" not in seen:
            seen["streaming"] = streaming.is_alive()
            consumers[0].proc.kill()
            seen["killed"] = consumers[0].wait(10)

    with faults.hooked("rescore_after_chunk", kill_a_consumer):
        result = rules_rescore(chunk=300)
    assert seen == {"streaming": True, "killed": -signal.SIGKILL}  # the kill happened, mid-rescore, mid-stream
    assert (result.target, result.previous, result.created) == (2, 1, True)
    streaming.join()
    survivor = consumers[1]  # it kept its old settings, and scores by version 2 without a restart
    wait_until_drained(nats_names, processes=[survivor])
    assert_messages_exact(redis_client, first + second, excluded=the_bots, table=NEW)
    assert set(ContributionEvent.objects.values_list("rules_version", flat=True)) == {2}

    # The killed consumer, started again with the old settings, refuses; with the new ones it runs.
    refused = spawn_consumer()
    assert refused.wait(60) == RULES_MISMATCH_EXIT
    message = refused.output()
    assert "the scoring settings differ from the active rules version 2" in message
    assert "SCORING_PUSH_PER_COMMIT (yaml scoring.push_per_commit) is 1 in the settings, 2 in version 2" in message
    assert "manage.py rescore_leaderboards" in message
    consumers[0] = spawn_consumer(CONSUMER_BATCH_SIZE="100", **NEW_ENV)
    wait_for(lambda: "scoring by rules version 2" in consumers[0].output(), message="the restarted consumer's check")

    # Roll back to version 1 while events stream in.
    streaming = started(publish, third, rate=500)
    with faults.hooked("rescore_before_switch", lambda: seen.update(rollback_streaming=streaming.is_alive())):
        back = rules_rescore(to=1, chunk=300)
    assert seen["rollback_streaming"]
    assert (back.target, back.previous, back.created) == (1, 2, False)
    streaming.join()
    wait_until_drained(nats_names, processes=consumers)
    assert_messages_exact(redis_client, messages, excluded=the_bots)
    assert list(RulesVersion.objects.order_by("number").values_list("number", "active")) == [(1, True), (2, False)]
    for consumer in consumers:
        consumer.proc.send_signal(signal.SIGTERM)
        assert consumer.wait(15) == 0, consumer.output()[-2000:]


def _rescore_process(nats_names: dict[str, str], **env: str) -> subprocess.CompletedProcess:
    """`manage.py rescore_leaderboards` in a process of its own (at the test's clock)."""
    return subprocess.run(
        manage("rescore_leaderboards", "--chunk", "200", "--skip-checks"),
        env=consumer_env(nats_names, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("point", [f"{RESCORE_CRASH_POINTS[0]}:2", *RESCORE_CRASH_POINTS[1:]])
def test_a_rescore_killed_at_each_crash_point_leaves_exact_boards_and_a_rerun_completes(
    point, redis_client, nats_names, spawn_consumer, settings
):
    messages = generate(1500, seed=22, **STREAM)
    the_bots = bots(valid_events(messages))
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    publish(messages)
    wait_until_drained(nats_names, processes=[consumer])
    consumer.proc.send_signal(signal.SIGTERM)
    assert consumer.wait(15) == 0

    killed = _rescore_process(nats_names, CONSUMER_CRASH_AT=point, **NEW_ENV)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr  # the crash happened there
    versions = set(ContributionEvent.objects.values_list("rules_version", flat=True))
    # Killed in the bulk, the log is partly moved (its live points still version 1's); later, all of it.
    assert versions == ({1, 2} if point.startswith("rescore_after_chunk") else {2})
    switched = point == "rescore_before_swap"
    assert RulesVersion.objects.get(active=True).number == (2 if switched else 1)
    # Killed after the sentinel went aside, no consumer applies until the boards are restored.
    paused = point in ("rescore_before_commit", "rescore_before_swap")
    assert redis_client.exists(READY_KEY) == (not paused)
    # What a consumer does next: restore the boards unless they are the last swap's.
    assert boards_restore(only_if_missing=True).restored == paused
    assert_messages_exact(redis_client, messages, excluded=the_bots, table=NEW if switched else None)

    settings.SCORING = {**settings.SCORING, **NEW}
    again = rules_rescore(chunk=200)
    assert again.target == 2 and not again.created  # the version the killed run recorded
    assert again.switched != switched  # after a committed switch there is nothing left to do
    assert_messages_exact(redis_client, messages, excluded=the_bots, table=NEW)
