"""verify_leaderboards: each kind of difference is found, printed, and makes the exit non-zero."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.management import CommandError, call_command

from scoring.maintenance.verify import Difference, boards_verify
from tests.builders import contributions
from tests.clock import manage
from tests.fixtures import ROOT, consumer_env
from tests.oracle import expected_boards

pytestmark = pytest.mark.django_db(transaction=True)

BOARD = "leaderboard:global:all_time:all"
STRANGER = "leaderboard:project:31337:daily:2026-11-29"


def tamper(kind: str, client, expected) -> tuple[Difference, str]:
    """Spoil Redis one way; return the difference verify must report and the line it prints."""
    user, score = sorted(expected[BOARD].items())[0]
    if kind == "tampered score":
        client.zincrby(BOARD, 7, user)
        return Difference(BOARD, user, score + 7, score), f"DIFF {BOARD} user {user}: redis={score + 7} log={score}"
    if kind == "missing member":
        client.zrem(BOARD, user)
        return Difference(BOARD, user, None, score), f"DIFF {BOARD} user {user}: redis=- log={score}"
    if kind == "extra member":
        client.zadd(BOARD, {"999999": 3})
        return Difference(BOARD, "999999", 3, None), f"DIFF {BOARD} user 999999: redis=3 log=-"
    if kind == "missing board":
        client.delete(BOARD)
        members = len(expected[BOARD])
        return Difference(BOARD, None, None, members), f"DIFF {BOARD}: missing from Redis (log: {members} members)"
    assert kind == "extra board"
    client.zadd(STRANGER, {"1": 1})
    return Difference(STRANGER, None, 1, None), f"DIFF {STRANGER}: not in the log (redis: 1 members)"


@pytest.mark.parametrize("kind", ["tampered score", "missing member", "extra member", "missing board", "extra board"])
def test_each_difference_is_reported_and_fails_the_command(kind, ready_boards, ingest, redis_client):
    events = contributions(200, seed=50)
    ingest(events)
    expected = expected_boards(events)
    assert boards_verify().ok
    difference, line = tamper(kind, redis_client, expected)
    assert boards_verify().differences == [difference]
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_leaderboards", stdout=out)
    assert raised.value.returncode == 1
    assert out.getvalue().splitlines() == [line]
    members = sum(len(m) for m in expected.values())
    assert str(raised.value) == f"{len(expected)} boards, {members} members checked, 1 differences"


def test_the_exit_code_of_the_process(ready_boards, ingest, redis_client):
    events = contributions(100, seed=51)
    ingest(events)
    command = manage("verify_leaderboards")
    env = consumer_env({})
    ok = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1].startswith("OK: ")
    tamper("tampered score", redis_client, expected_boards(events))
    bad = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"DIFF {BOARD} user ")
    assert bad.stderr.splitlines()[-1].endswith("1 differences")
