"""GET /v1/health-check against the real dependencies, and with each one unreachable."""

import copy
import socket

import pytest


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


@pytest.mark.django_db
def test_all_dependencies_up(client, redis_client):
    response = client.get("/v1/health-check")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok", "nats": "ok"}}


@pytest.mark.django_db
def test_redis_down_is_a_503_that_says_so(client, settings):
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CACHES = caches
    response = client.get("/v1/health-check")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["postgres"] == "ok" and body["checks"]["nats"] == "ok"
    assert body["checks"]["redis"].startswith("error: ConnectionError")


@pytest.mark.django_db
def test_nats_down_is_a_503_that_says_so(client, settings, redis_client):
    settings.NATS_URL = f"nats://127.0.0.1:{closed_port()}"
    response = client.get("/v1/health-check")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["checks"]["postgres"], body["checks"]["redis"]) == ("error", "ok", "ok")
    assert body["checks"]["nats"].startswith("error: ")
