"""The health check's look at NATS: one connection, one JetStream request, closed again."""

from __future__ import annotations

import asyncio

from scoring.jetstream.connection import connect

PROBE_TIMEOUT = 2.0  # seconds the whole probe may take (a health check must answer quickly)


def jetstream_probe() -> None:
    """Connect once (no retry), ask JetStream for the account's info, close. Returns when
    NATS and JetStream answer; raises whatever failed (refused, timed out, no JetStream)."""

    async def probe() -> None:
        nc = await connect("health-check", connect_timeout=1, reconnect_wait=None)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(probe(), timeout=PROBE_TIMEOUT))
