"""The board-read micro-cache: a page asked again within its time-to-live is served from
memory; after it, from Redis again. Other endpoints and errors are never kept. The cache's
clock (`scoring.clock.monotonic`) is the test's: ages are set, not waited for."""

import pytest

from scoring import clock


@pytest.fixture
def cached(settings, redis_client, client, db):
    settings.API_MICROCACHE_SECONDS = 0.3
    redis_client.set("leaderboard:meta:ready", "x")
    redis_client.zadd("leaderboard:global:all_time:all", {"1": 10})
    return client


def scores(response):
    return [(row["user_id"], row["score"]) for row in response.json()["results"]]


def test_a_repeated_page_is_served_from_memory_until_it_expires(cached, redis_client, monkeypatch):
    seconds = [1000.0]
    monkeypatch.setattr(clock, "monotonic", lambda: seconds[0])
    url = "/v1/leaderboard/public?timeframe=all_time"
    first = cached.get(url)
    assert scores(first) == [("1", 10)]
    redis_client.zadd("leaderboard:global:all_time:all", {"1": 25})
    again = cached.get(url)
    assert again.status_code == 200 and scores(again) == [("1", 10)]  # within the TTL
    assert again["Cache-Control"] == first["Cache-Control"]
    assert again["Content-Type"] == "application/json"
    assert scores(cached.get(url + "&limit=5")) == [("1", 25)]  # another page is another entry
    seconds[0] += 0.299
    assert scores(cached.get(url)) == [("1", 10)]  # still within the 0.3 s
    seconds[0] += 0.001
    assert scores(cached.get(url)) == [("1", 25)]  # expired: read again


def test_errors_are_not_kept(cached, redis_client):
    assert cached.get("/v1/leaderboard/public?limit=0").status_code == 400
    assert cached.get("/v1/leaderboard/users/1").status_code == 200
    assert cached.get("/v1/leaderboard/users/2").status_code == 404
    redis_client.zadd("leaderboard:global:all_time:all", {"2": 5})
    assert cached.get("/v1/leaderboard/users/2").status_code == 200


def test_a_stale_answer_stands_in_for_a_render_under_way_for_a_second_at_most(cached, redis_client, monkeypatch):
    from api.cache import cache, key_of

    seconds = [1000.0]
    monkeypatch.setattr(clock, "monotonic", lambda: seconds[0])
    url = "/v1/leaderboard/public?timeframe=all_time&limit=7"  # a key no other test kept
    assert scores(cached.get(url)) == [("1", 10)]
    redis_client.zadd("leaderboard:global:all_time:all", {"1": 25})
    key = key_of("http", "testserver", url)
    cache.refreshing.add(key)  # another thread renders it again, on a Redis that stalls
    try:
        seconds[0] += 0.3 + 0.999
        assert scores(cached.get(url)) == [("1", 10)]  # the stale copy stands in
        seconds[0] += 0.001
        assert scores(cached.get(url)) == [("1", 25)]  # a second past its time: rendered here too
        assert key in cache.refreshing  # the mark is the other render's to take away
    finally:
        cache.refreshing.discard(key)
