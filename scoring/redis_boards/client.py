"""The Redis client, and the Lua scripts registered on it."""

from __future__ import annotations

import redis
from django_redis import get_redis_connection
from redis.commands.core import Script


def connection() -> redis.Redis:
    """The Redis client (django-redis's pool for the default cache)."""
    return get_redis_connection("default")


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
