"""NATS_STREAM_REPLICAS: the stream and the durable are made with that many copies, and an
existing stream with fewer is reported, never used in silence."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.conf import settings
from nats.js.api import StreamConfig

from scoring.jetstream import consumer_ensure, stream_ensure
from tests.fixtures import nats_client


async def _ensure(url: str | None = None):
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


def test_an_existing_stream_with_fewer_replicas_is_reported(nats_names, settings, caplog):
    async def make_r1():
        nc = await nats_client()
        try:
            await nc.jetstream().add_stream(StreamConfig(name=settings.NATS_STREAM, subjects=[settings.NATS_SUBJECT]))
        finally:
            await nc.close()

    asyncio.run(make_r1())  # one copy, as an operator made it (the shared server is a single node)
    settings.NATS_STREAM_REPLICAS = 3
    with caplog.at_level(logging.ERROR, logger="leaderboard.consumer"):
        assert asyncio.run(_ensure()) == (1, 1, 1)  # used as it is, its durable too ...
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0].startswith(f"stream {settings.NATS_STREAM} has 1 replica(s) but NATS_STREAM_REPLICAS is 3")


@pytest.mark.slow
@pytest.mark.cluster
def test_on_the_cluster_the_stream_and_the_durable_are_made_with_three_copies(topology, on_cluster, caplog):
    with caplog.at_level(logging.ERROR, logger="leaderboard.consumer"):
        assert asyncio.run(_ensure(topology.nats_url)) == (3, 3, 3)  # a leader and two replicas each
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
