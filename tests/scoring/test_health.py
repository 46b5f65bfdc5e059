"""GET /v1/health-check against the real dependencies, and with each one unreachable.

A failing check's answer is public: it names the dependency and says "unavailable", never the
host, port, user or exception text (the log keeps those).
"""

import copy
import socket

import pytest
from django.db import connection

SECRET_USER = "internal_db_user"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


def assert_no_internals(response, *secrets: str) -> None:
    text = response.content.decode()
    for secret in ("127.0.0.1", "localhost", "Error", "refused", "connect", *secrets):
        assert secret not in text, (secret, text)


@pytest.mark.django_db
def test_all_dependencies_up(client, redis_client):
    response = client.get("/v1/health-check")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok", "nats": "ok"}}
    assert response["Cache-Control"] == "no-store"


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
        "checks": {"postgres": "ok", "redis": "error: unavailable", "nats": "ok"},
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
        "checks": {"postgres": "ok", "redis": "ok", "nats": "error: unavailable"},
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
        "checks": {"postgres": "error: unavailable", "redis": "ok", "nats": "ok"},
    }
    assert_no_internals(response, str(port), SECRET_USER)
    assert "postgres failed: OperationalError" in caplog.text
