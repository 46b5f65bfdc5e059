"""Fixtures against the real servers, isolated per test run.

Each run (each xdist worker) gets its own Postgres test database, its own Redis database
(claimed among 1..15 with a SET NX key, so two runs never share one) and, per test, its own
JetStream stream, subject and durable. Nothing here mocks Postgres, Redis or NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import redis as redis_lib
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CLAIM_KEY = "leaderboard-test:claim"


CLAIM_SECONDS = 30 * 60  # a run lasts minutes; renewed by every test that empties the db
CLAIM = f"{RUN_ID}:{os.getpid()}"


def _claim_is_stale(value: bytes | None) -> bool:
    """A claim whose process is gone on this machine (a run that was killed) may be taken."""
    _, _, pid = (value or b"").decode(errors="replace").rpartition(":")
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claim_redis_db() -> int:
    for db in range(1, 16):
        client = redis_lib.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        try:
            if client.set(CLAIM_KEY, CLAIM, nx=True, ex=CLAIM_SECONDS):
                return db
            held = client.get(CLAIM_KEY)
            if _claim_is_stale(held) and client.set(CLAIM_KEY, CLAIM, xx=True, ex=CLAIM_SECONDS, get=True) == held:
                return db
        finally:
            client.close()
    raise RuntimeError("no free Redis database among 1..15 for this test run")


REDIS_DB = _claim_redis_db()
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
settings.REDIS_URL = REDIS_URL
settings.CACHES["default"]["LOCATION"] = REDIS_URL
settings.API_MICROCACHE_SECONDS = 0  # tests read what they just wrote; test_microcache turns it on


def pytest_unconfigure(config):
    client = redis_lib.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    if client.get(CLAIM_KEY) == CLAIM.encode():
        client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    name = f"test_leaderboard_{RUN_ID}"
    from django.db import connections

    for target in (settings.DATABASES["default"], connections["default"].settings_dict):
        target.setdefault("TEST", {})["NAME"] = name


def _flush_boards() -> None:
    client = redis_lib.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    client.set(CLAIM_KEY, CLAIM, ex=CLAIM_SECONDS)
    client.close()


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """This run's Redis database, emptied before the test (the claim key aside)."""
    _flush_boards()
    client = redis_lib.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def ready_boards(redis_client, transactional_db) -> redis_lib.Redis:
    """Empty, ready boards: what a restore of an empty log leaves."""
    from snapshots.services import boards_restore

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
    asyncio.run(_delete_stream(names["NATS_STREAM"]))


async def _delete_stream(name: str) -> None:
    with contextlib.suppress(Exception):
        nc = await nats.connect(settings.NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()


def consumer_env(nats_names: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment for a consumer subprocess that talks to this test's servers."""
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "CONSUMER_", "DATABASE_", "REDIS_"))}
    env.update(nats_names)
    env.update(
        {
            "DATABASE_URL": "postgres://{}@{}:{}/{}".format(
                db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]
            ),
            "REDIS_URL": REDIS_URL,
            "DJANGO_SECRET_KEY": "test",
            "CONSUMER_ACK_WAIT": "3",
            "CONSUMER_FETCH_TIMEOUT": "0.2",
            "CONSUMER_SWEEP_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class ConsumerProcess:
    """`manage.py consume_contributions` as a real process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = open(log, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "consume_contributions"],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.handle.close()

    def kill(self) -> None:
        self.proc.kill()
        self.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


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


async def _consumer_state(stream: str, durable: str) -> tuple[int, int]:
    nc = await nats.connect(settings.NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def wait_until_drained(nats_names: dict[str, str], timeout: float = 60, processes=()) -> None:
    """Block until the durable has nothing pending and nothing unacked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            pending, unacked = asyncio.run(_consumer_state(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"]))
            if pending == 0 and unacked == 0:
                return
        for process in processes:
            if process.proc.poll() is not None:
                raise AssertionError(f"consumer exited with {process.proc.returncode}:\n{process.output()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the durable did not drain within {timeout}s")


def wait_for(condition, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
