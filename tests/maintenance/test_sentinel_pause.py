"""The swap token and the paused sentinel (real Postgres and Redis): a restore that fails
before its swap gives intact boards their sentinel back, never boards Redis lost meanwhile;
boards whose token is not the last swap's are not current."""

from __future__ import annotations

import pytest
import redis

from scoring import faults, ingest, redis_boards
from scoring.maintenance.restore import boards_current, boards_restore
from scoring.redis_boards import PAUSED_KEY, READY_KEY
from snapshots.models import BoardsSwap
from tests.builders import contributions
from tests.fixtures import boards_flush
from tests.oracle import expected_boards, redis_boards_state

pytestmark = pytest.mark.django_db(transaction=True)


def out_of_memory() -> None:
    raise redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")


def test_a_restore_failing_before_its_swap_gives_the_sentinel_back(ready_boards):
    events = contributions(300, seed=41)
    ingest.batch_ingest(contributions=events)
    token, boards = ready_boards.get(READY_KEY), redis_boards_state(ready_boards)
    with pytest.raises(redis.exceptions.OutOfMemoryError), faults.hooked("restore_before_swap", out_of_memory):
        boards_restore(use_snapshot=False)  # fails with applies paused
    assert ready_boards.get(READY_KEY) == token and not ready_boards.exists(PAUSED_KEY)
    assert redis_boards_state(ready_boards) == boards == expected_boards(events)
    assert list(ready_boards.scan_iter(match="leaderboard:meta:build:*")) == []
    more = contributions(50, seed=42, prefix="more-")
    ingest.batch_ingest(contributions=more)  # applies go on
    assert redis_boards_state(ready_boards) == expected_boards(events + more)


def test_boards_redis_lost_meanwhile_get_no_sentinel_back(ready_boards):
    ingest.batch_ingest(contributions=contributions(100, seed=43))

    def emptied_then_out_of_memory() -> None:
        boards_flush()
        out_of_memory()

    with (
        pytest.raises(redis.exceptions.OutOfMemoryError),
        faults.hooked("restore_before_swap", emptied_then_out_of_memory),
    ):
        boards_restore(use_snapshot=False)
    assert not redis_boards.is_ready()


def test_boards_are_current_only_with_the_last_swaps_token(ready_boards):
    assert boards_current()
    assert BoardsSwap.objects.get().token == ready_boards.get(READY_KEY)
    ready_boards.set(READY_KEY, "a-token-of-an-older-swap")
    assert not boards_current()
    assert boards_restore(only_if_missing=True).restored
    assert boards_current()
    BoardsSwap.objects.all().delete()  # boards swapped in before tokens were kept: adopted
    assert boards_current() and BoardsSwap.objects.get().token == ready_boards.get(READY_KEY)
