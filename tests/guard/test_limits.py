"""The limits' Redis scripts (scoring/redis_boards/limits.py) against the real Redis: a token
bucket, and slots with leases that lapse unless renewed."""

from __future__ import annotations

import time

from scoring import redis_boards
from scoring.redis_boards import SLOT_ALL_FULL, SLOT_CLIENT_FULL, SLOT_HELD


def test_a_bucket_gives_its_burst_then_says_how_long_to_wait(redis_client):
    taken = [redis_boards.bucket_take("requests", "10.0.0.1", rate=1.0, burst=5) for _ in range(6)]
    assert taken[:5] == [0.0] * 5
    assert 0.0 < taken[5] <= 1.0
    # another address has its own bucket; looking takes nothing
    assert redis_boards.bucket_take("requests", "10.0.0.2", rate=1.0, burst=5, take=False) == 0.0
    assert [redis_boards.bucket_take("requests", "10.0.0.2", rate=1.0, burst=5) for _ in range(5)] == [0.0] * 5
    key = "leaderboard:limits:bucket:requests:10.0.0.1"
    assert 0 < redis_client.pttl(key) <= 6000  # gone once it would be full again


def test_a_bucket_refills_at_its_rate(redis_client):
    assert [redis_boards.bucket_take("webhook", "a", rate=50.0, burst=2) for _ in range(2)] == [0.0, 0.0]
    assert redis_boards.bucket_take("webhook", "a", rate=50.0, burst=2) > 0.0
    time.sleep(0.1)  # 5 tokens' worth at 50 a second, capped at the burst of 2
    assert [redis_boards.bucket_take("webhook", "a", rate=50.0, burst=2) for _ in range(2)] == [0.0, 0.0]


def test_slots_per_client_and_in_all(redis_client):
    def acquire(client: str, lease: str) -> int:
        return redis_boards.slot_acquire("streams", client, lease, per_client=3, total=5, lease_ms=60_000)

    assert [acquire("a", f"a{i}") for i in range(4)] == [SLOT_HELD] * 3 + [SLOT_CLIENT_FULL]
    assert [acquire("b", f"b{i}") for i in range(3)] == [SLOT_HELD, SLOT_HELD, SLOT_ALL_FULL]
    redis_boards.slot_release("streams", "a", "a0")
    assert acquire("b", "b9") == SLOT_HELD
    assert redis_client.zcard("leaderboard:limits:slots:streams") == 5
    assert sorted(redis_client.zrange("leaderboard:limits:slots:streams:a", 0, -1)) == ["a1", "a2"]


def test_a_slot_nobody_renews_lapses_and_a_renewed_one_stays(redis_client):
    for lease in ("kept", "lost"):
        assert redis_boards.slot_acquire("streams", "c", lease, per_client=2, total=0, lease_ms=300) == SLOT_HELD
    assert redis_boards.slot_acquire("streams", "c", "third", per_client=2, total=0, lease_ms=300) == SLOT_CLIENT_FULL
    time.sleep(0.15)
    assert redis_boards.slots_renew("streams", [("c", "kept")], lease_ms=60_000) == 1
    time.sleep(0.3)  # "lost" lapsed (its process died, say): its slot is free again
    assert redis_boards.slot_acquire("streams", "c", "third", per_client=2, total=0, lease_ms=300) == SLOT_HELD
    assert sorted(redis_client.zrange("leaderboard:limits:slots:streams:c", 0, -1)) == ["kept", "third"]
