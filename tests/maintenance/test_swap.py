"""What a restore or rebuild promises about the boards it swaps in, and snapshots that overlap:
expiry kept, stale boards removed, a board lost mid-build built again, one snapshot at a time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from scoring import faults
from scoring.maintenance.restore import boards_restore
from snapshots.services import snapshot_take
from tests.builders import contributions, pushes
from tests.fixtures import wait_for
from tests.oracle import expected_boards, expected_expiry

pytestmark = pytest.mark.django_db(transaction=True)
BUILD_KEYS = "leaderboard:meta:build:*"


def expiry_state(client) -> dict[str, int | None]:
    """{board key: the unix second Redis expires it at (None: never)}."""
    state = {}
    for pattern in ("leaderboard:global:*", "leaderboard:project:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            at = client.execute_command("EXPIRETIME", key)
            state[key] = None if at == -1 else at
    return state


def test_every_board_expires_when_its_retention_ends_after_apply_restore_and_rebuild(
    ready_boards, ingest, flush_redis, redis_client
):
    events = contributions(300, seed=70)
    ingest(events)
    expected = expected_expiry(events)
    assert any(at is not None for at in expected.values()) and any(at is None for at in expected.values())
    assert expiry_state(redis_client) == expected  # as the apply script set it
    snapshot_take()
    flush_redis()
    assert boards_restore().snapshot_id is not None
    assert expiry_state(redis_client) == expected  # restored from the snapshot
    flush_redis()
    call_command("rebuild_leaderboards", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert expiry_state(redis_client) == expected  # rebuilt from the log


@pytest.mark.parametrize("use_snapshot", [True, False])
def test_the_swap_removes_boards_the_log_does_not_hold(use_snapshot, ready_boards, ingest, redis_client, assert_exact):
    events = contributions(200, seed=71)
    ingest(events)
    snapshot_take()
    stale = ["leaderboard:project:999:daily:2020-01-01", "leaderboard:global:weekly:2019-W07"]
    for key in stale:
        redis_client.zadd(key, {"5": 7})
    some_board = next(iter(expected_boards(events)))
    redis_client.zadd(some_board, {"123456789": 1})  # a stray member on a real board
    boards_restore(use_snapshot=use_snapshot)
    assert not any(redis_client.exists(key) for key in stale)
    assert redis_client.zscore(some_board, "123456789") is None
    assert_exact(events)


def _lose_one_built_board(redis_client) -> str:
    """Let one board built aside expire now, as a board whose retention ends mid-build does."""
    key = next(redis_client.scan_iter(match=BUILD_KEYS, count=1000))
    redis_client.pexpire(key, 1)
    wait_for(lambda: not redis_client.exists(key), timeout=5, message="the built board to expire")
    return key


@pytest.mark.parametrize("when", ["before the catch-up", "before the swap"])
def test_a_board_that_expires_during_a_build_is_built_again(
    when, ready_boards, ingest, flush_redis, redis_client, assert_exact, caplog
):
    """Found by the member count after the catch-up (BuildLost) or, later, by the swap's RENAME:
    either way the sentinel goes and the build runs again; the boards end exact."""
    events = contributions(200, seed=72)
    ingest(events)
    flush_redis()
    lost: list[str] = []

    def progress(line: str) -> None:
        if when == "before the catch-up" and "built aside" in line and not lost:
            lost.append(_lose_one_built_board(redis_client))

    def before_swap() -> None:
        lost.append(_lose_one_built_board(redis_client))

    with caplog.at_level(logging.WARNING, logger="leaderboard.snapshots"):
        if when == "before the swap":
            with faults.hooked("restore_before_swap", before_swap):
                boards_restore(use_snapshot=False)
        else:
            boards_restore(use_snapshot=False, progress=progress)
    assert len(lost) == 1
    rebuilt = [r.getMessage() for r in caplog.records if "built boards were lost" in r.getMessage()]
    assert len(rebuilt) == 1, caplog.text
    assert ("holds 0 of the" in rebuilt[0]) is (when == "before the catch-up")
    assert list(redis_client.scan_iter(match=BUILD_KEYS)) == []
    assert_exact(events)


def test_a_board_whose_retention_ends_during_a_build_is_left_out(
    ingest, flush_redis, redis_client, assert_exact, clock, caplog, ready_boards
):
    """The clock passes a board's expiry while a restore builds it: Redis drops the built copy
    (its EXPIREAT has come), the build notices, and builds again at the new time, without it.

    Here the clock is set into the real past on purpose — to the last second before the real
    last midnight — so that Redis, whose clock is the real one, expires the board at once."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    clock.set(midnight - timedelta(seconds=1))
    dying_day = midnight - timedelta(days=36, hours=-12)  # its daily board expires at `midnight`
    events = pushes("dying", 5, 3, dying_day) + pushes("alive", 6, 4, midnight - timedelta(hours=5))
    ingest(events)
    dying = {f"leaderboard:{scope}:daily:{dying_day:%Y-%m-%d}" for scope in ("global", "project:7")}
    assert dying <= set(expected_boards(events))  # kept, as far as the service can tell
    flush_redis()

    def progress(line: str) -> None:
        if "building boards aside" in line:
            clock.set(midnight + timedelta(seconds=1))  # the build took its `now` a second earlier

    with caplog.at_level(logging.WARNING, logger="leaderboard.snapshots"):
        boards_restore(use_snapshot=False, progress=progress)
    lost = [r.getMessage() for r in caplog.records if "built boards were lost" in r.getMessage()]
    assert len(lost) == 1 and any(key in lost[0] for key in dying), caplog.text
    assert not dying & set(expected_boards(events))  # gone at the new time ...
    assert_exact(events)  # ... and not in Redis, where everything else is exact
