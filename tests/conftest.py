"""Fixtures against the real servers, isolated per test run.

Each run (each xdist worker) gets its own Postgres test database, its own Redis database
(claimed among 1..15 by tests/settings.py, see tests/redis_claim.py, so two runs never share
one) and, per test, its own JetStream stream, subject and durable. Nothing here mocks
Postgres, Redis or NATS. Helpers the tests share are in tests/fixtures.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings

from scoring import clock as scoring_clock
from tests.clock import TestClock
from tests.fixtures import (
    ApiProcess,
    ConsumerProcess,
    PrivateNats,
    PrivateRedis,
    boards_flush,
    consumer_env,
    redis_connect,
    stream_delete,
)
from tests.redis_claim import CLAIM, CLAIM_KEY, RUN_ID


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> TestClock:
    """Every test runs at `tests.clock.START` (frozen) unless it moves the clock; see tests/clock.py."""
    test_clock = TestClock()
    monkeypatch.setattr(scoring_clock, "now", test_clock.now)
    return test_clock


@pytest.fixture(autouse=True)
def rules_forgotten():
    """Every test reads the active rules version afresh: the database it ran on the version of
    an earlier test may have been emptied since (and version 1 recorded from other settings)."""
    from scoring.rules import versions

    versions.rules_forget()
    yield
    versions.rules_forget()


@pytest.fixture(autouse=True)
def names_forgotten():
    """A test that keeps board names (NAMES_CACHE_SECONDS) starts with none kept: the same ids
    may have had other names in an earlier test's database."""
    from scoring.selectors.contributors import names_cache

    names_cache.clear()


def pytest_unconfigure(config):
    client = redis_connect()
    if client.get(CLAIM_KEY) == CLAIM.encode():
        client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    name = f"test_leaderboard_{RUN_ID}"
    from django.db import connections

    for target in (settings.DATABASES["default"], connections["default"].settings_dict):
        target.setdefault("TEST", {})["NAME"] = name


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """This run's Redis database, emptied before the test (the claim key aside)."""
    boards_flush()
    client = redis_connect(decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def live_boards(redis_client) -> redis_lib.Redis:
    """This run's Redis, emptied, with the ready sentinel set as a restore leaves it, and no
    database: a board read from Redis queries Postgres only for the page's names, so a test
    of a board page adds `db` for those."""
    from scoring.redis_boards import READY_KEY

    redis_client.set(READY_KEY, "test")
    return redis_client


@pytest.fixture
def ready_boards(redis_client, transactional_db) -> redis_lib.Redis:
    """Empty, ready boards: what a restore of an empty log leaves."""
    from scoring.maintenance.restore import boards_restore

    boards_restore(use_snapshot=False)
    return redis_client


@pytest.fixture
def nats_names(settings) -> Iterator[dict[str, str]]:
    """A stream, subject and durable of this test's own; the stream is deleted afterwards."""
    suffix = f"{RUN_ID}_{uuid.uuid4().hex[:6]}"
    names = {
        "NATS_STREAM": f"TEST_{suffix}",
        "NATS_SUBJECT": f"test.{suffix}.CONTRIBUTION_REGISTERED",
        "NATS_DURABLE": f"test-{suffix}",
    }
    for key, value in names.items():
        setattr(settings, key, value)
    yield names
    asyncio.run(stream_delete(names["NATS_STREAM"]))


@pytest.fixture
def spawn_consumer(nats_names, tmp_path):
    """Start consumer processes; every one still running is killed after the test."""
    started: list[ConsumerProcess] = []

    def spawn(**extra: str) -> ConsumerProcess:
        process = ConsumerProcess(consumer_env(nats_names, **extra), tmp_path / f"consumer-{len(started)}.log")
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.proc.poll() is None:
            process.kill()


@pytest.fixture
def spawn_api(nats_names, tmp_path):
    """Start gunicorn serving this test's database, Redis and stream; stopped after the test."""
    started: list[ApiProcess] = []

    def spawn(workers: int = 2, **extra: str) -> ApiProcess:
        directory = tmp_path / f"api-{len(started)}"
        directory.mkdir()
        api = ApiProcess(consumer_env(nats_names, **extra), directory, workers)
        started.append(api)
        api.wait_ready()
        return api

    yield spawn
    for api in started:
        api.stop()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own (on a unix socket), to stop, pause or empty."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_nats(tmp_path) -> Iterator[PrivateNats]:
    """A nats-server with JetStream of this test's own, to kill and start again."""
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()
