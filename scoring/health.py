"""Checks of the three dependencies, for the health-check endpoint.

The answer is public, so a failing check says only "error: unavailable"; which host,
port or user failed and the exception's text go to the log.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from django.conf import settings
from django.db import connection

from scoring import redis_boards

logger = logging.getLogger("leaderboard.health")


def _postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis_boards.connection().ping()


def _nats() -> None:
    async def probe() -> None:
        nc = await nats.connect(settings.NATS_URL, connect_timeout=1, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(probe(), timeout=2))


CHECKS = {"postgres": _postgres, "redis": _redis, "nats": _nats}


def health_check() -> tuple[bool, dict[str, str]]:
    """Run every check; returns (all ok, {name: "ok" or what is wrong})."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure is the answer, not an error of ours
            logger.warning("health check: %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = "error: unavailable"
            if name == "postgres":
                connection.close()
    return all(value == "ok" for value in results.values()), results
