"""Redis behind Sentinel losing its primary (SPEC section 16): Sentinel promotes the replica,
which may lack the last applies; the service finds the new primary, sees another run id than
the one the boards were made exact on, closes the boards there (reads answer 503, no-store) and
makes them exact again from the log; the old primary comes back as a replica and is never
written to. Each test shows the primary did move, and ends with boards the oracle agrees with."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from deploy.cluster import wait_until
from scoring.redis_boards import READY_KEY
from scoring.redis_boards.client import async_connection
from snapshots.models import BoardsSwap
from tests.builders import generate
from tests.cluster.conftest import Streamer, cluster_env
from tests.fixtures import assert_messages_exact, process_stop, wait_for, wait_until_drained
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

FAILOVER_LINE = "the Redis primary is another server"
BOARD = "/v1/leaderboard/public?limit=1000"
GLOBAL_ALL_TIME = "leaderboard:global:all_time:all"


def _recorded_run_id() -> str | None:
    return BoardsSwap.objects.filter(id=1).values_list("redis_run_id", flat=True).first()


def _another_primary(topology, old) -> int:
    """Wait until the sentinels agree on a primary other than `old`; its port."""
    return wait_until(lambda: (port := topology.primary_port()) not in (None, old.port) and port, 60, "a failover")


def _failed_over(topology, old) -> int:
    """Kill the primary `old`; wait until the sentinels agree on another one; its port."""
    old.kill()
    return _another_primary(topology, old)


def _applies_under_way(topology, on_cluster, spawn_consumer, seed: int):
    """Two consumers applying 1,500 events streamed at 120/s, once 500 are sent and the boards
    are exact on the primary: the consumers, the messages, the streamer and the primary."""
    consumers = [spawn_consumer(**on_cluster) for _ in range(2)]
    messages = generate(1500, seed=seed)
    streamer = Streamer(topology.nats_url, messages, rate=120.0)
    streamer.start()
    old = topology.primary()
    old_run_id = old.run_id()
    wait_for(lambda: streamer.sent >= 500 and _recorded_run_id() == old_run_id, timeout=60, message="applies")
    return consumers, messages, streamer, old


def _ends_exact_on(topology, nats_names, on_cluster, consumers, messages, streamer, new_port: int) -> dict:
    """The stream drained, the boards exact on the primary at `new_port` (the run id recorded
    is its own), no consumer gone or failed; the boards' state."""
    streamer.finish()
    wait_until_drained(nats_names, timeout=120, processes=consumers)
    new = topology.primary()
    assert new.port == new_port
    wait_for(lambda: _recorded_run_id() == new.run_id(), timeout=60, message="the boards made exact on the new one")
    with new.client(decode_responses=True) as client:
        assert_messages_exact(client, messages, verify_env=cluster_env(nats_names, on_cluster))
        boards = redis_boards_state(client)
    for consumer in consumers:
        assert consumer.proc.poll() is None, consumer.output()[-3000:]
        assert "Traceback" not in consumer.output()
    return boards


def test_primary_killed_mid_applies_then_back_as_a_replica(topology, nats_names, on_cluster, spawn_consumer):
    consumers, messages, streamer, old = _applies_under_way(topology, on_cluster, spawn_consumer, seed=3001)

    new_port = _failed_over(topology, old)
    assert new_port != old.port  # the primary moved
    wait_for(lambda: any(FAILOVER_LINE in c.output() for c in consumers), timeout=60, message="the failover seen")
    old.start()  # empty (no persistence), as a primary of its own until Sentinel makes it a replica
    wait_until(lambda: old.role() == "slave", 60, "the old primary to come back as a replica")

    boards = _ends_exact_on(topology, nats_names, on_cluster, consumers, messages, streamer, new_port)
    with old.client(decode_responses=True) as replica:  # a copy of the new primary's, nothing of its own
        wait_until(lambda: redis_boards_state(replica) == boards, 30, "the replica in step")


