"""Dependencies that lie or go away (issue 8): NATS down at start, a stream or durable deleted
under a running consumer, a Redis that may evict, a Redis without CONFIG, a Redis back from an
old dump, a restore out of memory.

These tests start private redis-server (on a unix socket) and nats-server (on a port it
chooses itself) processes of their own (the machine's shared servers are never touched).
Restarts under a running consumer are in test_outages.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.builders import generate, publish
from tests.clock import manage
from tests.fixtures import ROOT, PrivateNats, PrivateRedis, consumer_env, nats_client, wait_for, wait_until_drained
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def redis_server(tmp_path: Path, *options: str) -> PrivateRedis:
    """A private redis-server (not started) on a unix socket in `tmp_path`, its dump file there
    too (written only by an explicit SAVE, read at each start): a restart keeps the address."""
    return PrivateRedis(tmp_path, *options)


@pytest.fixture
def nats_on_port(tmp_path: Path):
    server = PrivateNats(tmp_path)  # the server chooses its port; a restart asks for it again
    server.start()
    yield server
    server.stop()


def verify(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        manage("verify_leaderboards"),  # at the test's clock, as the consumer runs
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


def test_consumer_started_while_nats_is_down_comes_up_when_it_starts(
    nats_on_port, nats_names, spawn_consumer, redis_client, settings
):
    settings.NATS_URL = f"nats://127.0.0.1:{nats_on_port.port}"
    extra = {"NATS_URL": settings.NATS_URL, "CONSUMER_BATCH_SIZE": "100"}
    nats_on_port.kill()
    consumer = spawn_consumer(**extra)
    wait_for(lambda: "cannot connect" in consumer.output(), timeout=30, message="a failed connect to be logged")
    assert consumer.proc.poll() is None
    nats_on_port.start()
    messages = generate(600, seed=25)
    publish(messages)
    wait_until_drained(nats_names, timeout=90, processes=[consumer])
    assert_exact_and_running(redis_client, messages, consumer_env(nats_names, **extra), consumer)


async def _delete(stream: str, durable: str | None = None) -> None:
    nc = await nats_client()
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
    nc = await nats_client()
    try:
        await nc.jetstream().consumer_info(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"])
        return True
    except Exception:
        return False
    finally:
        await nc.close()


def run_command(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(manage(*argv), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_the_consumer_refuses_a_redis_that_may_evict(policy, tmp_path, nats_names, spawn_consumer):
    server = redis_server(tmp_path, "--maxmemory-policy", policy)
    server.start()
    try:
        consumer = spawn_consumer(REDIS_URL=server.url)
        assert consumer.wait(60) != 0
        assert f"Redis's maxmemory-policy is {policy}" in consumer.output()
        assert "Set maxmemory-policy noeviction" in consumer.output()
    finally:
        server.stop()


def test_a_redis_without_config_is_used_with_a_warning(tmp_path, nats_names, spawn_consumer):
    server = redis_server(tmp_path, "--rename-command", "CONFIG", "")
    server.start()
    try:
        consumer = spawn_consumer(REDIS_URL=server.url)
        messages = generate(300, seed=31)
        publish(messages)
        wait_until_drained(nats_names, processes=[consumer])
        client = server.client(decode_responses=True)
        assert redis_boards_state(client) == expected_boards(valid_events(messages))
        assert "cannot read Redis's maxmemory-policy (CONFIG is disabled or renamed)" in consumer.output()
    finally:
        server.stop()


@pytest.mark.parametrize("rebuilt_since_the_dump", [False, True])
def test_redis_back_from_an_old_dump_is_restored(rebuilt_since_the_dump, tmp_path, nats_names, spawn_consumer):
    """Redis restarted from a dump older than the log: with the token of the last swap (the
    dump was taken after it) or of an older one (a rebuild since). Either way the consumer
    notices — at start of its idle checks — and restores: the boards say what the log says."""
    server = redis_server(tmp_path)
    server.start()
    extra = {"REDIS_URL": server.url, "CONSUMER_BATCH_SIZE": "100"}
    client = server.client(decode_responses=True)
    try:
        before, after = generate(600, seed=32), generate(600, seed=33)
        consumer = spawn_consumer(**extra)
        publish(before)
        wait_until_drained(nats_names, processes=[consumer])
        client.save()  # the dump: boards of `before` only
        if rebuilt_since_the_dump:
            result = run_command(consumer_env(nats_names, **extra), "rebuild_leaderboards")
            assert result.returncode == 0, result.stderr
        publish(after)
        wait_until_drained(nats_names, processes=[consumer])
        server.kill()
        server.start()  # loads the dump
        assert redis_boards_state(client) == expected_boards(valid_events(before))  # stale, as dumped
        reason = "the last swap was" if rebuilt_since_the_dump else "Redis restarted since the last swap"
        wait_for(lambda: reason in consumer.output(), timeout=30, message="the consumer to notice")
        wait_for(
            lambda: redis_boards_state(client) == expected_boards(valid_events(before + after)),
            timeout=30,
            message="the boards to be restored",
        )
        assert_exact_and_running(client, before + after, consumer_env(nats_names, **extra), consumer)
    finally:
        server.stop()


@pytest.mark.parametrize("command", ["rebuild_leaderboards", "restore_leaderboards"])
def test_a_restore_out_of_memory_leaves_intact_boards_intact(command, tmp_path, nats_names, ready_boards):
    """Redis at its maxmemory: building the boards aside fails with OOM. The live boards keep
    their sentinel (same token) and their scores, nothing built aside is left, and the
    boards still verify; with room again, the command succeeds."""
    from scoring import ingest
    from tests.builders import contributions

    events = contributions(3000, seed=34)
    for start in range(0, len(events), 500):
        ingest.events_record(scored=ingest.contributions_score(events[start : start + 500]))
    server = redis_server(tmp_path)
    server.start()
    env = consumer_env(nats_names, REDIS_URL=server.url)
    client = server.client(decode_responses=True)
    try:
        assert run_command(env, "rebuild_leaderboards").returncode == 0
        token, boards = client.get("leaderboard:meta:ready"), redis_boards_state(client)
        assert boards == expected_boards(events)
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 64 * 1024)

        failed = run_command(env, command)
        assert failed.returncode != 0
        assert "OutOfMemoryError" in failed.stderr or "OOM" in failed.stderr, failed.stderr[-2000:]
        assert client.get("leaderboard:meta:ready") == token
        assert redis_boards_state(client) == boards
        assert list(client.scan_iter(match="leaderboard:meta:build:*")) == []
        assert run_command(env, "verify_leaderboards").returncode == 0

        client.config_set("maxmemory", 0)
        assert run_command(env, command).returncode == 0
        assert client.get("leaderboard:meta:ready") != token
        assert redis_boards_state(client) == boards
    finally:
        server.stop()
