"""The cluster tests' topology (deploy/cluster.py, the one bin/cluster starts): one per module,
on loopback ports free at its start and files under the module's temporary directory; a
publisher that keeps streaming events through the faults; the stream and durable as ensured."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest
from django.conf import settings

from deploy.cluster import Topology
from scoring.jetstream import JetStreamPublisher, PublishFailed, consumer_ensure, stream_ensure
from tests.fixtures import consumer_env, nats_client


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Iterator[Topology]:
    """Three nats-servers in a JetStream cluster, a Redis primary, a replica and three sentinels."""
    cluster = Topology(tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def on_cluster(topology, nats_names, settings) -> dict[str, str]:
    """The settings of a process on the cluster (NATS and Redis as bin/cluster prints them, database
    0 of the primary, emptied: the topology is the module's), for `spawn_consumer(**on_cluster)`;
    this test's own process publishes to the cluster too (its stream at R3)."""
    settings.NATS_URL = topology.nats_url
    settings.NATS_STREAM_REPLICAS = 3
    with topology.primary().client() as client:
        client.flushdb()
    return {**topology.settings(), "REDIS_URL": "redis://127.0.0.1:6379/0"}


def cluster_env(nats_names: dict[str, str], on_cluster: dict[str, str]) -> dict[str, str]:
    """The whole environment of a process on the cluster (a verify_leaderboards, say)."""
    return consumer_env(nats_names, **on_cluster)


def message_id(index: int, data: bytes) -> str:
    """The Nats-Msg-Id a test publisher gives its `index`th message: a publish tried again is
    dropped by JetStream, two equal messages (an invalid one repeated) are both kept."""
    return f"{index}-{hashlib.sha256(data).hexdigest()[:16]}"


class Streamer(threading.Thread):
    """Publishes `messages` one after the other at about `rate` per second, each with its
    Nats-Msg-Id, trying a publish that failed again (the same id: JetStream keeps one copy)
    until it is acknowledged, so that the events keep coming through every fault."""

    def __init__(self, url: str, messages: list[bytes], rate: float) -> None:
        super().__init__(daemon=True, name="streamer")
        self.publisher = JetStreamPublisher("cluster-test", url=url)
        self.messages, self.rate = messages, rate
        self.sent = 0
        self.failures = 0  # publishes tried again
        self.error: BaseException | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            for index, data in enumerate(self.messages):
                ahead = index / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
                while True:
                    try:
                        self.publisher.publish(data, msg_id=message_id(index, data), timeout=3)
                        break
                    except PublishFailed:
                        self.failures += 1
                self.sent += 1
        except BaseException as exc:
            self.error = exc
        finally:
            self.publisher.close()

    def finish(self, timeout: float = 120) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"the streamer still publishing after {timeout}s ({self.sent} sent)"
        if self.error is not None:
            raise self.error
        assert self.sent == len(self.messages)


async def ensured(url: str | None = None) -> tuple[int, int, int]:
    """Ensure the stream and the durable; (the stream's replicas setting, the copies each has)."""
    nc = await nats_client(url)
    try:
        js = nc.jetstream()
        await stream_ensure(js)
        await consumer_ensure(js)
        stream = await js.stream_info(settings.NATS_STREAM)
        durable = await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)
        copies = [1 + len(info.cluster.replicas or []) if info.cluster else 1 for info in (stream, durable)]
        return stream.config.num_replicas, *copies
    finally:
        await nc.close()
