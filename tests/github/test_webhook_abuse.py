"""Forged deliveries per source address (guard/limits.py): past the limit the address's
deliveries are still checked — a valid one still gets in — but a large one is refused unread,
and nothing forged is ever published."""

from __future__ import annotations

import json

from tests.github import examples
from tests.github.conftest import GUID, URL, post, published

PUSH = examples.example("pull_request", "opened")  # small: a few kilobytes


def test_forged_deliveries_past_the_limit(client, webhook, settings):
    settings.WEBHOOK_FAILURES_BURST = 3
    settings.WEBHOOK_FAILURES_PER_MINUTE = 0.01  # no refill within the test
    settings.WEBHOOK_THROTTLED_MAX_BYTES = len(json.dumps(PUSH)) + 100
    codes = [post(client, "pull_request", PUSH, delivery=f"forged-{i}", secret="guess").status_code for i in range(5)]
    assert codes == [401] * 5  # small forged ones are still checked, and refused
    large = dict(PUSH, padding="x" * 500)
    refused = post(client, "pull_request", large, delivery="forged-large", secret="guess")
    assert refused.status_code == 429
    assert json.loads(refused.content)["error"]["code"] == "too_many_failed_signatures"
    assert 1 <= int(refused["Retry-After"]) <= 6000
    # large: refused unread, even a valid one
    assert post(client, "pull_request", large, delivery="valid-large").status_code == 429
    assert post(client, "pull_request", PUSH).status_code == 202  # a valid small one from the same address
    other = client.post(
        URL,
        data=json.dumps(large).encode(),
        content_type="application/json",
        headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "x", "X-Hub-Signature-256": "sha256=00"},
        REMOTE_ADDR="127.0.0.9",
    )
    assert other.status_code == 401  # another address has its own count
    assert [msg_id for msg_id, _ in published()] == [GUID]


def test_json_nested_past_the_bound_is_a_400(client, webhook):
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    response = post(client, "pull_request", dict(PUSH, deep=deep))
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["message"] == "the payload nests deeper than 64 levels"
    assert published() == []