def _read(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers.get("Cache-Control", "")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Cache-Control", "")


def test_board_reads_answer_503_from_the_failover_until_the_boards_are_restored(
    topology, nats_names, on_cluster, spawn_consumer, spawn_api
):
    messages = generate(600, seed=3002)
    expected = expected_boards(valid_events(messages))[GLOBAL_ALL_TIME]
    consumer = spawn_consumer(**on_cluster)
    streamer = Streamer(topology.nats_url, messages, rate=2000.0)
    streamer.start()
    streamer.finish()
    wait_until_drained(nats_names, timeout=60, processes=[consumer])
    api = spawn_api(**on_cluster)
    status, body, _ = _read(api.url + BOARD)
    assert status == 200
    assert {str(row["user_id"]): row["score"] for row in body["results"]} == expected
    process_stop(consumer.proc)  # nobody restores the boards until the end of the test

    old = topology.primary()
    new_port = _failed_over(topology, old)
    new = topology.primary()
    assert new.port == new_port != old.port
    with new.client(decode_responses=True) as client:
        assert redis_boards_state(client)[GLOBAL_ALL_TIME] == expected  # the replica had every apply ...
        time.sleep(0.2)  # (past the API's micro-cache)
        for _ in range(5):  # ... yet the API cannot know it: 503 until the boards are restored from the log
            status, body, cache_control = _read(api.url + BOARD)
            assert (status, cache_control) == (503, "no-store"), body
            time.sleep(0.1)
        assert client.get(READY_KEY) is None  # closed by the API's first connection to the new primary
    assert FAILOVER_LINE in api.stderr_path.read_text()

    restorer = spawn_consumer(**on_cluster)
    wait_for(lambda: _recorded_run_id() == new.run_id(), timeout=60, message="the boards restored on the new primary")
    status, body, _ = _read(api.url + BOARD)
    assert status == 200
    assert {str(row["user_id"]): row["score"] for row in body["results"]} == expected
    assert restorer.proc.poll() is None
    old.start()
    wait_until(lambda: old.role() == "slave", 60, "the old primary to come back as a replica")


def test_the_asyncio_client_of_the_live_pages_finds_the_primary_through_the_sentinels(topology, settings):
    settings.REDIS_SENTINELS = [("127.0.0.1", sentinel.port) for sentinel in topology.sentinels]
    settings.REDIS_URL = "redis://127.0.0.1:6379/3"

    async def primary_seen() -> tuple[tuple[str, int], int, int]:
        client = async_connection()
        try:
            await client.set("asyncio-probe", "1")
            address = await client.connection_pool.get_master_address()
            return address, client.connection_pool.connection_kwargs["db"], int(await client.get("asyncio-probe"))
        finally:
            await client.aclose()

    primary = topology.primary()
    assert asyncio.run(primary_seen()) == (("127.0.0.1", primary.port), 3, 1)
    with primary.client(db=3) as client:
        assert client.get("asyncio-probe") == b"1"


def test_primary_hung_past_a_failover_then_resumed(topology, nats_names, on_cluster, spawn_consumer):
    """A hung primary (SIGSTOP), not a dead one: the consumers' connections to it stay open and
    their applies wait on it while Sentinel promotes the replica; resumed, it takes what its
    sockets held until Sentinel demotes it. Whatever it took is dropped with its data: the boards
    on the new primary are made exact from the log."""
    consumers, messages, streamer, old = _applies_under_way(topology, on_cluster, spawn_consumer, seed=3003)

    old.hang()
    try:
        new_port = _another_primary(topology, old)
        time.sleep(2)  # hung past the promotion
    finally:
        old.resume()
    assert new_port != old.port  # the primary moved
    wait_until(lambda: old.role() == "slave", 60, "the old primary demoted once it answers again")

    _ends_exact_on(topology, nats_names, on_cluster, consumers, messages, streamer, new_port)
