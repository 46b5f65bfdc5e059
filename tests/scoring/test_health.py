"""GET /v1/health-check against the real dependencies, with each one unreachable, and the
consumer check (from the heartbeat consumers write to Redis).

A failing check's answer is public: it names the dependency and says "unavailable", never the
host, port, user or exception text (the log keeps those).
"""

import copy
import socket
import time

import pytest
from django.db import connection

from scoring import redis_boards
from scoring.health import ConsumerLimits, consumer_check
from scoring.redis_boards import Heartbeat

SECRET_USER = "internal_db_user"
LIMITS = ConsumerLimits(max_age=60, max_pending=1000)
NOW = 1_800_000_000.0
NO_CONSUMER = {
    "status": "degraded",
    "last_batch_age_seconds": None,
    "pending": None,
    "detail": "no consumer has reported (none running, or Redis was emptied)",
}
UNKNOWN = {"status": "unknown", "last_batch_age_seconds": None, "pending": None}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


def assert_no_internals(response, *secrets: str) -> None:
    text = response.content.decode()
    for secret in ("127.0.0.1", "localhost", "Error", "refused", "connect", *secrets):
        assert secret not in text, (secret, text)


@pytest.mark.django_db
def test_all_up_and_a_consumer_keeping_up_is_ok(client, ready_boards, settings):
    now = time.time()
    redis_boards.heartbeat_write(settings.NATS_DURABLE, Heartbeat(seen_at=now, last_batch_at=now - 2, pending=3))
    response = client.get("/v1/health-check")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    age = body["checks"]["consumer"].pop("last_batch_age_seconds")
    assert 2 <= age < 10
    assert body == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok", "nats": "ok", "consumer": {"status": "ok", "pending": 3}},
    }


@pytest.mark.django_db
def test_no_consumer_is_degraded_but_still_200(client, redis_client):
    # The boards are served whatever the consumer does: a load balancer must keep this server.
    response = client.get("/v1/health-check")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"postgres": "ok", "redis": "ok", "nats": "ok", "consumer": NO_CONSUMER},
    }


@pytest.mark.django_db
def test_the_thresholds_come_from_the_settings(client, ready_boards, settings):
    now = time.time()
    redis_boards.heartbeat_write(settings.NATS_DURABLE, Heartbeat(seen_at=now, last_batch_at=now, pending=51))
    settings.HEALTH_CONSUMER_MAX_PENDING = 50
    response = client.get("/v1/health-check")
    assert response.status_code == 200
    consumer = response.json()["checks"]["consumer"]
    assert (consumer["status"], consumer["detail"]) == ("degraded", "51 events wait in JetStream (more than 50)")


def test_consumer_check_ok_when_recent_and_idle():
    # idle: the last batch is old, but nothing waits
    heartbeat = Heartbeat(seen_at=NOW - 1, last_batch_at=NOW - 3600, pending=0)
    assert consumer_check(heartbeat, boards_ready=True, now=NOW, limits=LIMITS) == {
        "status": "ok",
        "last_batch_age_seconds": 3600.0,
        "pending": 0,
    }


@pytest.mark.parametrize(
    ("heartbeat", "ready", "detail"),
    [
        (Heartbeat(NOW - 61, NOW - 61, 0), True, "no consumer has reported for 61s"),
        (Heartbeat(NOW - 1, NOW - 61, 5), True, "5 events wait and no batch was applied for 60s"),
        (Heartbeat(NOW - 1, None, 5), True, "5 events wait and no batch was applied for 60s"),
        (Heartbeat(NOW, NOW, 1001), True, "1001 events wait in JetStream (more than 1000)"),
        (Heartbeat(NOW, NOW, 0), False, "the boards are not ready (being restored)"),
        (
            Heartbeat(NOW - 100, NOW - 100, 2000),
            True,
            "no consumer has reported for 100s; 2000 events wait in JetStream (more than 1000)",
        ),
    ],
)
def test_consumer_check_degraded_past_the_thresholds(heartbeat, ready, detail):
    result = consumer_check(heartbeat, boards_ready=ready, now=NOW, limits=LIMITS)
    assert result["status"] == "degraded"
    assert result["detail"] == detail
    assert result["pending"] == heartbeat.pending


def test_consumer_check_without_a_heartbeat():
    assert consumer_check(None, boards_ready=True, now=NOW, limits=LIMITS) == NO_CONSUMER


@pytest.mark.django_db
def test_redis_down_is_a_503_that_says_so_and_nothing_more(client, settings, caplog):
    port = closed_port()
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"redis://{SECRET_USER}:pw@127.0.0.1:{port}/0"
    settings.CACHES = caches
    response = client.get("/v1/health-check")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"postgres": "ok", "redis": "error: unavailable", "nats": "ok", "consumer": UNKNOWN},
    }
    assert_no_internals(response, str(port), SECRET_USER)
    assert "redis failed: ConnectionError" in caplog.text  # the detail is in the log


@pytest.mark.django_db
def test_nats_down_is_a_503_that_says_so_and_nothing_more(client, settings, redis_client, caplog):
    port = closed_port()
    settings.NATS_URL = f"nats://{SECRET_USER}:pw@127.0.0.1:{port}"
    response = client.get("/v1/health-check")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"postgres": "ok", "redis": "ok", "nats": "error: unavailable", "consumer": NO_CONSUMER},
    }
    assert_no_internals(response, str(port), SECRET_USER)
    assert "nats failed" in caplog.text


def test_postgres_down_is_a_503_that_says_so_and_nothing_more(client, transactional_db, redis_client, caplog):
    port = closed_port()
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({"PORT": str(port), "USER": SECRET_USER})
    try:
        response = client.get("/v1/health-check")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"postgres": "error: unavailable", "redis": "ok", "nats": "ok", "consumer": NO_CONSUMER},
    }
    assert_no_internals(response, str(port), SECRET_USER)
    assert "postgres failed: OperationalError" in caplog.text
