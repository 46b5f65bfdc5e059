"""The changed-boards channel, `leaderboard:boards:changed:<db>`: after each apply, the keys
of the boards it changed (the live pages follow it); after results are recorded, `RESULTS_KEY`
(the page cache drops the pages that show results)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable

import redis
import redis.asyncio

from scoring.boards import Board
from scoring.redis_boards.client import async_connection, connection
from scoring.redis_boards.keys import KEY_PREFIX, changed_channel

logger = logging.getLogger("leaderboard.redis")

# Not a board: the name announced when period results are recorded (a page showing results
# marks itself with it, as a board page marks itself with its boards).
RESULTS_KEY = f"{KEY_PREFIX}:results"


def _changed_channel(client: redis.Redis | redis.asyncio.Redis) -> str:
    return changed_channel(client.connection_pool.connection_kwargs.get("db", 0))


def boards_announce(boards: Iterable[Board]) -> None:
    """Tell listeners (the SSE stream) that these boards changed: one PUBLISH per batch, the
    board keys separated by spaces. Fire and forget: nobody listening costs nothing, a failure
    is logged and never fails the apply, and a listener that misses one re-reads the board on
    the next (or when it resubscribes)."""
    keys = " ".join(sorted({board.key for board in boards}))
    if keys:
        _publish(keys)


def results_announce() -> None:
    """Tell listeners (the page cache) that period results were recorded, as `boards_announce`
    does for boards."""
    _publish(RESULTS_KEY)


def _publish(keys: str) -> None:
    client = connection()
    try:
        client.publish(_changed_channel(client), keys)
    except redis.RedisError as exc:  # the boards are right; only the live pages are late
        logger.warning("could not announce changed boards: %s", exc)


async def boards_changed(*, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[list[str]]:
    """The keys of the boards each announcement names, as they come (redis.asyncio, for the
    stream's event loop). `on_subscribed` runs once the subscription is in place."""
    client = async_connection()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(_changed_channel(client))
        if on_subscribed is not None:
            on_subscribed()
        async for message in pubsub.listen():
            if message["type"] == "message":
                yield message["data"].decode().split()
    finally:
        await pubsub.aclose()
        await client.aclose()
