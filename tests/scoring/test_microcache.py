"""The board-read micro-cache: a page asked again within its time-to-live is served from
memory; after it, from Redis again. Other endpoints and errors are never kept."""

import time

import pytest


@pytest.fixture
def cached(settings, redis_client, client, db):
    settings.API_MICROCACHE_SECONDS = 0.3
    redis_client.set("leaderboard:meta:ready", "x")
    redis_client.zadd("leaderboard:global:all_time:all", {"1": 10})
    return client


def scores(response):
    return [(row["user_id"], row["score"]) for row in response.json()["results"]]


def test_a_repeated_page_is_served_from_memory_until_it_expires(cached, redis_client):
    url = "/v1/leaderboard/public?timeframe=all_time"
    first = cached.get(url)
    assert scores(first) == [("1", 10)]
    redis_client.zadd("leaderboard:global:all_time:all", {"1": 25})
    again = cached.get(url)
    assert again.status_code == 200 and scores(again) == [("1", 10)]  # within the TTL
    assert again["Cache-Control"] == first["Cache-Control"]
    assert again["Content-Type"] == "application/json"
    assert scores(cached.get(url + "&limit=5")) == [("1", 25)]  # another page is another entry
    time.sleep(0.35)
    assert scores(cached.get(url)) == [("1", 25)]


def test_errors_are_not_kept(cached, redis_client):
    assert cached.get("/v1/leaderboard/public?limit=0").status_code == 400
    assert cached.get("/v1/leaderboard/users/1").status_code == 200
    assert cached.get("/v1/leaderboard/users/2").status_code == 404
    redis_client.zadd("leaderboard:global:all_time:all", {"2": 5})
    assert cached.get("/v1/leaderboard/users/2").status_code == 200
