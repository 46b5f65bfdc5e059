"""Checks of the three dependencies and of the consumer, for the health-check endpoint.

One round trip per dependency: `SELECT 1` to Postgres; to Redis one pipeline that reads the
consumers' heartbeat and the boards' ready sentinel (it is the Redis check too); to NATS a
JetStream account-info request. The answer is public, so a failing check says only
"error: unavailable"; which host, port or user failed and the exception's text go to the log.

The consumer check answers `degraded`, never `error`: the API reads the boards whatever the
consumer does, so a stopped or lagging consumer means stale boards, not a server to take out of
a load balancer's rotation. The endpoint therefore stays 200 when only the consumer is
degraded, and is 503 only when a dependency the API itself needs is unreachable.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from scoring import redis_boards
from scoring.jetstream import jetstream_probe
from scoring.redis_boards import Heartbeat

logger = logging.getLogger("leaderboard.health")


def _postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@dataclass(frozen=True, slots=True)
class ConsumerLimits:
    """Past these the consumer is `degraded`: silent for `max_age` seconds (its loop goes round
    at least once per fetch timeout), no batch for `max_age` while events wait, or more than
    `max_pending` events waiting in JetStream."""

    max_age: float
    max_pending: int


def consumer_check(
    heartbeat: Heartbeat | None, *, boards_ready: bool, now: float, limits: ConsumerLimits
) -> dict[str, Any]:
    """The consumer's part of the health-check, from its heartbeat (pure: no I/O)."""
    if heartbeat is None:
        return {
            "status": "degraded",
            "last_batch_age_seconds": None,
            "pending": None,
            "detail": "no consumer has reported (none running, or Redis was emptied)",
        }
    seen_age = max(now - heartbeat.seen_at, 0.0)
    batch_age = None if heartbeat.last_batch_at is None else round(max(now - heartbeat.last_batch_at, 0.0), 3)
    problems = []
    if seen_age > limits.max_age:
        problems.append(f"no consumer has reported for {seen_age:.0f}s")
    elif heartbeat.pending and (batch_age is None or batch_age > limits.max_age):
        problems.append(f"{heartbeat.pending} events wait and no batch was applied for {limits.max_age:.0f}s")
    if heartbeat.pending is not None and heartbeat.pending > limits.max_pending:
        problems.append(f"{heartbeat.pending} events wait in JetStream (more than {limits.max_pending})")
    if not boards_ready:
        problems.append("the boards are not ready (being restored)")
    body: dict[str, Any] = {
        "status": "degraded" if problems else "ok",
        "last_batch_age_seconds": batch_age,
        "pending": heartbeat.pending,
    }
    if problems:
        body["detail"] = "; ".join(problems)
    return body


def _error(name: str, exc: Exception) -> str:
    logger.warning("health check: %s failed: %s: %s", name, type(exc).__name__, exc)
    return "error: unavailable"


def health_check() -> tuple[str, dict[str, Any]]:
    """Run every check. Returns the overall status — "ok", "degraded" (only the consumer is) or
    "error" (a dependency is unreachable) — and {name: "ok" or what is wrong}."""
    checks: dict[str, Any] = {}
    try:
        _postgres()
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure is the answer, not an error of ours
        checks["postgres"] = _error("postgres", exc)
        connection.close()
    try:
        heartbeat, ready = redis_boards.consumer_status(settings.NATS_DURABLE)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = _error("redis", exc)
    try:
        jetstream_probe()
        checks["nats"] = "ok"
    except Exception as exc:
        checks["nats"] = _error("nats", exc)
    if checks["redis"] == "ok":
        limits = ConsumerLimits(settings.HEALTH_CONSUMER_MAX_AGE, settings.HEALTH_CONSUMER_MAX_PENDING)
        checks["consumer"] = consumer_check(heartbeat, boards_ready=ready, now=time.time(), limits=limits)
    else:
        checks["consumer"] = {"status": "unknown", "last_batch_age_seconds": None, "pending": None}
    if any(checks[name] != "ok" for name in ("postgres", "redis", "nats")):
        return "error", checks
    return ("ok" if checks["consumer"]["status"] == "ok" else "degraded"), checks
