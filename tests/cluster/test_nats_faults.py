"""A three-node JetStream cluster losing a node under two consumers while events stream in
(SPEC section 16): the stream leader killed and brought back, the consumer leader killed, a node
hung (SIGSTOP) longer than an election, and the stream leader killed under webhook deliveries.
Each test shows that its fault happened — the leader did change — and ends with the boards, the
log and the dead letters exactly what the oracle says of every message published (or accepted),
and both consumers still running."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from deploy.cluster import wait_until
from scoring.models import ContributionEvent
from tests.builders import generate
from tests.cluster.conftest import Streamer, cluster_env, ensured
from tests.fixtures import assert_messages_exact, wait_for, wait_until_drained
from tests.github import examples
from tests.github.conftest import SECRET, post

CODERTOCAT = 21031067

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


def test_on_the_cluster_the_stream_and_the_durable_are_made_with_three_copies(topology, on_cluster, caplog):
    with caplog.at_level(logging.ERROR, logger="leaderboard.consumer"):
        assert asyncio.run(ensured(topology.nats_url)) == (3, 3, 3)  # a leader and two replicas each
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


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


def test_webhook_deliveries_through_a_stream_leader_loss_count_once(
    topology, nats_names, on_cluster, spawn_consumer, client, settings
):
    settings.GITHUB_WEBHOOK_SECRETS = [SECRET]
    settings.GITHUB_WEBHOOK_PUBLISH_TIMEOUT = 3.0
    consumers = [spawn_consumer(**on_cluster) for _ in range(2)]
    push = examples.example("push", nth=4)  # one commit by Codertocat: 1 point (SPEC section 2)
    accepted: list[str] = []
    refused = 0
    killed, started = None, time.monotonic()
    while time.monotonic() - started < 14:
        if killed is None and time.monotonic() - started > 3:
            killed = topology.leaders(nats_names["NATS_STREAM"])[0]
            topology.node(killed).kill()
        guid = str(uuid.uuid4())
        while (response := post(client, "push", push, delivery=guid)).status_code == 503:
            refused += 1  # no node acknowledged: GitHub shows it failed, and it is delivered again
        assert (response.status_code, response.json()) == (202, {"event_id": guid})
        accepted.append(guid)
    assert _new_leader(topology, nats_names, killed, 0) != killed
    topology.node(killed).start()
    wait_until(lambda: topology.jetstream_ready(topology.node(killed).url), 60, f"{killed} back", interval=0.3)

    wait_until_drained(nats_names, timeout=120, processes=consumers)
    assert sorted(ContributionEvent.objects.values_list("event_id", flat=True)) == sorted(accepted)
    with topology.primary().client(decode_responses=True) as redis_client:
        assert redis_client.zscore("leaderboard:global:all_time:all", str(CODERTOCAT)) == len(accepted)
    print(f"{len(accepted)} deliveries accepted, {refused} answered 503 and delivered again")
    for consumer in consumers:
        assert consumer.proc.poll() is None, consumer.output()[-3000:]
