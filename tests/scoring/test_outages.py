"""Redis and NATS restarted under a running consumer.

These tests start private redis-server and nats-server processes on free ports (the
machine's shared servers are never restarted), point one consumer at them, kill the server
mid-stream and start it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats as nats_lib
import pytest
import redis as redis_lib
from django.conf import settings as django_settings

from tests.builders import generate, publish
from tests.fixtures import ROOT, consumer_env, wait_for, wait_until_drained
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class Server:
    """A private server process that can be killed and started again on the same port."""

    def __init__(self, argv: list[str], port: int) -> None:
        self.argv, self.port, self.proc = argv, port, None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(self.port), timeout=10, message=f"{self.argv[0]} on {self.port}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def private_redis(tmp_path: Path):
    port = free_port()
    server = Server(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        port,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_nats(tmp_path: Path):
    port = free_port()
    store = tmp_path / "jetstream"
    server = Server(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)], port)
    server.start()
    yield server
    server.stop()


def verify(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "verify_leaderboards"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_exact_and_running(client, messages: list[bytes], env: dict[str, str], consumer) -> None:
    """The boards equal what the messages say, verify agrees, and the consumer lived through it."""
    assert redis_boards_state(client) == expected_boards(valid_events(messages))
    result = verify(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert consumer.proc.poll() is None


def test_redis_restarted_empty_under_the_consumer(private_redis, nats_names, spawn_consumer, redis_client):
    extra = {"REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0", "CONSUMER_BATCH_SIZE": "100"}
    client = redis_lib.Redis(port=private_redis.port, decode_responses=True)
    before, after = generate(800, seed=21), generate(800, seed=22)
    consumer = spawn_consumer(**extra)
    publish(before)
    wait_until_drained(nats_names)
    assert redis_boards_state(client) == expected_boards(valid_events(before))

    private_redis.kill()  # everything in Redis is gone ...
    publish(after)  # ... while events keep coming
    time.sleep(1.0)
    private_redis.start()
    wait_until_drained(nats_names, timeout=90)
    assert_exact_and_running(client, before + after, consumer_env(nats_names, **extra), consumer)
    assert "boards are not ready: restoring before applying" in consumer.output()


def test_nats_restarted_under_the_consumer(private_nats, nats_names, spawn_consumer, redis_client, settings):
    settings.NATS_URL = f"nats://127.0.0.1:{private_nats.port}"
    extra = {"NATS_URL": settings.NATS_URL, "CONSUMER_BATCH_SIZE": "100"}
    before, after = generate(800, seed=23), generate(800, seed=24)
    consumer = spawn_consumer(**extra)
    publish(before)
    wait_until_drained(nats_names)
    private_nats.kill()
    time.sleep(1.0)
    private_nats.start()  # same store: the stream and the durable survive
    wait_for(lambda: "nats reconnected" in consumer.output(), timeout=30, message="the consumer to reconnect")
    publish(after)
    wait_until_drained(nats_names, timeout=90)
    assert_exact_and_running(redis_client, before + after, consumer_env(nats_names, **extra), consumer)


def test_consumer_started_while_nats_is_down_comes_up_when_it_starts(
    private_nats, nats_names, spawn_consumer, redis_client, settings
):
    settings.NATS_URL = f"nats://127.0.0.1:{private_nats.port}"
    extra = {"NATS_URL": settings.NATS_URL, "CONSUMER_BATCH_SIZE": "100"}
    private_nats.kill()
    consumer = spawn_consumer(**extra)
    wait_for(lambda: "cannot connect" in consumer.output(), timeout=30, message="a failed connect to be logged")
    assert consumer.proc.poll() is None
    private_nats.start()
    messages = generate(600, seed=25)
    publish(messages)
    wait_until_drained(nats_names, timeout=90, processes=[consumer])
    assert_exact_and_running(redis_client, messages, consumer_env(nats_names, **extra), consumer)


async def _delete(stream: str, durable: str | None = None) -> None:
    nc = await nats_lib.connect(django_settings.NATS_URL)
    try:
        if durable is None:
            await nc.jetstream().delete_stream(stream)
        else:
            await nc.jetstream().delete_consumer(stream, durable)
    finally:
        await nc.close()


@pytest.mark.parametrize("what", ["stream", "durable"])
def test_stream_or_durable_deleted_under_the_consumer_is_recreated(what, nats_names, spawn_consumer, redis_client):
    before, after = generate(500, seed=26), generate(500, seed=27)
    consumer = spawn_consumer(CONSUMER_BATCH_SIZE="100")
    publish(before)
    wait_until_drained(nats_names, processes=[consumer])
    durable = nats_names["NATS_DURABLE"] if what == "durable" else None
    asyncio.run(_delete(nats_names["NATS_STREAM"], durable))
    wait_for(lambda: "creating them again" in consumer.output(), timeout=30, message="the consumer to notice")
    wait_for(lambda: asyncio.run(_durable_exists(nats_names)), timeout=30, message="the durable to be recreated")
    publish(after)
    try:
        wait_until_drained(nats_names, timeout=90, processes=[consumer])
    except AssertionError:
        print(consumer.output()[-5000:])
        raise
    assert_exact_and_running(redis_client, before + after, consumer_env(nats_names), consumer)
    # Bounded: one warning per attempt, not one per fetch of a busy loop.
    assert consumer.output().count("creating them again") < 10


async def _durable_exists(nats_names: dict[str, str]) -> bool:
    nc = await nats_lib.connect(django_settings.NATS_URL)
    try:
        await nc.jetstream().consumer_info(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"])
        return True
    except Exception:
        return False
    finally:
        await nc.close()
