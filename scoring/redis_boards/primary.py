"""Redis behind Sentinel (SPEC section 16): the pool on the primary, and the failover check.

Replication is asynchronous: a replica that Sentinel promotes may lack the last applies, yet it
holds the ready sentinel it copied from the old primary, so its boards would pass for exact.
Every connection this process opens to a primary is therefore checked once, before its first
command: the server's run id (INFO server) against the run id of the server the boards were
last made exact on (kept in Postgres by the restore's swap, handed in by `primary_expected`).
Another server closes the boards there and then — the ready sentinel (and a restore's paused
one) deleted — so that board reads answer 503 and applies stop until the consumer has restored
them from the log, exactly as after Redis lost its data. A check costs one INFO per new
connection and nothing per command: an existing connection cannot move to another server
(a failover breaks it; a demoted primary answers READONLY, which redis-py turns into a
dropped connection, an outage to wait out).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from django.conf import settings
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection

from scoring.redis_boards.keys import PAUSED_KEY, READY_KEY

logger = logging.getLogger("leaderboard.redis")

_expected: Callable[[], str | None] = lambda: None  # noqa: E731 - replaced at start-up
_closed_for: set[tuple[str, str]] = set()  # (expected, found) run ids this process closed the boards for
_lock = threading.Lock()
_last_known: list[str | None] = [None]  # the expected run id last read, for when Postgres is away


def primary_expected(provider: Callable[[], str | None]) -> None:
    """Set where the run id of the server the boards were made exact on is read (Postgres),
    once at start-up; None from it: nothing recorded yet (no check)."""
    global _expected
    _expected = provider


def run_id_of(info: bytes | str) -> str | None:
    """The run id in the text of an `INFO server` reply."""
    text = info.decode() if isinstance(info, bytes) else info
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line.split(":", 1)[1].strip()
    return None


def _expected_run_id() -> str | None:
    try:
        found = _expected()
    except Exception as exc:  # Postgres away: the last one read (a new primary then still shows)
        logger.warning("the boards' Redis run id cannot be read (%s); using the last one read", exc)
        return _last_known[0]
    _last_known[0] = found
    return found


def primary_check(connection: redis.connection.AbstractConnection) -> bool:
    """Check the server `connection` has just reached: if the boards were made exact on another
    one, close them on this one (see the module's docstring). Returns whether it closed them."""
    connection.send_command("INFO", "server")
    run_id = run_id_of(connection.read_response())
    expected = _expected_run_id()
    if not run_id or not expected or run_id == expected:
        return False
    with _lock:
        # Once per failover and process: the restore's own connections, and others opened before
        # it records the new run id, would close the boards it has just swapped in.
        if (expected, run_id) in _closed_for:
            return False
        connection.send_command("DEL", READY_KEY, PAUSED_KEY)
        connection.read_response()
        _closed_for.add((expected, run_id))
    logger.warning(
        "the Redis primary is another server (run id %s; the boards were exact on %s): a failover, "
        "its boards may lack the last applies; board reads answer 503 until they are restored from the log",
        run_id,
        expected,
    )
    return True


class CheckedConnection(SentinelManagedConnection):
    """A connection to the primary Sentinel names, checked once when it connects."""

    def on_connect_check_health(self, check_health: bool = True) -> None:
        super().on_connect_check_health(check_health=check_health)
        try:
            primary_check(self)
        except redis.RedisError:
            raise
        except Exception as exc:  # whatever failed, no command may run unchecked
            raise redis.ConnectionError(f"the Redis primary check failed: {exc}") from exc


class PrimaryPool(SentinelConnectionPool):
    """django-redis's Sentinel pool on the primary of REDIS_SENTINEL_MASTER (the name as it is
    set: a URL's host name would be lower-cased), with checked connections."""

    def __init__(self, service_name: str, sentinel_manager, **kwargs) -> None:
        kwargs["connection_class"] = CheckedConnection
        kwargs["is_master"] = True
        super().__init__(settings.REDIS_SENTINEL_MASTER, sentinel_manager, **kwargs)
