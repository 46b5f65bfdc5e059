"""A three-node JetStream cluster losing a node under two consumers while events stream in
(SPEC section 16): the stream leader killed and brought back, the consumer leader killed, a node
hung (SIGSTOP) longer than an election. Each test shows that its fault happened — the leader
did change — and ends with the boards, the log and the dead letters exactly what the oracle
says of every message published, and both consumers still running."""

from __future__ import annotations

import time

import pytest

from deploy.cluster import wait_until
from tests.builders import generate
from tests.cluster.conftest import Streamer, cluster_env
from tests.fixtures import assert_messages_exact, wait_for, wait_until_drained

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

EVENTS, RATE = 1500, 120.0  # about 12 s of events, a fault in their middle


def _streaming(topology, nats_names, on_cluster, spawn_consumer, seed: int):
    """Two consumers on the cluster, and the streamer a third of the way through its events."""
    consumers = [spawn_consumer(**on_cluster) for _ in range(2)]
    messages = generate(EVENTS, seed=seed)
    streamer = Streamer(topology.nats_url, messages, RATE)
    streamer.start()
    wait_for(lambda: streamer.sent >= EVENTS // 3, timeout=60, message="a third of the events published")
    wait_until(lambda: topology.leaders(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"])[1], 30, "leaders")
    return consumers, messages, streamer


def _ends_exact(topology, nats_names, on_cluster, consumers, messages, streamer) -> None:
    streamer.finish()
    wait_until_drained(nats_names, timeout=120, processes=consumers)
    with topology.primary().client(decode_responses=True) as client:
        assert_messages_exact(client, messages, verify_env=cluster_env(nats_names, on_cluster))
    for consumer in consumers:
        assert consumer.proc.poll() is None, consumer.output()[-3000:]


def _new_leader(topology, nats_names, old: str, which: int, skip: str = "") -> str:
    """Wait until the stream's (`which` 0) or the durable's (1) leader is another node than `old`."""

    def elected():
        leader = topology.leaders(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"], skip=skip)[which]
        return leader if leader not in (None, old) else None

    return wait_until(elected, 60, f"a leader other than {old}", interval=0.2)  # errors while electing: asked again


def test_stream_leader_killed_then_back(topology, nats_names, on_cluster, spawn_consumer):
    consumers, messages, streamer = _streaming(topology, nats_names, on_cluster, spawn_consumer, seed=2001)
    leader = topology.leaders(nats_names["NATS_STREAM"])[0]
    node = topology.node(leader)
    node.kill()
    assert _new_leader(topology, nats_names, leader, 0) != leader
    time.sleep(2)  # events go on through the new leader for a while
    node.start()
    wait_until(lambda: topology.jetstream_ready(node.url), 60, f"{leader} back", interval=0.3)
    _ends_exact(topology, nats_names, on_cluster, consumers, messages, streamer)


def test_consumer_leader_killed(topology, nats_names, on_cluster, spawn_consumer):
    consumers, messages, streamer = _streaming(topology, nats_names, on_cluster, spawn_consumer, seed=2002)
    leader = topology.leaders(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"])[1]
    node = topology.node(leader)
    node.kill()
    assert _new_leader(topology, nats_names, leader, 1) != leader
    _ends_exact(topology, nats_names, on_cluster, consumers, messages, streamer)
    node.start()  # the module's next test has all three again
    wait_until(lambda: topology.jetstream_ready(node.url), 60, f"{leader} back", interval=0.3)


def test_node_hung_longer_than_an_election(topology, nats_names, on_cluster, spawn_consumer):
    consumers, messages, streamer = _streaming(topology, nats_names, on_cluster, spawn_consumer, seed=2003)
    leader = topology.leaders(nats_names["NATS_STREAM"])[0]
    node = topology.node(leader)
    node.hang()  # its connections stay open; nothing answers on them
    try:
        assert _new_leader(topology, nats_names, leader, 0, skip=leader) != leader
        time.sleep(3)  # hung well past the election
    finally:
        node.resume()
    _ends_exact(topology, nats_names, on_cluster, consumers, messages, streamer)
