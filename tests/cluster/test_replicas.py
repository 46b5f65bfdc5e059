"""NATS_STREAM_REPLICAS: an existing stream with fewer copies is reported, never used in silence
(made with that many copies on the cluster: tests/cluster/test_nats_faults.py)."""

from __future__ import annotations

import asyncio
import logging

from nats.js.api import StreamConfig

from tests.cluster.conftest import ensured
from tests.fixtures import nats_client


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
        assert asyncio.run(ensured()) == (1, 1, 1)  # used as it is, its durable too ...
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0].startswith(f"stream {settings.NATS_STREAM} has 1 replica(s) but NATS_STREAM_REPLICAS is 3")
