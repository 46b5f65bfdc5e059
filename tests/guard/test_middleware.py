"""What a request may carry, and how many a client may make (guard/middleware.py), through
Django's whole stack against the real Redis."""

from __future__ import annotations

import json


def error(response) -> tuple[int, str]:
    return response.status_code, json.loads(response.content)["error"]["code"]


def test_query_strings_past_their_bounds_are_refused(client, ready_boards):
    url = "/v1/leaderboard/public"
    assert error(client.get(url + "?" + "x" * 2049)) == (400, "query_too_long")
    assert error(client.get(url + "?" + "&".join(f"p{i}=1" for i in range(33)))) == (400, "too_many_parameters")
    assert error(client.get("/?" + "&".join(f"p{i}=1" for i in range(33)))) == (400, "too_many_parameters")
    assert client.get(url + "?limit=1&" + "&".join(f"p{i}=1" for i in range(10))).status_code == 400  # unknown ones
    assert client.get("/v1/leaderboard/public?limit=1").status_code == 200


def test_the_request_rate_per_client_when_on(client, ready_boards, settings):
    settings.RATE_LIMIT_PER_SECOND = 0.01  # no refill within the test
    settings.RATE_LIMIT_BURST = 3
    url = "/v1/leaderboard/public?limit=1"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(url)
    assert error(refused) == (429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 100
    assert client.get("/", REMOTE_ADDR="127.0.0.2").status_code == 200  # another address: its own bucket
    assert client.get(url, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429  # no trusted proxy
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get(url, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    settings.RATE_LIMIT_PER_SECOND = 0  # off: the default
    assert client.get(url).status_code == 200


def test_every_answer_carries_the_policy(client, ready_boards):
    response = client.get("/v1/leaderboard/public")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
