"""The Redis clients, and the Lua scripts registered on them.

Every process's synchronous client is django-redis's pool for the default cache, as
`leaderboard_project.config.redis_caches` sets it up from REDIS_URL or REDIS_SENTINELS; the
asyncio client (the live pages' subscription) is built here from the same settings.
"""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.sentinel
from django.conf import settings
from django_redis import get_redis_connection
from redis.commands.core import Script
from redis.connection import parse_url


def connection() -> redis.Redis:
    """The Redis client (django-redis's pool for the default cache)."""
    return get_redis_connection("default")


def async_connection() -> redis.asyncio.Redis:
    """An asyncio client of the same server and database as `connection` (through Sentinel when
    REDIS_SENTINELS is set), for a subscription on an event loop."""
    if not settings.REDIS_SENTINELS:
        return redis.asyncio.Redis.from_url(settings.REDIS_URL, health_check_interval=30)
    url = parse_url(settings.REDIS_URL)
    sentinel = redis.asyncio.sentinel.Sentinel(
        settings.REDIS_SENTINELS, sentinel_kwargs={"socket_connect_timeout": 2, "socket_timeout": 2}
    )
    options = {key: url[key] for key in ("db", "username", "password") if url.get(key) is not None}
    return sentinel.master_for(
        settings.REDIS_SENTINEL_MASTER, socket_connect_timeout=2, health_check_interval=30, **options
    )


_scripts: dict[str, Script] = {}


def script(source: str) -> Script:
    """The Lua script `source`, registered once per process: called, it sends EVALSHA (and
    loads the script when the server does not know it, as after a restart)."""
    found = _scripts.get(source)
    if found is None:
        found = _scripts[source] = connection().register_script(source)
    return found


def text(raw: bytes | str | None) -> str | None:
    """A reply of Redis as a str (the client may be set to decode replies, or not)."""
    return raw.decode() if isinstance(raw, bytes) else raw
